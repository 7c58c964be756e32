"""Notices: the notifier contract, the outbox dispatcher and the built-in notifiers."""
