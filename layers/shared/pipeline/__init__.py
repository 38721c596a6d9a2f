"""Shared code of the order pipeline's functions: settings, observability, event and
record models, the stages' domain logic and their data access."""
