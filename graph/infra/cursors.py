"""Keyset cursors: the last row's sort value and id (and, for a hype page, a place in each of
its two streams), so pages stay exact while rows are added.

A cursor is opaque: its contents are encrypted and authenticated (Fernet: AES with an HMAC)
under a key derived from the deployment's secret, so a client can hand one back but can
neither read it (a distance in one would tell how far a seller's stored point is) nor make
one up. What comes back is checked all the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken

from graph.infra.errors import Invalid

# what a cursor's sort value can be (epoch ms, minor units, hype, metres) and its id's length
MAX_CURSOR_VALUE = 1e15
MAX_CURSOR_ID = 64

# A hype page merges two streams: listings without a running promotion, and those with one,
# at most `promoted_cap` of the latter per page. Its cursor keeps a position in each ("end"
# once a stream is exhausted), so no listing is skipped or repeated across pages.
Position = tuple[float, str] | Literal["end"] | None


def _malformed() -> Invalid:
    return Invalid("malformed cursor", errors={"cursor": "malformed"})


class Cursors:
    def __init__(self, secret: bytes) -> None:
        key = hmac.new(secret, b"vendr cursors", hashlib.sha256).digest()
        self._box = Fernet(base64.urlsafe_b64encode(key))

    def _seal(self, payload: list[Any]) -> str:
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return self._box.encrypt(raw).decode().rstrip("=")

    def _open(self, cursor: str) -> list[Any]:
        try:
            raw = self._box.decrypt((cursor + "=" * (-len(cursor) % 4)).encode())
            payload = json.loads(raw)
        except (InvalidToken, ValueError, TypeError) as exc:
            raise _malformed() from exc
        if not isinstance(payload, list) or len(payload) != 3:
            raise _malformed()
        return payload

    def encode(self, sort: str, value: Any, last_id: str) -> str:
        return self._seal([sort, value, last_id])

    def decode(self, cursor: str, sort: str) -> tuple[Any, str]:
        kind, value, last_id = self._open(cursor)
        if kind != sort:
            raise Invalid("the cursor belongs to another sort", errors={"cursor": "other sort"})
        return _checked(value, last_id)

    def encode_pair(self, organic: Position, promoted: Position) -> str:
        return self._seal(["hype+", organic, promoted])

    def decode_pair(self, cursor: str) -> tuple[Position, Position]:
        kind, organic, promoted = self._open(cursor)
        if kind != "hype+":
            raise Invalid("the cursor belongs to another sort", errors={"cursor": "other sort"})
        return _position(organic), _position(promoted)


def _checked(value: Any, last_id: Any) -> tuple[Any, str]:
    """A cursor's sort value and last id, or a 422."""
    if (
        not isinstance(last_id, str)
        or not 0 < len(last_id) <= MAX_CURSOR_ID
        or not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)  # json reads Infinity and NaN
        or abs(value) > MAX_CURSOR_VALUE  # and integers of any length
    ):
        raise _malformed()
    return value, last_id


def _position(value: Any) -> Position:
    if value is None or value == "end":
        return value
    if not isinstance(value, list) or len(value) != 2:
        raise _malformed()
    hype, last_id = _checked(*value)
    return float(hype), last_id
