"""Run one or more simulators through a sink, at once or in accelerated real time."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from simulators.ops import Json, Steps
from simulators.player import Pacer, PlayStats, TruthWriter, play
from simulators.sinks import Sink


class Simulation(Protocol):
    """A simulator: its truth streams, its run record and its step streams."""

    @property
    def name(self) -> str:
        """``tower`` or ``factory``: the prefix of its truth files."""
        ...

    @property
    def truth_streams(self) -> tuple[str, ...]:
        """Names of its ``_truth/<stream>.jsonl`` files."""
        ...

    @property
    def start(self) -> datetime:
        """First simulated time of the period."""
        ...

    def run_record(self) -> Json:
        """Parameters of the run (``_truth/<name>-run.json``)."""
        ...

    def streams(self) -> list[Steps]:
        """Its step streams (see :mod:`simulators.ops`)."""
        ...


def run(
    simulations: Sequence[Simulation],
    sink: Sink,
    *,
    speed: float | None = None,
    stop: threading.Event | None = None,
    duration: float | None = None,
) -> PlayStats:
    """Write the simulators' files and ground truth through ``sink``.

    Without ``speed`` the whole period is written at once. With it, files appear in accelerated
    real time (``speed`` simulated seconds per wall second) until the period ends, ``duration``
    wall seconds pass, or ``stop`` is set (a clean stop: open files closed, truth flushed).
    Blocking: call it in a thread (``asyncio.to_thread``) from async code.
    """
    truth = TruthWriter(sink)
    streams: list[Steps] = []
    for simulation in simulations:
        truth.start(simulation.name, simulation.run_record(), simulation.truth_streams)
        streams.extend(simulation.streams())
    pacer = None
    if speed is not None:
        sim_start = min(s.start for s in simulations)
        pacer = Pacer(speed, sim_start, stop or threading.Event(), duration)
    return play(streams, sink, truth, pacer=pacer)
