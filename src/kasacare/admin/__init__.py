"""Operator routes that belong to no single domain (the test clock)."""
