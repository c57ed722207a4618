"""Shared fixtures: real servers started on free loopback ports, one per test session or test."""

pytest_plugins = [
    "tests.infra.mosquitto",
    "tests.infra.samba",
    "tests.infra.nucleus",
]
