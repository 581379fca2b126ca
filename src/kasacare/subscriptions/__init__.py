"""Subscriptions: the new plans (Plus, Premium), trials, camera seats, changes and cancel."""
