"""Support: the audit log and what support agents resolve."""
