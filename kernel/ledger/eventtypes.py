"""The ledger's event types and their Chinese names (shared by the schemas and the ledger)."""

from __future__ import annotations

from kernel.vocabulary import EVENT_TYPE_WORDS

EVENT_TYPES: dict[str, str] = EVENT_TYPE_WORDS
