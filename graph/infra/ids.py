"""Opaque, time-ordered ids and the clock. Times are integer epoch milliseconds in the graph."""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_last = 0
_lock = threading.Lock()


# Crockford's base32 alphabet is in ASCII order, so ids compare as text as they do as numbers
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
ID_LENGTH = 26


def new_id() -> str:
    """48-bit millisecond time + 80 random bits in 26 characters (a ULID). Ids sort by creation
    time; those one process makes sort in the order it made them, within a millisecond too."""
    global _last
    with _lock:
        value = max((now_ms() << 80) | secrets.randbits(80), _last + 1)
        _last = value
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -5, -5))


def id_time_ms(value: str) -> int | None:
    """The creation time inside an id from `new_id`, or None when it is not one."""
    if len(value) != ID_LENGTH or any(c not in _INDEX for c in value):
        return None
    number = 0
    for c in value:
        number = number * 32 + _INDEX[c]
    return number >> 80


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def event(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parameters every state-changing statement needs to append its Event in the same statement."""
    return {
        "event_id": new_id(),
        "now": now_ms(),
        "event_data": json.dumps(data or {}, separators=(",", ":")),
    }
