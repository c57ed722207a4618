"""Simulators of the equipment that feeds edge-agent, with a ground truth to check it against.

``edge-sim tower`` writes what a vertical-farm site writes (tower sensor stations, seeding
stations, automation software, site weather and energy), ``edge-sim factory`` what legacy
machines write (WinCC, TOA5, PLC logger, Excel Unicode text, cp1252 HMI logs). Both are
deterministic for a seed, write through a :class:`simulators.sinks.Sink` (local folder or SMB
share), either a whole period at once or in accelerated real time, and write the expected
outcome of every row under ``<out>/_truth/``.
"""
