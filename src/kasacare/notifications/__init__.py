"""Notifications: an outbox of what the owner is told (SPEC section 2, "Notifications")."""
