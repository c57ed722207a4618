"""Fixtures for samba (filled in by its owner)."""
