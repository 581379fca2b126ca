"""Entitlement: what a camera may do in the cloud at an instant (pure rules, no I/O)."""
