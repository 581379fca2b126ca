"""Shared kit: clock, money, calendar, errors, database and HTTP helpers used by every domain."""
