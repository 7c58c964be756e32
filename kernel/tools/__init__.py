"""Tools for policy staff and testers: lint, impact analysis, scenarios and coverage."""
