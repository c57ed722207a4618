"""The SMB sink: the same file operations on a share, through smbprotocol's ``smbclient``.

The sink keeps its own connection cache, so closing it never disturbs other SMB clients in the
same process (the agent under test, for one). ``port`` is passed on every call: smbclient
caches connections per server and port.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import smbclient

from simulators.sinks import HandleSink, check_relative


class SmbSink(HandleSink):
    """Files under ``\\\\server\\share\\folder`` on an SMB share."""

    def __init__(
        self,
        server: str,
        share: str,
        *,
        username: str,
        password: str,
        port: int = 445,
        folder: str = "",
        connection_timeout: float = 30,
    ) -> None:
        super().__init__()
        self._server = server
        self._port = port
        self._cache: dict[str, Any] = {}
        self._root = "\\\\" + server + "\\" + share
        folder = folder.replace("\\", "/").strip("/")
        if folder:
            self._root += "\\" + folder.replace("/", "\\")
        self._made: set[str] = set()
        smbclient.register_session(
            server,
            username=username,
            password=password,
            port=port,
            connection_timeout=connection_timeout,
            connection_cache=self._cache,
        )
        self._makedirs(self._root)

    def _kw(self) -> dict[str, Any]:
        return {"port": self._port, "connection_cache": self._cache}

    def _makedirs(self, unc: str) -> None:
        if unc not in self._made:
            smbclient.makedirs(unc, exist_ok=True, **self._kw())
            self._made.add(unc)

    def _unc(self, path: str) -> str:
        parts = check_relative(path).parts
        parent = "\\".join((self._root, *parts[:-1]))
        self._makedirs(parent)
        return parent + "\\" + parts[-1]

    def _write_file(self, path: str, data: bytes) -> None:
        with smbclient.open_file(self._unc(path), mode="wb", share_access="rwd", **self._kw()) as f:
            f.write(data)

    def _open_for_append(self, path: str) -> BinaryIO:
        # The handle stays open, as the equipment's writer keeps it; readers need
        # share_access="rw" to open it meanwhile.
        handle: BinaryIO = smbclient.open_file(
            self._unc(path), mode="ab", buffering=0, share_access="rwd", **self._kw()
        )
        return handle

    def _replace(self, src: str, dst: str) -> None:
        smbclient.replace(self._unc(src), self._unc(dst), **self._kw())

    def _utime(self, path: str, stamp: float) -> None:
        smbclient.utime(self._unc(path), times=(stamp, stamp), **self._kw())

    def close_all(self) -> None:
        """Close every open handle and this sink's connections."""
        super().close_all()
        smbclient.reset_connection_cache(connection_cache=self._cache)
