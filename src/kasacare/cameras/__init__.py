"""Cameras: devices (by serial, with their original setup) and their bindings to accounts."""
