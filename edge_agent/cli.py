"""The ``edge-agent`` command: run, check, status, demo."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import signal
import sys
from collections.abc import Sequence

from edge_agent import __version__
from edge_agent.errors import ConfigError, EdgeAgentError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

log = logging.getLogger("edge_agent.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description="Ships CSV files from folders and SMB shares to AWS IoT Core, row by row, "
        "without loss or silent duplicates.",
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent")
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--config", metavar="PATH", help="YAML/JSON configuration or a Greengrass recipe"
    )
    where.add_argument(
        "--greengrass",
        action="store_true",
        help="inside Greengrass: read the configuration over IPC and follow its updates",
    )

    check = sub.add_parser("check", help="validate a configuration; exit 2 with every problem")
    check.add_argument("--config", metavar="PATH", required=True)

    status = sub.add_parser(
        "status",
        help="what the running or last agent did: sources, files, lag, outbox, health "
        "(read-only; see docs/operations.md)",
    )
    status.add_argument("--state-dir", metavar="DIR", help="the agent's stateDir")
    status.add_argument("--config", metavar="PATH", help="take stateDir from this configuration")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    quarantine = sub.add_parser(
        "quarantine",
        help="list quarantined lines: file, line, reason and the full raw line (read-only)",
    )
    quarantine.add_argument("--config", metavar="PATH", required=True)
    quarantine.add_argument("--source", metavar="NAME", help="only this source")
    quarantine.add_argument(
        "--all", action="store_true", help="also lines of files read again since"
    )
    quarantine.add_argument("--json", action="store_true", help="one JSON object per line")

    demo = sub.add_parser("demo", help="simulators + agent + embedded broker, live view")
    demo.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    demo.add_argument("--speed", type=float, default=600.0, help="simulated seconds per second")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--plain", action="store_true", help="print lines instead of a live view")
    demo.add_argument(
        "--keep",
        metavar="DIR",
        help="run in DIR (new or empty) and leave the configuration, log, data and state there",
    )
    return parser


def _check(path: str) -> int:
    from edge_agent.config.load import load_config  # noqa: PLC0415

    try:
        config = load_config(path)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"{len(e.problems)} problem(s) in {path}", file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"{path}: OK ({len(config.sources)} source(s), {len(config.datasets)} dataset(s), "
        f"publish to {config.publish.target}, thingName {config.thing_name})"
    )
    return EXIT_OK


def _run(path: str) -> int:
    from edge_agent.agent import Agent  # noqa: PLC0415
    from edge_agent.config.load import load_config  # noqa: PLC0415
    from edge_agent.logs import setup_logging  # noqa: PLC0415

    try:
        config = load_config(path)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.logging.level, config.logging.format)
    # `kill -USR1 <pid>` prints every thread's stack: how a stuck gateway is diagnosed.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        asyncio.run(Agent(config).run())
    except ConfigError as e:
        for problem in e.problems:
            log.error("configuration problem", extra={"problem": str(problem)})
        return EXIT_CONFIG
    except EdgeAgentError as e:
        log.error("edge-agent failed", extra={"error": str(e)})
        return EXIT_FAILED
    return EXIT_OK


def _run_greengrass() -> int:
    from edge_agent.logs import setup_logging  # noqa: PLC0415

    setup_logging("INFO", "json")
    try:
        from edge_agent.greengrass.component import run_component  # noqa: PLC0415
    except ImportError:
        log.error("Greengrass support is not installed in this build")
        return EXIT_FAILED
    return run_component()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check(args.config)
    if args.command == "run":
        return _run_greengrass() if args.greengrass else _run(args.config)
    if args.command == "status":
        from edge_agent.status import show_status  # noqa: PLC0415

        return show_status(state_dir=args.state_dir, config_path=args.config, as_json=args.json)
    if args.command == "quarantine":
        from edge_agent.quarantine_list import show_quarantine  # noqa: PLC0415

        return show_quarantine(
            config_path=args.config, source=args.source, show_all=args.all, as_json=args.json
        )
    if args.command == "demo":
        from edge_agent.demo import run_demo  # noqa: PLC0415

        return run_demo(
            duration=args.duration,
            speed=args.speed,
            seed=args.seed,
            plain=args.plain,
            keep=args.keep,
        )
    return EXIT_FAILED  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":
    sys.exit(main())
