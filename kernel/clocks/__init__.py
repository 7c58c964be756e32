"""Deadline clocks on the working-day calendar, monthly duties and the deadline sweep."""
