"""The README's test line sets a fresh Debian/Ubuntu machine up by itself, and .ci/run runs
exactly that line: the install script installs what is missing (through sudo when not root)
and nothing when everything is there."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "prerequisites.sh"
SERVERS = ("mosquitto", "smbd", "pdbedit", "smbclient", "faketime")


def readme_test_line() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("Set up and pass the tests", 1)[1]
    [line] = re.findall(r"```sh\n(.*?)\n```", section, re.S)[:1]
    return line


def test_ci_runs_exactly_the_readme_line_and_the_line_installs_first() -> None:
    line = readme_test_line()
    commands = [
        text
        for text in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if text and not text.startswith(("#", "set ", "cd "))
    ]
    assert commands == [line]
    assert line.startswith("sh scripts/prerequisites.sh && python3 -m venv .venv && ")
    assert line.endswith(".venv/bin/python -m pytest")


def _stub(folder: Path, name: str, body: str = "exit 0") -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _run(
    tmp_path: Path,
    *,
    present: tuple[str, ...],
    uid: int,
    sudo: bool = True,
    venv: bool = True,
    args: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The script with stand-ins: `servers` holds the present servers, `bin` apt-get, sudo,
    id and python3, which record how they were called."""
    servers, bin_dir = tmp_path / "servers", tmp_path / "bin"
    servers.mkdir()
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for name in present:
        _stub(servers, name)
    record = f'echo "$(basename "$0") $*" >> {calls}'
    _stub(bin_dir, "apt-get", record)
    _stub(bin_dir, "id", f"echo {uid}")
    _stub(bin_dir, "python3", "exit 0" if venv else "exit 1")
    if sudo:
        _stub(bin_dir, "sudo", f'{record}\nexec "$@"')
    result = subprocess.run(
        ["/bin/sh", str(SCRIPT), *args],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "EDGE_AGENT_SETUP_PATH": str(servers),
            "HOME": os.environ.get("HOME", "/root"),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    made = calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []
    return result, made


def test_nothing_is_installed_when_everything_is_there(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, present=SERVERS, uid=1000)
    assert result.returncode == 0, result.stderr
    assert calls == []
    assert result.stderr == ""


def test_what_is_missing_is_installed_through_sudo_when_not_root(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, present=("smbd", "smbclient"), uid=1000, venv=False)
    assert result.returncode == 0, result.stderr
    install = "apt-get install -y -qq mosquitto samba faketime python3-venv"
    assert calls == [
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq",
        "apt-get update -qq",
        f"sudo env DEBIAN_FRONTEND=noninteractive {install}",
        install,
    ]
    assert "installing mosquitto samba faketime python3-venv" in result.stderr


def test_root_installs_without_sudo(tmp_path: Path) -> None:
    result, calls = _run(
        tmp_path, present=("mosquitto", "smbd", "pdbedit", "smbclient"), uid=0, sudo=False
    )
    assert result.returncode == 0, result.stderr
    assert calls == ["apt-get update -qq", "apt-get install -y -qq faketime"]


def test_without_root_or_sudo_it_says_what_is_missing_and_how(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, present=(), uid=1000, sudo=False)
    assert result.returncode == 1
    assert calls == []
    assert "missing: mosquitto samba smbclient faketime" in result.stderr
    assert "run this as root, or install sudo" in result.stderr


def test_the_demo_needs_only_the_venv_module(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, present=(), uid=0, venv=False, args=("demo",))
    assert result.returncode == 0, result.stderr
    assert calls == ["apt-get update -qq", "apt-get install -y -qq python3-venv"]


def test_the_readme_demo_line_sets_up_first() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("Run the demo", 1)[1]
    [line] = re.findall(r"```sh\n(.*?)\n```", section, re.S)[:1]
    assert line.startswith("sh scripts/prerequisites.sh demo && python3 -m venv .venv && ")
    assert line.endswith(".venv/bin/edge-agent demo")


def test_an_unknown_purpose_is_refused(tmp_path: Path) -> None:
    result, _calls = _run(tmp_path, present=SERVERS, uid=0, args=("everything",))
    assert result.returncode == 2
    assert "usage" in result.stderr
