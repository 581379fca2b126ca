"""Accounts: owners and support agents, sign-up, sign-in with rate limiting, bearer tokens."""
