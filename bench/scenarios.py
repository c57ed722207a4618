"""The benchmark scenarios: each runs edge-agent and the naive ingest on the same input against
the same Mosquitto, one after the other, and returns its figures as a flat dict.

Clocks (``time.monotonic()``, shared with the child processes):

* throughput: the agent from the file's settle (rename into the folder + ``settleSeconds``) to
  the last batch acknowledged; the naive ingest from the moment it starts reading the file
  (its polling delay is left out, as the agent's settle wait is) to the last PUBACK;
* latency: from the file's settle to its last row acknowledged. The naive ingest does not wait
  for a file to settle: its settle is the rename, so its figure includes its polling delay;
* drain: from process start to everything acknowledged, both.
"""

from __future__ import annotations

import contextlib
import csv
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import smbclient
from harness import (
    IOT_BYTES_PER_SECOND,
    SETTLE,
    THING,
    AgentProcess,
    NaiveProcess,
    Received,
    StateReader,
    agent_config,
    broker,
    percentile,
    running_agent,
    running_naive,
    site_source,
    subscriber,
    wait_until,
)
from workload import DATASET, simulate_site, small_file, write_csv

from edge_agent.config.models import AgentConfig
from simulators.datasets import SOURCE_HINTS, builtin_dataset_mapping
from tests.infra.mosquitto import Broker
from tests.infra.samba import SambaServer

NAIVE_TOPIC = f"dt/naive/{THING}"
ACK_POLL = 0.002  # how often the agent's state is read while timing latency (the resolution)
LATENCY_INTERVAL = 0.2  # seconds between a file acknowledged and the next one dropped
SMB_PASSWORD_ENV = "EDGE_BENCH_SMB_PASSWORD"
Figures = dict[str, Any]
Drop = Callable[[str, bytes], float]  # write a file into the watched folder; when it was complete


# ---------------------------------------------------------------------- figures


def wire_figures(prefix: str, wire: Received, rows: int) -> Figures:
    """Messages, payload and topic bytes per row as the subscriber saw them."""
    return {
        f"{prefix}_messages": wire.count,
        f"{prefix}_payload_bytes": sum(wire.payload_bytes),
        f"{prefix}_bytes_per_row": sum(wire.payload_bytes) / rows,
        f"{prefix}_topic_bytes_per_row": sum(wire.topic_bytes) / rows,
    }


def limit_figures(prefix: str, wire: Received, *, skip_head: float, skip_tail: float) -> Figures:
    """Publishes in any one-second window (the max), and the steady byte and publish rates."""
    bytes_per_s, publishes_per_s, seconds = wire.steady(skip_head, skip_tail)
    return {
        f"{prefix}_max_publishes_1s": wire.max_per_window(1.0),
        f"{prefix}_max_bytes_1s": wire.max_bytes_per_window(1.0),
        f"{prefix}_steady_publishes_per_s": publishes_per_s,
        f"{prefix}_steady_bytes_per_s": bytes_per_s,
        f"{prefix}_steady_seconds": seconds,
        f"{prefix}_byte_budget_used": bytes_per_s / IOT_BYTES_PER_SECOND,
    }


def latency_figures(prefix: str, values: list[float]) -> Figures:
    return {
        f"{prefix}_latency_files": len(values),
        f"{prefix}_latency_p50": percentile(values, 50),
        f"{prefix}_latency_p99": percentile(values, 99),
        f"{prefix}_latency_max": max(values),
        f"{prefix}_latency_mean": statistics.fmean(values),
    }


# ---------------------------------------------------------------------- one ingest, one file


def local_drop(work: Path, folder: Path) -> Drop:
    """Write next to the folder, then rename in: the file is complete when it appears."""

    def drop(name: str, data: bytes) -> float:
        (work / name).write_bytes(data)
        (work / name).rename(folder / name)
        return time.monotonic()

    return drop


