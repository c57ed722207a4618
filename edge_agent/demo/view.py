"""What the demo shows: a screen redrawn in place, one line every few seconds, a final summary.

Rendering is pure: a :class:`Snapshot` in, text out. Lines are lists of (text, style) segments,
cut to the terminal width before ANSI colour codes are added, so a narrow terminal never wraps
and the in-place redraw never drifts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, TextIO

from edge_agent.demo.subscriber import QuarantinedRow, SampleRecord

BOLD: Final = "1"
DIM: Final = "2"
RED: Final = "31"
GREEN: Final = "32"
YELLOW: Final = "33"
CYAN: Final = "36"

Phase = Literal["running", "stopping", "stopped"]
Segment = tuple[str, str]  # (text, SGR style or "")
Line = list[Segment]


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One source's row of the table."""

    name: str
    group: str
    state: str
    detail: str
    files: int
    published: int
    quarantined: int
    last_file: str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one frame shows."""

    uptime: float
    sim_time: datetime | None
    sim_elapsed: float
    speed: float
    broker: str
    sources: tuple[SourceLine, ...]
    batches: int
    rows: int
    rows_per_second: float
    outbox_batches: int
    outbox_bytes: int
    alerts: int
    recent_quarantine: tuple[QuarantinedRow, ...]
    sample: SampleRecord | None
    alert: dict[str, Any] | None
    errors: int
    warnings: int
    recent_problems: tuple[str, ...]
    log_path: str
    phase: Phase = "running"

    @property
    def quarantined(self) -> int:
        """Quarantined rows of every source."""
        return sum(s.quarantined for s in self.sources)

    def group_rows(self, group: str) -> int:
        """Rows published by the sources of one simulator."""
        return sum(s.published for s in self.sources if s.group == group)


# --------------------------------------------------------------------------- formatting


def clock(seconds: float) -> str:
    """``0:01:05``."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def span(seconds: float) -> str:
    """A simulated span: ``3 h 20 min``, ``2 d 4 h``."""
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def size(nbytes: int) -> str:
    """``12.0 kB``."""
    if nbytes < 1000:
        return f"{nbytes} B"
    if nbytes < 1_000_000:
        return f"{nbytes / 1000:.1f} kB"
    return f"{nbytes / 1_000_000:.1f} MB"


