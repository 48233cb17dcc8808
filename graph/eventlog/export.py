"""The event log out of the graph: JSON Lines for analysts' own tools (`vendr events export`).

Events are append-only, so a page is "the next N events after the last one written", ordered by
(at, id): a keyset, not SKIP, so each page costs the same however far in and an export started
while the app writes never repeats or skips a row. Each line is one event with its `data` decoded:
for a source event (graph/infra/events/) its `via` statement, `version` and facts, which
`vendr events replay` applies to another graph.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from graph.infra.events import parse
from graph.infra.store.cypher import statement
from graph.infra.store.port import GraphStore

PAGE = 2000

# `$types` is null for every type. The (at, id) keyset: strictly after the last row written.
_FILTER = """
WHERE e.at >= $since AND ($types IS NULL OR e.type IN $types)
"""

COUNT_EVENTS = statement(
    "export.count_events",
    "MATCH (e:Event)" + _FILTER + "RETURN count(e) AS n",
)

EVENTS_PAGE = statement(
    "export.events_page",
    "MATCH (e:Event)"
    + _FILTER
    + """
  AND (e.at > $after_at OR (e.at = $after_at AND e.id > $after_id))
RETURN e.id AS id, e.type AS type, e.at AS at, e.actor_id AS actor_id,
       e.subject_id AS subject_id, e.data AS data
ORDER BY e.at, e.id
LIMIT $limit
""",
)

_SPAN = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_since(text: str, now_ms: int | None = None) -> int:
    """`7d`, `24h`, `90m` back from now, or an ISO date/time (UTC unless it names a zone)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    span = _SPAN.fullmatch(text.strip().lower())
    if span:
        return now_ms - int(span.group(1)) * _UNIT_MS[span.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since wants a span like 7d, 24h, 30m or an ISO date like 2026-11-01, got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _decode(data: Any) -> Any:
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def shaped(row: dict[str, Any]) -> dict[str, Any]:
    """An event as a line of the export: a source event's statement and version beside its
    type, and its facts as `data`; any other event's `data` as it holds it."""
    data = _decode(row["data"])
    source = parse(data)
    if source is None:
        return row | {"data": data}
    via, version, facts = source
    erased = {"erased": True} if isinstance(data, dict) and data.get("erased") else {}
    return row | {"version": version, "via": via, "data": facts} | erased


def _filters(since_ms: int, types: Sequence[str] | None) -> dict[str, Any]:
    return {"since": since_ms, "types": list(types) if types else None}


async def count_events(store: GraphStore, since_ms: int, types: Sequence[str] | None) -> int:
    rows = await store.run(COUNT_EVENTS, _filters(since_ms, types))
    return int(rows[0]["n"])


async def events(
    store: GraphStore, since_ms: int, types: Sequence[str] | None, page: int = PAGE
) -> AsyncIterator[dict[str, Any]]:
    """Every matching event, oldest first, read a page at a time."""
    after_at, after_id = -1, ""
    while True:
        rows = await store.run(
            EVENTS_PAGE,
            _filters(since_ms, types) | {"after_at": after_at, "after_id": after_id, "limit": page},
        )
        for row in rows:
            yield shaped(row)
        if len(rows) < page:
            return
        after_at, after_id = rows[-1]["at"], rows[-1]["id"]
