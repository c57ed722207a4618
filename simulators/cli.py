"""``edge-sim``: write simulated tower or factory data to a folder or an SMB share.

Two time modes. Without ``--speed`` the whole period (``--days`` / ``--hours`` from ``--start``)
is written at once and each file's modification time is the simulated time it was last
written. With ``--speed X`` files appear, grow and close in accelerated real time (X simulated
seconds per wall second) until the period ends (if ``--days``/``--hours`` is given),
``--duration`` wall seconds pass, or Ctrl-C / SIGTERM (a clean stop).

Default start: in batch mode the period ends at the current UTC hour (start = that hour minus
the period); in real time it is the current UTC hour (tower) or minute (factory). ``--start``
is rounded down to the hour (tower) or the minute (factory).

It also says how to run edge-agent on what it wrote: an agent configuration for exactly those
folders and datasets (``<out>/edge-agent.yaml``, or ``--agent-config PATH``; a tower and a
factory run into one folder end up side by side in it) and the ``edge-agent run`` line, at the
end of a batch run or before a real-time one starts. For an SMB share without
``--agent-config`` the YAML is printed instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Final

import yaml

from simulators.clock import floor_time, iso_z, parse_start
from simulators.datasets import SOURCE_HINTS, builtin_dataset_mapping, cea_mapping
from simulators.factory.common import FactorySettings
from simulators.factory.sim import FactorySimulation, parse_machines
from simulators.player import TRUTH_FOLDER, PlayStats
from simulators.runner import Simulation, run
from simulators.sinks import LocalSink, Sink
from simulators.smb import SmbSink
from simulators.tower.faults import TOWER_FAULTS, parse_faults
from simulators.tower.sim import TowerSettings, TowerSimulation

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    out = parser.add_argument_group("output (one of --out or --smb-server)")
    out.add_argument("--out", type=Path, help="local folder to write into")
    out.add_argument("--smb-server", help="SMB server host")
    out.add_argument("--smb-port", type=int, default=445, help="SMB port (default 445)")
    out.add_argument("--smb-share", help="share name")
    out.add_argument("--smb-user", help="user name")
    out.add_argument(
        "--smb-password-env", metavar="VAR", help="environment variable holding the password"
    )
    out.add_argument("--smb-folder", default="", help="folder inside the share")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same bytes (default 1)")
    parser.add_argument("--start", type=parse_start, help="ISO 8601 start (UTC if no offset)")
    parser.add_argument(
        "--speed",
        type=_positive,
        help="real time: simulated seconds per wall second (600 = 10 min/s)",
    )
    parser.add_argument(
        "--duration", type=_positive, help="real time: stop after this many wall seconds"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument(
        "--agent-config",
        type=Path,
        metavar="PATH",
        help="write the edge-agent configuration for these files here "
        "(default with --out: <out>/edge-agent.yaml; with an SMB share it is printed)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``edge-sim`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="edge-sim",
        description="Simulated farm and factory CSV data, with ground truth under <out>/_truth/."
        + "\n"
        + (__doc__ or "").split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    tower = commands.add_parser(
        "tower",
        help="a vertical-farm site: towers, trays, stations, seeding, automation, site",
        description="One site with N towers. Interval files"
        " tower/<tower>/<station>/YYYYMMDDTHH.csv, seeding/<tower>/..., automation/<tower>/...,"
        " site/<site>/... (one per UTC hour), or growing logs <kind>/<id>.csv with --append.",
    )
    _common(tower)
    tower.set_defaults(command_parser=tower)
    tower.add_argument("--towers", type=int, default=2, help="number of towers (default 2)")
    tower.add_argument("--trays", type=int, default=12, help="trays per tower (default 12)")
    tower.add_argument("--days", type=_positive, help="length of the period (batch default 1)")
    tower.add_argument("--faults", default="", help=f"comma list or all: {', '.join(TOWER_FAULTS)}")
    tower.add_argument(
        "--append", action="store_true", help="growing logs instead of interval files"
    )
    factory = commands.add_parser(
        "factory",
        help="legacy machines: WinCC, TOA5, PLC logger, Excel Unicode text, cp1252 HMI",
        description="Files under factory/<machine>/ in each machine's own dialect.",
    )
    _common(factory)
    factory.set_defaults(command_parser=factory)
    factory.add_argument("--hours", type=_positive, help="length of the period (batch default 8)")
    factory.add_argument(
        "--bad-rate", type=float, default=0.005, help="share of garbled data rows (default 0.005)"
    )
    factory.add_argument("--machines", default="all", help="wincc,toa5,plc,excel,hmi or all")
    return parser


def _sink(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Sink, str]:
    if (args.out is None) == (args.smb_server is None):
        parser.error("give exactly one of --out DIR or --smb-server HOST")
    if args.out is not None:
        return LocalSink(args.out), str(args.out)
    missing = [
        name
        for name, value in (
            ("--smb-share", args.smb_share),
            ("--smb-user", args.smb_user),
            ("--smb-password-env", args.smb_password_env),
        )
        if not value
    ]
    if missing:
        parser.error(f"--smb-server needs {', '.join(missing)}")
    password = os.environ.get(args.smb_password_env)
    if password is None:
        parser.error(
            f"environment variable {args.smb_password_env} (--smb-password-env) is not set"
        )
    sink = SmbSink(
        args.smb_server,
        args.smb_share,
        username=args.smb_user,
        password=password,
        port=args.smb_port,
        folder=args.smb_folder,
    )
    where = f"\\\\{args.smb_server}\\{args.smb_share}\\{args.smb_folder}".rstrip("\\")
    return sink, where


def _period(
    args: argparse.Namespace, length: timedelta | None, default: timedelta, unit: timedelta
) -> tuple[datetime, datetime | None]:
    now = datetime.now(UTC)
    if args.speed is None:
        length = length or default
        start = args.start if args.start is not None else floor_time(now, HOUR) - length
        start = floor_time(start, unit)
        return start, start + length
    start = floor_time(args.start if args.start is not None else now, unit)
    return start, (start + length) if length is not None else None


def _simulation(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Simulation:
    try:
        if args.command == "tower":
            if args.towers < 1:
                parser.error("--towers must be at least 1")
            days = timedelta(days=args.days) if args.days is not None else None
            start, end = _period(args, days, timedelta(days=1), HOUR)
            settings = TowerSettings(
                start=start,
                end=end,
                seed=args.seed,
                towers=args.towers,
                trays=args.trays,
                faults=parse_faults(args.faults, append=args.append),
                append=args.append,
                realtime=args.speed is not None,
            )
            return TowerSimulation(settings)
        hours = timedelta(hours=args.hours) if args.hours is not None else None
        start, end = _period(args, hours, timedelta(hours=8), MINUTE)
        factory = FactorySettings(
            start=start,
            end=end,
            seed=args.seed,
            bad_rate=args.bad_rate,
            machines=parse_machines(args.machines),
        )
        return FactorySimulation(factory)
    except ValueError as e:
        parser.error(str(e))


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` instead of raising (only in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _summary(stats: PlayStats, where: str, simulation: Simulation) -> str:
    rows = stats.truth.get(f"{simulation.name}-rows", 0)
    state = "stopped" if stats.stopped else "done"
    last = f", simulated up to {iso_z(stats.last_at)}" if stats.last_at else ""
    return (
        f"edge-sim {simulation.name}: {state}: {len(stats.files)} files, {rows} rows{last}; "
        f"ground truth in {where}/{TRUTH_FOLDER}/"
    )


# The first line of a configuration edge-sim writes: only such a file is updated in place.
AGENT_CONFIG_MARK = "# Written by edge-sim"
AGENT_CONFIG_NAME = "edge-agent.yaml"
LOCAL_BROKER: Final = {"host": "localhost", "port": 1883}


def _datasets(args: argparse.Namespace, simulation: Simulation) -> list[str]:
    """The builtin datasets of the files this simulation writes."""
    if isinstance(simulation, TowerSimulation):
        return ["tower", "seeding", "automation", "site"]
    machines = parse_machines(args.machines)
    return [
        name for name, hint in SOURCE_HINTS.items() if hint.folder.rpartition("/")[2] in machines
    ]


def _agent_source(args: argparse.Namespace, name: str) -> dict[str, Any]:
    hint = SOURCE_HINTS[name]
    mode = "append" if args.command == "tower" and args.append else hint.mode
    source: dict[str, Any] = {"name": name, "include": list(hint.include), "mode": mode}
    if args.out is not None:
        source.update(type="local", path=str((args.out / hint.folder).resolve()))
    else:
        source.update(
            type="smb",
            smb={
                "server": args.smb_server,
                "port": args.smb_port,
                "share": args.smb_share,
                "folder": "/".join(p for p in (args.smb_folder.strip("/\\"), hint.folder) if p),
                "username": args.smb_user,
                "passwordEnv": args.smb_password_env,
            },
        )
    return {**source, "dataset": name}


def agent_document(
    args: argparse.Namespace, simulation: Simulation, state_dir: Path, base: dict[str, Any]
) -> dict[str, Any]:
    """An edge-agent configuration reading what this simulation writes, merged into ``base``
    (what edge-sim wrote before for the same output: tower and factory data side by side)."""
    names = _datasets(args, simulation)
    sources = {s["name"]: s for s in base.get("sources", [])}
    sources.update({name: _agent_source(args, name) for name in names})
    document: dict[str, Any] = {
        "thingName": base.get("thingName", "gateway-01"),
        "stateDir": base.get("stateDir", str(state_dir)),
        "sources": list(sources.values()),
        "datasets": {
            **base.get("datasets", {}),
            **{name: builtin_dataset_mapping(name) for name in names},
        },
        # A local broker without TLS; for AWS IoT Core: host, port 8883 and tls (ca, cert, key).
        "publish": base.get(
            "publish", {"target": "mqtt", "mqtt": {"host": "localhost", "port": 1883}}
        ),
        "logging": base.get("logging", {"level": "INFO", "format": "text"}),
    }
    if isinstance(simulation, TowerSimulation):
        document["cea"] = cea_mapping(simulation.settings.site_id)
    elif "cea" in base:
        document["cea"] = base["cea"]
    return document


def _previous(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """What edge-sim wrote at ``path`` before; refuses to overwrite anyone else's file."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    if not text.startswith(AGENT_CONFIG_MARK):
        parser.error(
            f"--agent-config {path}: the file was not written by edge-sim; give a new path"
        )
    document = yaml.safe_load(text)
    return document if isinstance(document, dict) else {}