def value_text(value: Any) -> str:
    """A record value, compact."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return text if len(text) <= 60 else text[:59] + "…"
    return "null" if value is None else str(value)


def paint(line: Line, width: int, color: bool) -> str:
    """One line cut to ``width`` characters, with ANSI styles if ``color``."""
    out: list[str] = []
    room = width
    for text, style in line:
        if room <= 0:
            break
        shown = text if len(text) <= room else text[: room - 1] + "…"
        room -= len(shown)
        out.append(f"\x1b[{style}m{shown}\x1b[0m" if color and style and shown else shown)
    return "".join(out)


# --------------------------------------------------------------------------- the screen


def _header(s: Snapshot) -> list[Line]:
    sim: Line = [("simulated ", DIM)]
    if s.sim_time is not None:
        sim += [(f"{s.sim_time:%Y-%m-%d %H:%M} UTC", BOLD)]
        sim += [(f" (+{span(s.sim_elapsed)} at {s.speed:g}x)", DIM)]
    else:
        sim += [("not started", DIM)]
    state = {
        "running": ("running", GREEN),
        "stopping": ("stopping: draining the outbox…", YELLOW),
        "stopped": ("stopped", BOLD),
    }[s.phase]
    return [
        [("edge-agent demo", BOLD + ";" + CYAN), ("  ", ""), state],
        [
            ("up ", DIM),
            (clock(s.uptime), BOLD),
            ("   ", ""),
            *sim,
            ("   broker ", DIM),
            (s.broker, ""),
        ],
    ]


def _table(s: Snapshot) -> list[Line]:
    lines: list[Line] = [
        [(f"{'source':<16}{'files':>7}{'published':>12}{'quarantined':>13}  last file", DIM)]
    ]
    group = None
    for src in s.sources:
        if src.group != group:
            group = src.group
            lines.append([(group, BOLD)])
        counts = f"  {src.name:<14}{src.files:>7,}{src.published:>12,}"
        quarantined = (f"{src.quarantined:>13,}", YELLOW if src.quarantined else "")
        if src.state in ("watching", "starting"):
            last: Segment = (src.last_file or "-", DIM if src.last_file is None else "")
        else:
            last = (f"{src.state}: {src.detail}", RED)
        lines.append([(counts, ""), quarantined, ("  ", ""), last])
    return lines


def _totals(s: Snapshot) -> Line:
    return [
        ("total", BOLD),
        ("   batches ", DIM),
        (f"{s.batches:,}", ""),
        ("   rows ", DIM),
        (f"{s.rows:,}", GREEN if s.rows else ""),
        ("   ", ""),
        (f"{s.rows_per_second:,.0f}", ""),
        (" rows/s   outbox ", DIM),
        (f"{s.outbox_batches:,} batches, {size(s.outbox_bytes)}", ""),
        ("   alerts ", DIM),
        (f"{s.alerts:,}", YELLOW if s.alerts else ""),
        ("   errors ", DIM),
        (f"{s.errors:,}", RED if s.errors else ""),
    ]


def _quarantine(s: Snapshot) -> list[Line]:
    lines: list[Line] = [[("latest quarantined rows", BOLD)]]
    if not s.recent_quarantine:
        lines.append([("  none yet", DIM)])
    for q in reversed(s.recent_quarantine):
        where = f"{q.path.rsplit('/', 1)[-1]}:{q.line}"
        lines.append([(f"  {q.source:<14}", ""), (f"{where:<34} ", DIM), (q.reason, YELLOW)])
    return lines


FUSED = frozenset(
    {"growId", "tagStatus", "dayOfCycle", "phase", "deviations", "site", "siteStale"}
    | {"automation", "late", "revision"}
)


def sample_lines(sample: SampleRecord | None, width: int) -> list[Line]:
    """The latest tower record: where it comes from, who measured it, its values, and what the
    farm stage fused into it (Grow ID, site and automation as of its time, deviations)."""
    if sample is None:
        return [[("latest tower record", BOLD)], [("  none yet", DIM)]]
    record = sample.record
    head: Line = [
        ("latest tower record", BOLD),
        (f"  {sample.path}, line {record.get('line', '?')}", DIM),
    ]
    ids = [str(v) for k, v in record.items() if k.endswith("_id") and v is not None]
    who: Line = [("  ", ""), (str(record.get("ts", "")), ""), ("  " + "  ".join(ids), CYAN)]
    items: list[str] = []
    for key, value in record.items():
        if key in ("ts", "line") or key.endswith("_id") or key in FUSED:
            continue
        unit = sample.units.get(key)
        label = key.rsplit("_", 1)[0] if unit and "_" in key else key
        text = f"{label.replace('_', ' ')} {value_text(value)}"
        items.append(f"{text} {unit}" if unit and value is not None else text)
    lines = [head, who]
    current = ""
    for item in items:
        if current and len(current) + 3 + len(item) > width - 2:
            lines.append([("  " + current, "")])
            current = ""
        current = f"{current}   {item}" if current else item
    if current:
        lines.append([("  " + current, "")])
    if "tagStatus" in record:
        lines += fused_lines(record)
    return lines


def fused_lines(record: dict[str, Any]) -> list[Line]:
    """Grow ID, day and phase; the site and automation joined; the recipe's verdict."""
    if record.get("growId"):
        tag = f"grow {record['growId']}, day {record.get('dayOfCycle')} ({record.get('phase')})"
    else:
        tag = "untracked tray (no growth cycle)"
    site = record.get("site")
    site_text = (
        f"site {value_text(site.get('outdoor_temp_c'))} °C outdoors, "
        f"{value_text(site.get('power_kw'))} kW, {site.get('ageSeconds')} s before"
        if isinstance(site, dict)
        else "site: no reading within the tolerance (siteStale)"
    )
    automation = record.get("automation")
    machine = (
        f"tower {automation.get('state')}" if isinstance(automation, dict) else "tower state ?"
    )
    deviations = record.get("deviations") or []
    verdict = (
        ", ".join(
            f"{d.get('variable')} {value_text(d.get('value'))} out of band" for d in deviations
        )
        if deviations
        else "within the recipe"
    )
    late = "  (late)" if record.get("late") else ""
    return [
        [("  fused: ", DIM), (tag, CYAN), (f" · {site_text} · {machine}{late}", "")],
        [("  recipe: ", DIM), (verdict, YELLOW if deviations else GREEN)],
    ]


