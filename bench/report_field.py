"""The field-scale sections of docs/BENCHMARKS.md: many small files, idle cost, restart with a
big ledger, the 16-source outage drain, the soak and Node-RED. Each scenario may have run more
than once (``--repeat``): one column per run, then the goal and whether every run met it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from report import ms, num, num1, ratio, sec

FIELD = ("files", "arrivals", "restart", "outage", "soak", "nodered")
Goal = tuple[str, Callable[[float], bool]] | None
Row = tuple[str, str, Callable[[float], str], Goal]


def pct_core(value: float) -> str:
    return f"{value * 100:.2f} %"


def mb(value: float) -> str:
    return f"{value:,.0f} MB"


def fixed(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:,.{digits}f}"


def runs_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs that produced figures (a failed run is said by ``failures``)."""
    return [r for r in result.get("runs", [result]) if "error" not in r]


def failures(result: dict[str, Any]) -> str:
    failed = [
        f"run {i + 1} failed: {r['error']}"
        for i, r in enumerate(result.get("runs", [result]))
        if "error" in r
    ]
    return ("\n\n".join(failed) + "\n\n") if failed else ""


def goal_table(result: dict[str, Any], rows: list[Row]) -> str:
    """One row per figure, one column per run, then the goal and met / NOT met."""
    runs = runs_of(result)
    heads = " | ".join(f"run {i + 1}" for i in range(len(runs)))
    lines = [f"| figure | {heads} | goal |", "|---|" + "---:|" * len(runs) + "---|"]
    for label, key, fmt, goal in rows:
        values = [r.get(key) for r in runs]
        cells = " | ".join("—" if v is None else fmt(v) for v in values)
        verdict = ""
        if goal is not None:
            text, test = goal
            ok = all(v is not None and not math.isnan(v) and test(v) for v in values)
            verdict = f"{text}: {'met' if ok else '**NOT met**'}"
        lines.append(f"| {label} | {cells} | {verdict} |")
    return "\n".join(lines)


def load_line(result: dict[str, Any]) -> str:
    """The 1-minute load average while each run went (min / mean / max of samples)."""
    parts = []
    for i, r in enumerate(runs_of(result)):
        load = r.get("load")
        if load:
            parts.append(f"run {i + 1}: {load['min']:.2f} / {load['mean']:.2f} / {load['max']:.2f}")
    said = failures(result)
    if not parts:
        return said
    return (
        said + "1-minute load average during the run (min / mean / max): " + "; ".join(parts) + "."
    )


