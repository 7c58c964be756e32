"""Grading and routing a ticket: compile the rules for durable-rules, evaluate, explain."""
