"""The append-only event ledger: event types, projection, ingest, history and the 台账 view."""
