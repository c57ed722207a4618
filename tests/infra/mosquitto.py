"""Fixtures for mosquitto (filled in by its owner)."""
