"""Opaque, time-ordered ids and the clock. Times are integer epoch milliseconds in the graph."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """48-bit millisecond time + 80 random bits, base32: sorts by creation time, 26 chars."""
    raw = now_ms().to_bytes(6, "big") + secrets.token_bytes(10)
    return base64.b32encode(raw).decode().lower().rstrip("=")


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