FILES: list[Row] = [
    (
        "files/s overall (process start -> last acknowledged)",
        "files_per_s",
        num,
        (">= 200", lambda v: v >= 200),
    ),
    ("files/s, first tenth", "first_tenth_files_per_s", num, None),
    ("files/s, last tenth", "last_tenth_files_per_s", num, None),
    ("last tenth ÷ first tenth", "last_over_first", fixed(2), (">= 0.8", lambda v: v >= 0.8)),
    ("process start -> first file acknowledged", "first_file_seconds", sec, None),
    ("seconds for every file", "seconds", sec, None),
    ("agent CPU for every file", "ingest_cpu_seconds", sec, None),
    ("peak RSS while reading", "ingest_peak_rss_mb", mb, ("<= 150 MB", lambda v: v <= 150)),
]
IDLE: list[Row] = [
    ("idle CPU, share of one core", "idle_cpu_share", pct_core, ("<= 1 %", lambda v: v <= 0.01)),
    ("idle window", "idle_seconds", sec, None),
    ("RSS (VmRSS) at the end of the window", "idle_rss_mb", mb, ("<= 150 MB", lambda v: v <= 150)),
    (
        "after a restart: idle CPU",
        "restart_idle_cpu_share",
        pct_core,
        ("<= 1 %", lambda v: v <= 0.01),
    ),
    ("after a restart: RSS", "restart_idle_rss_mb", mb, ("<= 150 MB", lambda v: v <= 150)),
    ("after a restart: start-up until quiet", "restart_quiet_seconds", sec, None),
    ("after a restart: CPU for the start-up", "restart_startup_cpu_seconds", sec, None),
]
ARRIVALS: list[Row] = [
    ("agent CPU per new file, ms, empty source", "empty_cpu_ms_per_file", fixed(1), None),
    ("agent CPU per new file, ms, files kept", "kept_cpu_ms_per_file", fixed(1), None),
    ("agent CPU share while they arrive, empty source", "empty_cpu_share", pct_core, None),
    ("agent CPU share while they arrive, files kept", "kept_cpu_share", pct_core, None),
    ("settle -> acknowledged p50, empty source", "empty_latency_p50", ms, None),
    ("settle -> acknowledged p50, files kept", "kept_latency_p50", ms, None),
    ("settle -> acknowledged p99, files kept", "kept_latency_p99", ms, None),
    ("RSS with the files kept", "kept_rss_mb", mb, ("<= 150 MB", lambda v: v <= 150)),
]
RESTART: list[Row] = [
    (
        "process start -> new file acknowledged",
        "restart_to_ack_seconds",
        sec,
        ("<= 5 s", lambda v: v <= 5),
    ),
    (
        "then idle: CPU, share of one core",
        "ledger_idle_cpu_share",
        pct_core,
        ("<= 1 %", lambda v: v <= 0.01),
    ),
    ("then idle: window", "ledger_idle_seconds", sec, None),
    ("then idle: RSS", "ledger_idle_rss_mb", mb, ("<= 150 MB", lambda v: v <= 150)),
    ("ledger rows", "ledger_rows", num, None),
    ("state database size", "db_mb", mb, None),
    ("agent CPU until then", "restart_cpu_seconds", sec, None),
    ("RSS then", "restart_rss_mb", mb, None),
    ("building the ledger (direct INSERTs)", "ledger_build_seconds", sec, None),
]
OUTAGE: list[Row] = [
    ("broker resumed -> every row acknowledged", "resume_to_all_acked_seconds", sec, None),
    ("broker frozen -> every row acknowledged", "freeze_to_all_acked_seconds", sec, None),
    ("rows/s after the resume", "rows_per_s_after_resume", num, None),
    ("rows acknowledged while frozen", "rows_acknowledged_while_frozen", num, None),
    (
        "rows delivered (distinct batchIds; with the 1-row warm-up file)",
        "rows_delivered",
        num,
        None,
    ),
    ("rows missing", "rows_missing", num, ("0", lambda v: v == 0)),
    ("rows under two batchIds", "rows_under_two_batch_ids", num, ("0", lambda v: v == 0)),
    ("batches re-sent with the same batchId", "batches_resent_same_id", num, None),
    ("peak RSS", "peak_rss_mb", mb, None),
]
SOAK: list[Row] = [
    ("files read (tower, seeding, automation, site)", "files", num, None),
    ("rows published", "rows_published", num, None),
    ("wall time of the replay", "wall_seconds", sec, None),
    ("RSS, mean over the second half", "rss_mb_mean_second_half", mb, None),
    ("RSS slope, MB per simulated week (second half)", "rss_mb_per_week", fixed(2), None),
    ("state database at the end", "final_db_mb", mb, None),
    ("database slope, MB per simulated week", "db_mb_per_week", fixed(2), None),
    ("database bytes per file kept", "db_bytes_per_file", num, None),
    ("files written but not yet read, most", "lag_files_max", num, None),
    ("that backlog's slope, files per simulated week", "lag_files_per_week", num, None),
    ("agent CPU, share of one core (whole replay)", "cpu_share_mean", pct_core, None),
    ("CPU per file, ms (mean)", "cpu_ms_per_file_mean", fixed(2), None),
    (
        "CPU per file, ms (first quarter of the samples)",
        "cpu_ms_per_file_first_quarter",
        fixed(2),
        None,
    ),
    (
        "CPU per file, ms (last quarter of the samples)",
        "cpu_ms_per_file_last_quarter",
        fixed(2),
        None,
    ),
    ("CPU per file slope, ms per simulated week", "cpu_ms_per_file_per_week", fixed(3), None),
]


