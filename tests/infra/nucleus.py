"""Fixtures for nucleus (filled in by its owner)."""
