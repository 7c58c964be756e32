"""Writing output: tables in four formats and a progress bar."""
