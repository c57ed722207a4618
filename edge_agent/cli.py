"""The ``edge-agent`` command: run, check, status, infer, demo."""

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

    infer = sub.add_parser(
        "infer", help="propose the dataset configuration that reads FILE (YAML on stdout)"
    )
    infer.add_argument("file", metavar="FILE")
    infer.add_argument("--name", help="dataset name (default: from the file name)")
    infer.add_argument(
        "--timezone", metavar="ZONE", help="zone of the file's times if the file does not say it"
    )

    demo = sub.add_parser("demo", help="simulators + agent + embedded broker, live view")
    demo.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    demo.add_argument("--speed", type=float, default=600.0, help="simulated seconds per second")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--plain", action="store_true", help="print lines instead of a live view")
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


def _infer(path: str, name: str | None, timezone: str | None) -> int:
    from edge_agent.csvread.zones import ZoneError, parse_zone  # noqa: PLC0415
    from edge_agent.infer import InferError, infer_yaml  # noqa: PLC0415

    try:
        if timezone is not None:
            parse_zone(timezone)
        print(infer_yaml(path, name=name, timezone=timezone), end="")
    except (InferError, ZoneError) as e:
        print(f"edge-agent infer: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as e:
        print(f"edge-agent infer: cannot read {path}: {e.strerror or e}", file=sys.stderr)
        return EXIT_CONFIG
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
    if args.command == "infer":
        return _infer(args.file, args.name, args.timezone)
    if args.command == "demo":
        from edge_agent.demo import run_demo  # noqa: PLC0415

        return run_demo(duration=args.duration, speed=args.speed, seed=args.seed, plain=args.plain)
    return EXIT_FAILED  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":
    sys.exit(main())
