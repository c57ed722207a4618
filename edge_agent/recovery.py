"""``edge-agent reingest``: read files again after a fix, on demand.

A file that failed whole, or had rows quarantined, is read again by itself once its dataset's
configuration changed (see ``reading/plan.py``). This command does it on demand, for files
named by path or for every failed or quarantined file of a source: it marks them in the ledger,
and the agent reads each again from the start as a new version, with new batchIds (a running
agent within ``rescanSeconds``, a stopped one when it starts). It works beside a running agent:
it only writes a flag in the state database.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from edge_agent.config.models import AgentConfig
from edge_agent.errors import ConfigError, ConfigProblem
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import Ledger


def source_relative(config: AgentConfig, source: str, path: str) -> str:
    """A path as the ledger keys it: relative to the source's root, with '/' separators.
    An absolute path under a local source's folder is made relative to it."""
    settings = config.source(source)
    text = path.replace("\\", "/")
    if settings.type == "local" and settings.path is not None and Path(text).is_absolute():
        root = Path(settings.path).expanduser().absolute()
        try:
            return Path(text).relative_to(root).as_posix()
        except ValueError:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"sources[{source}].path",
                        f"{path} is not under the source's folder {root}",
                        "give a path relative to the source's folder",
                    )
                ]
            ) from None
    return text.lstrip("/")


def reingest(
    config: AgentConfig,
    source: str,
    paths: Sequence[str] = (),
    *,
    failed: bool = False,
    quarantined: bool = False,
) -> list[str]:
    """Mark files of ``source`` to be read again; returns the paths marked."""
    try:
        config.source(source)
    except KeyError:
        names = ", ".join(s.name for s in config.sources)
        raise ConfigError(
            [ConfigProblem("--source", f"no source named {source!r}", f"sources: {names}")]
        ) from None
    relative = [source_relative(config, source, p) for p in paths]
    db = StateDB(config.state_dir)
    try:
        return Ledger(db).request_reread(source, relative, failed=failed, quarantined=quarantined)
    finally:
        db.close()


def run_reingest(
    config: AgentConfig,
    source: str,
    paths: Sequence[str],
    *,
    failed: bool,
    quarantined: bool,
) -> int:
    """The command: mark, and say what happens next; exit 0, or 1 when nothing matched."""
    marked = reingest(config, source, paths, failed=failed, quarantined=quarantined)
    if not marked:
        what = ", ".join(paths) or ("failed" if failed else "") or "quarantined"
        print(f"no file of source {source!r} matches ({what}); nothing to do", file=sys.stderr)
        return 1
    for path in marked:
        print(f"{source}: {path}")
    rescan = config.source(source).rescan_seconds
    print(
        f"{len(marked)} file(s) will be read again as a new version with new batchIds: by a "
        f"running agent within {rescan:.0f} s (rescanSeconds), or by the agent's next start"
    )
    return 0
