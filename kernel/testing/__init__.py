"""Reusable test suites for integrators (storage backend contract, notifier helpers)."""
