"""Catalog: camera models and their free plans, new and legacy plans, prices, card brands."""
