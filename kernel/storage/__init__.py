"""Ledger storage: the contract and its built-in backends (memory, SQLite, JSON lines, PostgreSQL)."""
