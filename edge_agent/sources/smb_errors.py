"""What smbprotocol's errors mean for a source: gone, reconnect, or a setting to fix.

NTSTATUS codes and socket errors sorted into the few cases the SMB source acts on, the hints a
technician gets for a refused logon or permission, and how to let go of a handle whose
connection died.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from edge_agent.extras import optional_dependency

with optional_dependency("smb"):
    from smbprotocol.exceptions import (
        SMBConnectionClosed,
        SMBException,
        SMBOSError,
        SMBResponseException,
    )
    from smbprotocol.header import NtStatus

log = logging.getLogger("edge_agent.sources.smb")

_T = TypeVar("_T")

GONE = {
    NtStatus.STATUS_OBJECT_NAME_NOT_FOUND,
    NtStatus.STATUS_OBJECT_PATH_NOT_FOUND,
    NtStatus.STATUS_NOT_FOUND,
    NtStatus.STATUS_NO_SUCH_FILE,
    NtStatus.STATUS_DELETE_PENDING,
    NtStatus.STATUS_FILE_IS_A_DIRECTORY,
}
# The server forgot our tree or session (admin closed the share, restart, session expired
# 0xC000035C): log on again and retry.
RECONNECT = {
    NtStatus.STATUS_NETWORK_NAME_DELETED,
    NtStatus.STATUS_USER_SESSION_DELETED,
    0xC000035C,
}
# What a dead socket looks like when smbprotocol uses it (EBADF: it closed the socket itself).
SOCKET_ERRNOS = {errno.EBADF, errno.EPIPE, errno.ENOTCONN, errno.ENETDOWN, errno.ENETUNREACH}
HINT_LOGON = (
    "check smb.username (and smb.domain) and the password (smb.password, the variable named "
    "by smb.passwordEnv, or the secret smb.passwordSecretId)"
)
HINT_ACCOUNT = (
    "ask the server's administrator to enable or unlock the account or renew its password"
)
HINT_PERMISSION = (
    "give the user read (and for move/delete: change) permission on the share and folder"
)
ACCOUNT = {  # NTSTATUS of a refused logon -> (reason, hint)
    NtStatus.STATUS_LOGON_FAILURE: ("logon failure: wrong username or password", HINT_LOGON),
    NtStatus.STATUS_WRONG_PASSWORD: ("logon failure: wrong password", HINT_LOGON),
    NtStatus.STATUS_PASSWORD_EXPIRED: ("the account's password has expired", HINT_ACCOUNT),
    0xC0000224: ("the account's password must be changed", HINT_ACCOUNT),
    0xC0000072: ("the account is disabled", HINT_ACCOUNT),
    0xC0000234: ("the account is locked out", HINT_ACCOUNT),
    0xC0000193: ("the account has expired", HINT_ACCOUNT),
    0xC000006E: ("the account may not log on here", HINT_ACCOUNT),
    0xC000006F: ("the account may not log on at this hour", HINT_ACCOUNT),
    0xC0000070: ("the account may not log on from this gateway", HINT_ACCOUNT),
}
STATUS_NAMES = {v: k for k, v in vars(NtStatus).items() if k.startswith("STATUS_")}


def status_of(err: BaseException) -> int | None:
    if isinstance(err, SMBOSError):
        return int(err.ntstatus)
    if isinstance(err, SMBResponseException):
        return int(err.status)
    return None


def status_name(status: int) -> str:
    name: str | None = STATUS_NAMES.get(status)
    return name or f"NTSTATUS 0x{status:08x}"


def connection_lost(err: BaseException) -> bool:
    """The connection or session is gone, so a fresh one may succeed."""
    if isinstance(err, SMBConnectionClosed | ConnectionError | TimeoutError):
        return True
    if isinstance(err, OSError) and not isinstance(err, SMBOSError):
        return err.errno in SOCKET_ERRNOS
    return status_of(err) in RECONNECT


def is_gone(err: BaseException) -> bool:
    return status_of(err) in GONE


def unless_gone(call: Callable[[], _T], *, allowed: bool = True) -> _T | None:
    """``call()``, or None if the file or folder it names does not exist (when ``allowed``)."""
    try:
        return call()
    except SMBOSError as err:
        if allowed and is_gone(err):
            return None
        raise


def abandon(handle: Any) -> None:
    """Close an smbclient handle; if its connection is already dead, just forget it."""
    try:
        handle.close()
    except (SMBException, OSError) as err:
        log.debug("closing an SMB handle on a dead connection: %s", err)
        # smbclient warns about unclosed handles at garbage collection; there is no public
        # way to mark a handle closed whose connection is gone (private API: see pyproject's
        # upper bound on smbprotocol).
        handle.fd._connected = False
