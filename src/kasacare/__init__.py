"""Kasa Care: the cloud side of cloud-video subscriptions for Kasa home cameras."""

__version__ = "0.1.0"
