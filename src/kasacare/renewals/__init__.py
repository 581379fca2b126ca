"""Renewals and dunning of every kind of paid plan (`engine`), and the one step that ends a
plan's paid coverage (`ending`)."""
