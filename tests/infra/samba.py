"""A real Samba ``smbd`` for tests: private config, own user and shares, on a free loopback port.

``samba`` (session scope) starts one server for the whole run; ``smb_folder`` gives each test
its own folder inside the share. The server is a child of the test process (``Popen`` then
``terminate()`` + ``wait()``), so nothing outlives the run and nothing is killed by name.

Shares:
- ``share`` (``data``): read-write, the one tests use;
- ``encrypted_share`` (``secure``): ``smb encrypt = required``;
- ``readonly_share`` (``readonly``): ``read only = yes``, for access-denied paths.
"""

from __future__ import annotations

import contextlib
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import smbclient

SAMBA_USER = "edgeagent"
SAMBA_PASSWORD = "Edge-Agent-Test-1"  # test-only account on a loopback-only server
READY_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0

_CONFIG = """\
[global]
    server role = standalone server
    workgroup = WORKGROUP
    netbios name = EDGETEST
    interfaces = 127.0.0.1
    bind interfaces only = yes
    smb ports = {port}
    disable netbios = yes
    kernel change notify = yes
    lock directory = {root}/lock
    state directory = {root}/state
    cache directory = {root}/cache
    private dir = {root}/private
    pid directory = {root}/pid
    ncalrpc dir = {root}/ncalrpc
    passdb backend = tdbsam:{root}/private/passdb.tdb
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    map to guest = never
    log level = 1
    max log size = 0

[{share}]
    path = {share_path}
    read only = no
    valid users = {user}
    force user = root

[{encrypted_share}]
    path = {encrypted_path}
    read only = no
    valid users = {user}
    force user = root
    smb encrypt = required

[{readonly_share}]
    path = {readonly_path}
    read only = yes
    valid users = {user}
    force user = root
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ensure_unix_user(name: str) -> None:
    """Samba accounts need a Unix account; create a login-less one once per machine."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        result = subprocess.run(
            ["useradd", "-M", "-s", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
            check=False,
        )
        # 9 = the user exists (another test run created it meanwhile): fine.
        if result.returncode not in (0, 9):
            raise RuntimeError(f"useradd {name} failed: {result.stderr.strip()}") from None


class SambaServer:
    """One smbd process with its own config, passdb, state and shares under ``root``."""

    host = "127.0.0.1"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.username = SAMBA_USER
        self.password = SAMBA_PASSWORD
        self.share = "data"
        self.encrypted_share = "secure"
        self.readonly_share = "readonly"
        self.share_path = root / "shares" / self.share
        self.encrypted_share_path = root / "shares" / self.encrypted_share
        self.readonly_share_path = root / "shares" / self.readonly_share
        self.config_path = root / "smb.conf"
        self.log_path = root / "smbd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._configure()

    def _configure(self) -> None:
        for sub in ("lock", "state", "cache", "private", "pid", "ncalrpc"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for path in (self.share_path, self.encrypted_share_path, self.readonly_share_path):
            path.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            _CONFIG.format(
                port=self.port,
                root=self.root,
                share=self.share,
                share_path=self.share_path,
                encrypted_share=self.encrypted_share,
                encrypted_path=self.encrypted_share_path,
                readonly_share=self.readonly_share,
                readonly_path=self.readonly_share_path,
                user=self.username,
            )
        )
        _ensure_unix_user(self.username)
        subprocess.run(
            ["pdbedit", "-s", str(self.config_path), "-a", "-u", self.username, "-t"],
            input=f"{self.password}\n{self.password}\n".encode(),
            capture_output=True,
            check=True,
        )

    @property
    def running(self) -> bool:
        """Whether smbd is up (started and not exited)."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start smbd (same port and config as before) and wait until it accepts connections."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    "smbd",
                    "--foreground",
                    "--no-process-group",
                    "--debug-stdout",
                    "-s",
                    str(self.config_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # smbd signals its whole process group when it stops: give it its own group
                # (it does not make one itself with --no-process-group) so pytest is spared.
                process_group=0,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"smbd exited with {self._proc.returncode}; log:\n{self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5),
            ):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"smbd not ready on port {self.port} after {READY_TIMEOUT_SECONDS}s; "
                    f"log:\n{self.log_tail()}"
                )
            time.sleep(0.05)  # bounded by the deadline above: readiness takes ~0.2 s

    def stop(self) -> None:
        """Stop smbd; its per-connection children exit with it, dropping every client."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stop and start again on the same port, as a rebooted file server would."""
        self.stop()
        self.start()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of smbd's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def unc(self, *parts: str, share: str | None = None) -> str:
        """A UNC path on this server (``\\\\127.0.0.1\\data\\a\\b``)."""
        tail = "\\".join(p.replace("/", "\\") for p in parts if p)
        base = rf"\\{self.host}\{share or self.share}"
        return f"{base}\\{tail}" if tail else base


@pytest.fixture(scope="session")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaServer]:
    """A running smbd for the whole test session (tests that stop it must start it again)."""
    if shutil.which("smbd") is None or shutil.which("pdbedit") is None:
        pytest.fail("smbd/pdbedit not found: apt-get install -y samba smbclient (see .ci/run)")
    server = SambaServer(tmp_path_factory.mktemp("samba"))
    server.start()
    try:
        yield server
    finally:
        smbclient.reset_connection_cache(fail_on_error=False)
        server.stop()


@pytest.fixture
def smb_folder(samba: SambaServer) -> Iterator[str]:
    """A fresh folder inside ``samba.share`` for one test; returns its name relative to the share.

    Also makes sure smbd is running at the start (a previous test may have stopped it) and that
    no smbclient session cached by this test leaks into the next one.
    """
    if not samba.running:
        samba.start()
    name = f"t-{uuid.uuid4().hex[:12]}"
    (samba.share_path / name).mkdir()
    try:
        yield name
    finally:
        smbclient.reset_connection_cache(fail_on_error=False)
        if not samba.running:
            samba.start()