def agent_ready(agent: AgentProcess, drop: Drop) -> None:
    """One small file all the way through: the agent watches, is connected and acknowledged."""
    drop("warmup.csv", small_file(999, 1))
    wait_until("the warm-up file", lambda: agent.state.done("warmup.csv"), 60, agent.dead)


def agent_done(agent: AgentProcess, name: str, timeout: float, poll: float = 0.05) -> float:
    """When ``name`` was read and every batch acknowledged (outbox empty)."""
    wait_until(f"{name} acknowledged", lambda: agent.state.done(name), timeout, agent.dead, poll)
    return time.monotonic()


def naive_done(naive: NaiveProcess, key: str, timeout: float) -> tuple[float, float, int]:
    """Wait for the naive ingest to finish ``key``; (read start, last PUBACK, rows)."""
    wait_until(f"naive: {key} done", lambda: key in naive.done_at, timeout, naive.dead, 0.01)
    rows, done = naive.done_at[key]
    return naive.read_at[key], done, rows


def latencies(
    files: int, rows: int, drop: Drop, acked: Callable[[str], float], settle: float
) -> list[float]:
    """Drop ``files`` small files one at a time; each one's settle -> last row acknowledged."""
    out = []
    for i in range(files):
        name = f"small-{i:03d}.csv"
        dropped = drop(name, small_file(i, rows))
        out.append(acked(name) - (dropped + settle))
        time.sleep(LATENCY_INTERVAL)
    return out


def throughput_figures(
    prefix: str, seconds: float, rows: int, file_bytes: int, wire: Received, t0: float
) -> Figures:
    """Rows/s and MB/s of one big file, and what went on the wire for it since ``t0``."""
    wire.quiet()
    return {
        f"{prefix}_seconds": seconds,
        f"{prefix}_rows_per_s": rows / seconds,
        f"{prefix}_mb_per_s": file_bytes / 1e6 / seconds,
    } | wire_figures(prefix, wire.since(t0), rows)


def big_file_and_latency(
    prefix: str,
    agent: AgentProcess,
    drop: Drop,
    rename_in: Callable[[], float],
    rows: int,
    file_bytes: int,
    wire: Received,
    latency: tuple[int, int],
) -> Figures:
    """The agent on one big file (rows/s, RSS, wire), then the latency probes."""
    agent_ready(agent, drop)
    t0 = rename_in()
    before = agent.state.acknowledged()
    seconds = agent_done(agent, "data.csv", 3600) - t0 - SETTLE
    acked = agent.state.acknowledged() - before
    if acked != rows:
        raise RuntimeError(f"agent: {acked} rows acknowledged, {rows} written")
    out = throughput_figures(prefix, seconds, rows, file_bytes, wire, t0)
    lat = latencies(*latency, drop, lambda n: agent_done(agent, n, 60, ACK_POLL), SETTLE)
    return out | latency_figures(prefix, lat) | {f"{prefix}_peak_rss_mb": agent.peak_rss_mb()}


def naive_big_file_and_latency(
    prefix: str,
    naive: NaiveProcess,
    key: Callable[[str], str],
    drop: Drop,
    rename_in: Callable[[], float],
    file_bytes: int,
    wire: Received,
    latency: tuple[int, int],
) -> Figures:
    """The naive ingest on the same big file, then the same latency probes."""
    t0 = rename_in()
    started, done, rows = naive_done(naive, key("data.csv"), 3600)
    seconds = done - started
    out = throughput_figures(prefix, seconds, rows, file_bytes, wire, t0)
    lat = latencies(*latency, drop, lambda n: naive_done(naive, key(n), 60)[1], 0.0)
    return out | latency_figures(prefix, lat) | {f"{prefix}_peak_rss_mb": naive.peak_rss_mb()}


# ---------------------------------------------------------------------- (a) (c) (d) local folder


