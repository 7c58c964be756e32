"""The assessment (考核): scoring every unit, and the reports the office publishes."""
