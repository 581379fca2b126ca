"""Clips: device uploads, the activity center, retention and erasure."""