def local(
    work: Path, rows: int, latency: tuple[int, int], poll: float, target_bytes: int = 0
) -> Figures:
    """A big file end to end (rows/s, peak RSS, bytes per row), then small files (latency).
    ``target_bytes``: the file's size instead of ``rows``."""
    staging = work / "data.csv"
    n_rows, n_bytes = write_csv(staging, rows, target_bytes)
    out: Figures = {"rows": n_rows, "file_bytes": n_bytes, "latency_rows": latency[1]}
    agent_in, naive_in = work / "agent-in", work / "naive-in"
    agent_in.mkdir()
    naive_in.mkdir()

    def move(folder: Path) -> Callable[[], float]:
        def rename_in() -> float:
            next(p for p in (staging, agent_in / "data.csv") if p.exists()).rename(
                folder / "data.csv"
            )
            return time.monotonic()

        return rename_in

    with broker(work) as server, subscriber(server, "#") as wire:
        source = {"name": "bench", "path": str(agent_in), "settleSeconds": SETTLE, "dataset": "d"}
        config = agent_config(work, [source], {"d": DATASET}, server.port, limits=False)
        with running_agent(work, config) as agent:
            out |= big_file_and_latency(
                "agent",
                agent,
                local_drop(work, agent_in),
                move(agent_in),
                n_rows,
                n_bytes,
                wire,
                latency,
            )
        args = ["--folder", str(naive_in)]
        with running_naive(server, NAIVE_TOPIC, args, poll=poll, limits=False) as naive:
            out |= naive_big_file_and_latency(
                "naive",
                naive,
                lambda name: str(naive_in / name),
                local_drop(work, naive_in),
                move(naive_in),
                n_bytes,
                wire,
                latency,
            )
    return out


# ---------------------------------------------------------------------- (b) SMB share


@contextlib.contextmanager
def samba_and_broker(work: Path) -> Iterator[tuple[SambaServer, Broker]]:
    """smbd (the tests' SambaServer) and Mosquitto, children of this process."""
    samba = SambaServer(work / "samba")
    samba.start()
    try:
        with broker(work) as server:
            yield samba, server
    finally:
        samba.stop()


def smb(
    work: Path, rows: int, latency: tuple[int, int], poll: float, target_bytes: int = 0
) -> Figures:
    """The same as ``local``, the files written to and read from an SMB share."""
    with samba_and_broker(work) as (samba, server), subscriber(server, "#") as wire:
        share = samba.share_path
        for folder in ("staging", "agent", "naive"):
            (share / folder).mkdir()
        n_rows, n_bytes = write_csv(share / "staging" / "data.csv", rows, target_bytes)
        out: Figures = {"rows": n_rows, "file_bytes": n_bytes, "latency_rows": latency[1]}
        cache: dict[str, Any] = {}
        kw: dict[str, Any] = {
            "username": samba.username,
            "password": samba.password,
            "port": samba.port,
            "connection_cache": cache,
        }
        smbclient.register_session(samba.host, **kw)
        where = {"file": "staging"}

        def move(folder: str) -> Callable[[], float]:
            def rename_in() -> float:
                src = samba.unc(where["file"], "data.csv")
                smbclient.rename(src, samba.unc(folder, "data.csv"), **kw)
                where["file"] = folder
                return time.monotonic()

            return rename_in

        def smb_drop(folder: str) -> Drop:
            def drop(name: str, data: bytes) -> float:
                with smbclient.open_file(samba.unc("staging", name), mode="wb", **kw) as f:
                    f.write(data)
                smbclient.rename(samba.unc("staging", name), samba.unc(folder, name), **kw)
                return time.monotonic()

            return drop

        try:
            smb_source = {
                "server": samba.host,
                "port": samba.port,
                "share": samba.share,
                "folder": "agent",
                "username": samba.username,
                "passwordEnv": SMB_PASSWORD_ENV,
            }
            source = {
                "name": "bench",
                "type": "smb",
                "smb": smb_source,
                "settleSeconds": SETTLE,
                "dataset": "d",
            }
            config = agent_config(work, [source], {"d": DATASET}, server.port, limits=False)
            env = {SMB_PASSWORD_ENV: samba.password}
            with running_agent(work, config, env) as agent:
                out |= big_file_and_latency(
                    "agent", agent, smb_drop("agent"), move("agent"), n_rows, n_bytes, wire, latency
                )
            args = [
                *("--smb-server", samba.host, "--smb-port", str(samba.port)),
                *("--smb-share", samba.share, "--smb-folder", "naive"),
                *("--smb-user", samba.username, "--smb-password-env", SMB_PASSWORD_ENV),
            ]
            with running_naive(
                server, NAIVE_TOPIC, args, poll=poll, limits=False, env=env
            ) as naive:
                out |= naive_big_file_and_latency(
                    "naive",
                    naive,
                    lambda name: samba.unc("naive", name),
                    smb_drop("naive"),
                    move("naive"),
                    n_bytes,
                    wire,
                    latency,
                )
        finally:
            smbclient.reset_connection_cache(fail_on_error=False, connection_cache=cache)
    return out


