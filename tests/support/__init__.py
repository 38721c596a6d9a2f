"""Helpers shared by the test suites: the template as data, handler loading, events."""