def write_agent_config(
    args: argparse.Namespace, simulation: Simulation, parser: argparse.ArgumentParser
) -> tuple[Path | None, str]:
    """Write (or, for an SMB share without --agent-config, render) the agent configuration:
    (where it was written or None, the YAML)."""
    path: Path | None = args.agent_config
    if path is None and args.out is not None:
        path = args.out / AGENT_CONFIG_NAME
    base = {} if path is None else _previous(path, parser)
    state_dir = (path.parent if path is not None else Path.cwd()) / "edge-agent-state"
    document = agent_document(args, simulation, state_dir.resolve(), base)
    text = (
        f"{AGENT_CONFIG_MARK} for the files it simulated (edge-sim updates it; edit a copy).\n"
        "# It publishes to an MQTT broker on localhost:1883 without TLS: change publish.mqtt\n"
        "# for yours (AWS IoT Core: its endpoint, port 8883 and tls: {ca, cert, key}).\n"
        + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path, text


def run_hint(path: Path | None, text: str) -> str:
    """The lines that tell how to run edge-agent on what was written."""
    if path is None:
        return (
            "edge-agent configuration for these files (save it as edge-agent.yaml):\n\n"
            f"{text}\nthen: edge-agent run --config edge-agent.yaml"
        )
    return f"edge-agent configuration for these files: {path}\n  edge-agent run --config {path}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edge-sim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    parser = args.command_parser  # errors name the subcommand: "edge-sim tower: error: ..."
    if args.duration is not None and args.speed is None:
        parser.error("--duration needs --speed (it counts wall seconds in real time)")
    simulation = _simulation(args, parser)
    sink, where = _sink(args, parser)
    config_path, config_text = write_agent_config(args, simulation, parser)
    if args.speed is not None and not args.quiet:
        # Real time: the agent is meant to run beside the simulator, so say it first.
        print(run_hint(config_path, config_text), flush=True)
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            stats = run([simulation], sink, speed=args.speed, stop=stop, duration=args.duration)
    except KeyboardInterrupt:
        return 130
    if not args.quiet:
        print(_summary(stats, where, simulation))
        if args.speed is None:
            print(run_hint(config_path, config_text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