# ---------------------------------------------------------------------- (e) IoT Core limits on


AGENTS = (("agent", False),)
"""The agent as shipped (its limiter: ``RateLimiter.from_config``, a one-second sliding window)."""


def limits(work: Path, seconds: float, bytes_per_row: float) -> Figures:
    """A file that takes ``seconds`` at 512 KiB/s, with the IoT Core limits on: the agent to
    the end; the naive ingest for as long, then
    stopped (at 100 rows/s it would take hours)."""
    rows = int(seconds * IOT_BYTES_PER_SECOND / bytes_per_row)
    staging = work / "data.csv"
    n_rows, n_bytes = write_csv(staging, rows)
    out: Figures = {"rows": n_rows, "file_bytes": n_bytes}
    with broker(work) as server, subscriber(server, "#") as wire:
        for prefix, _shipped in AGENTS:
            inbox = work / prefix / "in"
            inbox.mkdir(parents=True)
            source = {"name": "bench", "path": str(inbox), "settleSeconds": SETTLE, "dataset": "d"}
            config = agent_config(work / prefix, [source], {"d": DATASET}, server.port, limits=True)
            with running_agent(work / prefix, config) as agent:
                agent_ready(agent, local_drop(work, inbox))
                time.sleep(1.5)  # the limiter recovers from the warm-up, as on a quiet connection
                t0 = time.monotonic()
                staging.rename(inbox / "data.csv")
                took = agent_done(agent, "data.csv", seconds * 10 + 120) - t0 - SETTLE
                staging = inbox / "data.csv"
                wire.quiet()
                used = wire.since(t0)
                out |= {f"{prefix}_seconds": took, f"{prefix}_rows_per_s": n_rows / took}
                out |= wire_figures(prefix, used, n_rows)
                out |= limit_figures(prefix, used, skip_head=2.0, skip_tail=1.0)
        naive_in = work / "naive-in"
        naive_in.mkdir()
        args = ["--folder", str(naive_in)]
        with running_naive(server, NAIVE_TOPIC, args, poll=0.2, limits=True):
            t1 = time.monotonic()
            staging.rename(naive_in / "data.csv")
            time.sleep(seconds)
            used = wire.since(t1, time.monotonic())
            rate = used.count / max(1e-9, used.times[-1] - used.times[0])
            out |= {
                "naive_measured_rows": used.count,
                "naive_rows_per_s": rate,
                "naive_seconds": n_rows / rate,  # projected: the run is stopped before the end
            }
            out |= wire_figures("naive", used, used.count)
            out |= limit_figures("naive", used, skip_head=1.0, skip_tail=0.5)
    return out


# ---------------------------------------------------------------------- (f) backlog drain


