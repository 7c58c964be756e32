"""The official working-day calendar: its yearly files and the built-in calendar source."""
