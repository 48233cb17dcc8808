"""Keyset cursors: the last row's sort value and id (and, for a hype page, a place in each of
its two streams), so pages stay exact while listings are added. What a client sends back is
checked, never trusted.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any, Literal

from graph.infra.errors import Invalid

# what a cursor's sort value can be (epoch ms, minor units, hype, metres) and its id's length
MAX_CURSOR_VALUE = 1e15
MAX_CURSOR_ID = 64


def encode_cursor(sort: str, value: Any, last_id: str) -> str:
    raw = json.dumps([sort, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, value, last_id = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise Invalid("malformed cursor", errors={"cursor": "malformed"}) from exc
    if kind != sort:
        raise Invalid("the cursor belongs to another sort", errors={"cursor": "other sort"})
    return _checked(value, last_id)


def _checked(value: Any, last_id: Any) -> tuple[Any, str]:
    """A cursor's sort value and last id, or a 422: what a client sends back is not trusted."""
    if (
        not isinstance(last_id, str)
        or not 0 < len(last_id) <= MAX_CURSOR_ID
        or not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)  # json reads Infinity and NaN
        or abs(value) > MAX_CURSOR_VALUE  # and integers of any length
    ):
        raise Invalid("malformed cursor", errors={"cursor": "malformed"})
    return value, last_id


# A hype page merges two streams: listings without a running promotion, and those with one,
# at most `promoted_cap` of the latter per page. Its cursor keeps a position in each ("end"
# once a stream is exhausted), so no listing is skipped or repeated across pages.
Position = tuple[float, str] | Literal["end"] | None


def encode_pair(organic: Position, promoted: Position) -> str:
    raw = json.dumps(["hype+", organic, promoted], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_pair(cursor: str) -> tuple[Position, Position]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, organic, promoted = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise Invalid("malformed cursor", errors={"cursor": "malformed"}) from exc
    if kind != "hype+":
        raise Invalid("the cursor belongs to another sort", errors={"cursor": "other sort"})
    return _position(organic), _position(promoted)


def _position(value: Any) -> Position:
    if value is None or value == "end":
        return value
    if not isinstance(value, list) or len(value) != 2:
        raise Invalid("malformed cursor", errors={"cursor": "malformed"})
    hype, last_id = _checked(*value)
    return float(hype), last_id