def site_layout(site: Path) -> tuple[list[dict[str, Any]], dict[str, Any], int, int]:
    """Agent sources and builtin datasets for the simulator's folders, as on disk now;
    plus the number of CSV files and of data rows under them (what must be acknowledged)."""
    sources: list[dict[str, Any]] = []
    datasets: dict[str, Any] = {}
    files = rows = 0
    for name, hint in SOURCE_HINTS.items():
        folder = site / hint.folder
        if not folder.is_dir():
            continue
        sources.append(site_source(name, site))
        datasets[name] = builtin_dataset_mapping(name)
        for path in folder.rglob("*.csv"):
            files += 1
            with path.open(encoding="utf-8", newline="") as f:
                rows += sum(1 for _ in csv.DictReader(f))
    return sources, datasets, files, rows


def farm_section(site: Path, datasets: dict[str, Any]) -> dict[str, Any]:
    """The top-level ``cea`` section (the farm's site) if this agent has one and the tower
    datasets need it; nothing for an agent without farm enrichment."""
    if "cea" not in AgentConfig.model_fields:
        return {}
    if all(d.get("kind", "generic") == "generic" for d in datasets.values()):
        return {}
    site_ids = sorted(p.name for p in (site / "site").iterdir() if p.is_dir())
    return {"cea": {"siteId": site_ids[0] if site_ids else "site-01"}}


def drain(work: Path, days: float, towers: int, poll: float) -> Figures:
    """A two-tower site's day of files waiting (a 24-hour outage), then the agent starts with
    the IoT Core limits on: time until every file is acknowledged; the naive ingest the same."""
    site = work / "site"
    simulate_site(site, days=days, towers=towers)
    sources, datasets, files, rows = site_layout(site)
    out: Figures = {"files": files, "rows": rows, "datasets": ", ".join(datasets)}
    with broker(work) as server, subscriber(server, "#") as wire:
        for prefix, _shipped in AGENTS:
            config = agent_config(work / prefix, sources, datasets, server.port, limits=True)
            config |= farm_section(site, datasets)
            t0 = time.monotonic()
            with running_agent(work / prefix, config) as agent:
                state = agent.state

                def drained(state: StateReader = state) -> bool:
                    n, published, quarantined = state.files_done()
                    return n == files and published + quarantined == rows

                wait_until("every site file acknowledged", drained, 3600, agent.dead, 0.05)
                took = time.monotonic() - t0
                _n, published, quarantined = state.files_done()
                out |= {
                    f"{prefix}_seconds": took,
                    f"{prefix}_rows_per_s": rows / took,
                    f"{prefix}_rows_published": published,
                    f"{prefix}_rows_quarantined": quarantined,
                    f"{prefix}_peak_rss_mb": agent.peak_rss_mb(),
                }
            wire.quiet()
            used = wire.since(t0, time.monotonic())
            out |= wire_figures(prefix, used, rows)
            out |= limit_figures(prefix, used, skip_head=0.0, skip_tail=0.0)
        t1 = time.monotonic()
        args = ["--folder", str(site), "--recursive"]
        with running_naive(server, NAIVE_TOPIC, args, poll=poll, limits=True) as naive:
            wait_until(
                "the naive ingest to publish every site file",
                lambda: naive.files_done() == files,
                max(600, rows / 50),
                naive.dead,
                0.05,
            )
            took = max(t for _rows, t in naive.done_at.values()) - naive.started
            wire.quiet()
            naive_wire = wire.since(t1)
            out |= {
                "naive_seconds": took,
                "naive_rows_per_s": naive.rows_done() / took,
                "naive_rows_published": naive.rows_done(),
                "naive_peak_rss_mb": naive.peak_rss_mb(),
            }
            out |= wire_figures("naive", naive_wire, naive.rows_done())
            out |= limit_figures("naive", naive_wire, skip_head=0.0, skip_tail=0.0)
    return out