def nodered_table(result: dict[str, Any], local: dict[str, Any] | None) -> str:
    """edge-agent and Node-RED per run, the naive ingest from (a) of the same command."""
    runs = runs_of(result)
    lines = [
        "| figure | "
        + " | ".join(f"edge-agent run {i + 1} | Node-RED run {i + 1}" for i in range(len(runs)))
        + " | naive (a) |",
        "|---|" + "---:|" * (2 * len(runs) + 1),
    ]
    rows = [
        ("rows/s end to end", "rows_per_s", num),
        ("MB/s of CSV", "mb_per_s", num1),
        ("seconds for the file", "seconds", sec),
        ("MQTT messages", "messages", num),
        ("payload bytes per row", "bytes_per_row", num1),
        ("peak RSS (VmHWM), MB", "peak_rss_mb", num),
    ]
    for label, key, fmt in rows:
        cells = []
        for r in runs:
            for prefix in ("agent", "nodered"):
                v = r.get(f"{prefix}_{key}")
                cells.append("—" if v is None else fmt(v))
        naive = local.get(f"naive_{key}") if local else None
        cells.append("—" if naive is None else fmt(naive))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ratios = [ratio(r["agent_rows_per_s"], r["nodered_rows_per_s"]) for r in runs]
    ok = all(r["agent_rows_per_s"] >= 4 * r["nodered_rows_per_s"] for r in runs)
    lines += [
        "",
        f"edge-agent ÷ Node-RED rows/s: {', '.join(ratios)} (goal >= 4x: "
        f"{'met' if ok else '**NOT met**'}).",
    ]
    return "\n".join(lines)


def render(results: dict[str, dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for name in FIELD:
        if name in results and not runs_of(results[name]):
            out += [f"## {name}", "", failures(results[name])]
    results = {k: v for k, v in results.items() if k not in FIELD or runs_of(v)}
    if "files" in results:
        f = runs_of(results["files"])[0]
        out += [
            f"## (g) Many small files — {f['files']:,} files of {f['rows_per_file']} rows "
            "present at start, rate limits off",
            "",
            goal_table(results["files"], FILES),
            "",
            "files/s in each tenth of the files: "
            + "; ".join(
                f"run {i + 1}: " + ", ".join(f"{v:,.0f}" for v in r["tenths_files_per_s"])
                for i, r in enumerate(runs_of(results["files"]))
            )
            + ".",
            "",
            load_line(results["files"]),
            "",
            f"## (h) Idle with {f['files']:,} files kept (`afterIngest: keep`)",
            "",
            goal_table(results["files"], IDLE),
            "",
        ]
    if "arrivals" in results:
        f = runs_of(results["arrivals"])[0]
        out += [
            f"## (h2) New files arriving — {f['arrivals']} ten-row files, one every "
            f"{f['interval']:g} s, into an empty source, then with {f['kept']:,} files kept",
            "",
            goal_table(results["arrivals"], ARRIVALS),
            "",
            load_line(results["arrivals"]),
            "",
        ]
    if "restart" in results:
        f = runs_of(results["restart"])[0]
        by_state = ", ".join(f"{n:,} {s}" for s, n in sorted(f["ledger_by_state"].items()))
        out += [
            f"## (i) Restart with {f['ledger_rows']:,} ledger rows ({by_state})",
            "",
            goal_table(results["restart"], RESTART),
            "",
            load_line(results["restart"]),
            "",
        ]
    if "outage" in results:
        f = runs_of(results["outage"])[0]
        out += [
            f"## (j) Outage drain — {f['sources']} sources, `outbox.maxBytes` "
            f"{f['outbox_max_bytes'] / 1024**2:g} MiB, broker frozen {f['frozen_seconds']:g} s "
            f"while each source gets a {f['rows_per_file']:,}-row file ({f['rows']:,} rows)",
            "",
            goal_table(results["outage"], OUTAGE),
            "",
            load_line(results["outage"]),
            "",
        ]
    if "soak" in results:
        f = runs_of(results["soak"])[0]
        out += [
            f"## (k) Soak — {f['days']:g} simulated day(s) of a {f['towers']}-tower site at "
            f"{f['speed']:,.0f}x, `afterIngest: keep`",
            "",
            goal_table(results["soak"], SOAK),
            "",
            load_line(results["soak"]),
            "",
        ]
    if "nodered" in results:
        f = runs_of(results["nodered"])[0]
        if "skipped" in f:
            out += ["## (l) Node-RED", "", f"Not measured: {f['skipped']}.", ""]
        else:
            out += [
                f"## (l) Node-RED {f['nodered_version']} on the big file of (a) — "
                f"{f['rows']:,} rows ({f['file_bytes'] / 1e6:.0f} MB), same broker",
                "",
                nodered_table(results["nodered"], results.get("local")),
                "",
                "One Node-RED message as the subscriber received it:",
                "",
                "```json",
                f["nodered_sample"],
                "```",
                "",
                load_line(results["nodered"]),
                "",
            ]
    return out
