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
from edge_agent.errors import ConfigError, ConfigProblem, EdgeAgentError
from edge_agent.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from edge_agent.extras import MissingExtraError, config_problems

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

    check = sub.add_parser(
        "check", help="validate a configuration and this machine; exit 2 with every problem"
    )
    check.add_argument("--config", metavar="PATH", required=True)
    check.add_argument(
        "--probe",
        action="store_true",
        help="also connect: MQTT CONNECT to the broker, SMB logon and listing of each share",
    )

    reingest = sub.add_parser(
        "reingest",
        help="read files again (as a new version) after a fix: named files, or every failed "
        "or quarantined file of a source; works beside a running agent",
    )
    reingest.add_argument("--config", metavar="PATH", required=True)
    reingest.add_argument("--source", metavar="NAME", required=True)
    reingest.add_argument("paths", nargs="*", metavar="PATH", help="files of that source")
    reingest.add_argument("--failed", action="store_true", help="every file that failed whole")
    reingest.add_argument(
        "--quarantined", action="store_true", help="every file with quarantined rows"
    )

    status = sub.add_parser(
        "status",
        help="what the running or last agent did: sources, files, lag, outbox, health "
        "(read-only; see docs/operations.md)",
    )
    status.add_argument("--state-dir", metavar="DIR", help="the agent's stateDir")
    status.add_argument("--config", metavar="PATH", help="take stateDir from this configuration")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    preview = sub.add_parser(
        "preview",
        help="the agent's reading pass over a local FILE, no broker, no state: first and last "
        "records and every quarantine entry as they would be published",
    )
    preview.add_argument("--config", metavar="PATH", required=True)
    preview.add_argument("--dataset", metavar="NAME", help="the dataset that reads FILE")
    preview.add_argument("file", metavar="FILE")
    preview.add_argument("--rows", type=int, default=5, metavar="N", help="first and last N")

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
    demo.add_argument(
        "--keep",
        metavar="DIR",
        help="run in DIR (new or empty) and leave the configuration, log, data and state there",
    )
    return parser


def _refused(problems: list[ConfigProblem], path: str) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
    return EXIT_CONFIG


def _check(path: str, *, probe: bool) -> int:
    from edge_agent.config.check import run_check  # noqa: PLC0415

    return EXIT_OK if run_check(path, probe=probe) else EXIT_CONFIG


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


def _preview(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from edge_agent.config.load import load_config  # noqa: PLC0415
    from edge_agent.reading.preview import show_preview  # noqa: PLC0415

    # The preview prints what the pass noticed itself; the pass's log lines would repeat it.
    logging.getLogger("edge_agent").setLevel(logging.ERROR)
    try:
        config = load_config(args.config)
        return show_preview(config, Path(args.file), dataset=args.dataset, rows=args.rows)
    except ConfigError as e:
        return _refused(e.problems, args.config)


def _run(path: str) -> int:
    from edge_agent.agent import Agent  # noqa: PLC0415
    from edge_agent.config.load import load_config  # noqa: PLC0415
    from edge_agent.logs import setup_logging  # noqa: PLC0415

    try:
        config = load_config(path)
    except ConfigError as e:
        return _refused(e.problems, path)
    if missing := config_problems(config):
        return _refused(missing, path)
    setup_logging(config.logging.level, config.logging.format)
    # `kill -USR1 <pid>` prints every thread's stack: how a stuck gateway is diagnosed.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        asyncio.run(Agent(config).run())
    except Exception as e:  # noqa: BLE001 - the process ends here: one clear line, an exit code
        return _fatal(e)
    return EXIT_OK


def _leaves(error: BaseException) -> list[BaseException]:
    """The errors inside an exception group (the agent's TaskGroup raises one), flattened."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _fatal(error: Exception) -> int:
    """Say why the agent stopped, one line per cause (the traceback goes to the log at DEBUG),
    and return the documented exit code: 2 for the configuration, 1 for anything else."""
    leaves = _leaves(error)
    code = EXIT_FAILED
    for leaf in leaves:
        if isinstance(leaf, ConfigError):
            code = EXIT_CONFIG
            for problem in leaf.problems:
                log.error("configuration problem", extra={"problem": str(problem)})
        elif isinstance(leaf, EdgeAgentError):
            log.error("edge-agent stopped: %s", leaf, extra={"error": str(leaf)})
        else:
            log.error(
                "edge-agent stopped on an unexpected error: %s: %s (a bug: please report it "
                "with the log; run with logging.level DEBUG for the traceback)",
                type(leaf).__name__,
                leaf,
            )
        log.debug("traceback", exc_info=leaf)
    return code


def _reingest(args: argparse.Namespace) -> int:
    from edge_agent.config.load import load_config  # noqa: PLC0415
    from edge_agent.recovery import run_reingest  # noqa: PLC0415

    if not (args.paths or args.failed or args.quarantined):
        print("name files, or give --failed and/or --quarantined", file=sys.stderr)
        return EXIT_CONFIG
    try:
        config = load_config(args.config)
        return run_reingest(
            config, args.source, args.paths, failed=args.failed, quarantined=args.quarantined
        )
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG


def _run_greengrass() -> int:
    from edge_agent.logs import setup_logging  # noqa: PLC0415

    setup_logging("INFO", "json")
    # Only a missing optional package is reported here; any other ImportError is a bug and
    # propagates with its traceback.
    try:
        from edge_agent.greengrass.component import run_component  # noqa: PLC0415
    except MissingExtraError as e:
        log.error("cannot run as a Greengrass component", extra={"error": str(e)})
        return EXIT_FAILED
    return run_component()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check(args.config, probe=args.probe)
    if args.command == "run":
        return _run_greengrass() if args.greengrass else _run(args.config)
    if args.command == "reingest":
        return _reingest(args)
    if args.command == "status":
        from edge_agent.status import show_status  # noqa: PLC0415

        return show_status(state_dir=args.state_dir, config_path=args.config, as_json=args.json)
    if args.command == "infer":
        return _infer(args.file, args.name, args.timezone)
    if args.command == "preview":
        return _preview(args)
    if args.command == "quarantine":
        from edge_agent.quarantine_list import show_quarantine  # noqa: PLC0415

        return show_quarantine(
            config_path=args.config, source=args.source, show_all=args.all, as_json=args.json
        )
    if args.command == "demo":
        try:
            from edge_agent.demo import run_demo  # noqa: PLC0415
        except MissingExtraError as e:
            print(f"edge-agent demo: {e}", file=sys.stderr)
            return EXIT_FAILED
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
