"""The validity period of PEM certificates, read without a crypto library.

Python's ssl module loads certificates but does not show a file's dates (except for CA
certificates, after loading them); the agent does not depend on ``cryptography``. The
validity is near the start of every X.509 certificate (RFC 5280 4.1), so a few lines of DER
reading find it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)
_SEQUENCE, _VERSION, _UTC_TIME, _GENERALIZED_TIME = 0x30, 0xA0, 0x17, 0x18


class CertificateError(ValueError):
    """The text is not a PEM certificate that can be read."""


@dataclass(frozen=True)
class Validity:
    """When a certificate may be used: from ``not_before`` to ``not_after`` (UTC)."""

    not_before: datetime
    not_after: datetime


def pem_validities(text: str) -> list[Validity]:
    """The validity of each certificate in PEM ``text`` (a chain or bundle), in order."""
    out = []
    for block in _PEM.findall(text):
        try:
            der = base64.b64decode("".join(block.split()), validate=True)
        except binascii.Error:
            raise CertificateError("a CERTIFICATE block is not valid base64") from None
        out.append(validity(der))
    return out


def validity(der: bytes) -> Validity:
    """The validity of one DER certificate."""
    try:
        _, start, _ = _element(der, 0, _SEQUENCE)  # Certificate
        _, pos, _ = _element(der, start, _SEQUENCE)  # TBSCertificate
        if der[pos] == _VERSION:
            pos = _element(der, pos)[2]
        for _ in range(3):  # serialNumber, signature, issuer
            pos = _element(der, pos)[2]
        _, pos, _ = _element(der, pos, _SEQUENCE)  # Validity
        not_before, pos = _time(der, pos)
        not_after, _ = _time(der, pos)
    except (IndexError, ValueError) as e:
        raise CertificateError(f"not a readable X.509 certificate ({e})") from None
    return Validity(not_before, not_after)


def _element(der: bytes, pos: int, tag: int | None = None) -> tuple[int, int, int]:
    """(tag, start of content, end) of the DER element at ``pos``."""
    found = der[pos]
    if tag is not None and found != tag:
        raise ValueError(f"tag {found:#x} at byte {pos}, expected {tag:#x}")
    length, pos = der[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        length, pos = int.from_bytes(der[pos : pos + count], "big"), pos + count
    if pos + length > len(der):
        raise ValueError("truncated")
    return found, pos, pos + length


def _time(der: bytes, pos: int) -> tuple[datetime, int]:
    tag, start, end = _element(der, pos)
    text = der[start:end].decode("ascii")
    if tag == _UTC_TIME:  # YYMMDDHHMMSSZ; RFC 5280: YY >= 50 is 19YY
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise ValueError(f"tag {tag:#x} where a time should be")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC), end