def alert_lines(alert: dict[str, Any] | None) -> list[Line]:
    """The latest recipe alert, if any."""
    if alert is None:
        return [[("latest alert", BOLD)], [("  none yet", DIM)]]
    limits = f"band {value_text(alert.get('min'))}-{value_text(alert.get('max'))}"
    return [
        [("latest alert", BOLD), (f"  {alert.get('event')}", YELLOW)],
        [
            (f"  {alert.get('towerId')} {alert.get('stationId')} ", CYAN),
            (
                f"{alert.get('variable')} {value_text(alert.get('value'))} ({limits}, "
                f"{alert.get('phase')}) since {alert.get('since')}, grow {alert.get('growId')}",
                "",
            ),
        ],
    ]


def render_screen(s: Snapshot, width: int, color: bool = True) -> list[str]:
    """The live screen, one string per terminal line."""
    lines: list[Line] = [*_header(s), [], *_table(s), [], _totals(s), []]
    lines += _quarantine(s)
    lines.append([])
    lines += sample_lines(s.sample, width)
    lines.append([])
    lines += alert_lines(s.alert)
    if s.recent_problems:
        lines.append([])
        lines.append(
            [(f"log: {s.errors} errors, {s.warnings} warnings", RED if s.errors else YELLOW)]
        )
        lines += [[("  " + p, DIM)] for p in s.recent_problems]
    hints = {
        "running": "Ctrl-C stops the demo · ",
        "stopping": "Ctrl-C again: stop without waiting for the outbox · ",
    }
    if s.phase in hints:  # once stopped, the working folder and its log are about to go
        lines.append([])
        lines.append([(f"{hints[s.phase]}agent log: ", DIM), (s.log_path, DIM)])
    return [paint(line, width, color) for line in lines]


def render_line(s: Snapshot) -> str:
    """One line for logs and pipes (``--plain``)."""
    sim = f"{s.sim_time:%Y-%m-%dT%H:%MZ}" if s.sim_time is not None else "-"
    return (
        f"[{clock(s.uptime)}] sim {sim}  published: tower {s.group_rows('tower'):,} rows, "
        f"factory {s.group_rows('factory'):,} rows  quarantined {s.quarantined:,}  "
        f"batches {s.batches:,}  {s.rows_per_second:,.0f} rows/s  "
        f"outbox {s.outbox_batches:,}  alerts {s.alerts:,}  errors {s.errors:,}"
    )


def render_summary(s: Snapshot, messages: int) -> list[str]:
    """What the run did, printed once everything has stopped."""

    def parts(group: str) -> str:
        return ", ".join(f"{x.name} {x.published:,}" for x in s.sources if x.group == group)

    lines = [
        f"edge-agent demo stopped after {clock(s.uptime)} "
        f"(simulated {span(s.sim_elapsed)} at {s.speed:g}x)",
        f"  tower:   {s.group_rows('tower'):,} records published ({parts('tower')})",
        f"  factory: {s.group_rows('factory'):,} records published ({parts('factory')})",
        f"  quarantined: {s.quarantined:,} rows; alerts: {s.alerts:,}",
        f"  batches acknowledged by the broker: {s.batches:,}; messages received: {messages:,}; "
        f"left in the outbox: {s.outbox_batches:,}",
        f"  errors: {s.errors}, warnings: {s.warnings}",
    ]
    lines += [f"    {p}" for p in s.recent_problems]
    return lines


class Terminal:
    """Redraws a block of lines in place (cursor up, rewrite, clear the rest)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._drawn = 0

    def open(self) -> None:
        """Hide the cursor."""
        self.out.write("\x1b[?25l")
        self.out.flush()

    def draw(self, lines: Sequence[str], height: int) -> None:
        """Replace the previous frame with ``lines`` (cut to ``height - 1`` lines)."""
        shown = list(lines[: max(1, height - 1)])
        up = f"\x1b[{self._drawn}A" if self._drawn else ""
        # "\r" first: a "^C" echoed by the terminal may have moved the cursor right.
        self.out.write("\r" + up + "".join(f"{line}\x1b[K\n" for line in shown) + "\x1b[J")
        self.out.flush()
        self._drawn = len(shown)

    def close(self) -> None:
        """Show the cursor again; the last frame stays on screen."""
        self.out.write("\x1b[?25h")
        self.out.flush()
