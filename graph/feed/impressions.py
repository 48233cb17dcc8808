"""The feed's impressions: which cards a deck dealt, to whom, under which blend and experiment
arm. The learner fits on them (what a person was shown and did not like) and the experiment
report attributes outcomes to arms by them.

A deck page is one record, queued in Redis in the round trip that keeps the session (`note`:
no graph write while dealing), and the background worker moves them into the log in batches
(`flush`: one statement for up to BATCH pages, as `feed.dealt` Events). The queue is capped at
CAP records, the newest kept, so a worker that is down for long cannot grow Redis without end:
what it drops then is impressions, never a marketplace fact. A failed write puts its records
back at the head of the queue; each record carries its Event's id, written with MERGE, so a
write that landed but whose answer was lost is not logged twice when tried again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from graph.infra import writebehind
from graph.infra.ids import new_id
from graph.infra.store import GraphStore, statement

KEY = "feed:impressions"
CAP = 200_000  # records queued at most (a page each): about 100 MB of Redis at worst
BATCH = 500  # records a flush writes in one statement
DEALT = "feed.dealt"  # the Events' type

# One Event per page dealt: actor and subject the person (a record about their own feed, as
# 'user.interests' is); data {ids, blend, experiment, arm}, the listing ids in the order shown.
# MERGE on the id: a batch written again after a lost answer adds nothing.
WRITE = statement(
    "feed.dealt",
    """
    UNWIND $rows AS r
    WITH r.id AS id, r.user_id AS user_id, r.at AS at, r.data AS data
    MERGE (e:Event {id: id})
      ON CREATE SET e.type = 'feed.dealt', e.at = at, e.actor_id = user_id,
                    e.subject_id = user_id, e.data = data
    RETURN count(e) AS n
    """,
    write=True,
)


def key(prefix: str) -> str:
    return prefix + KEY


def note(
    pipe: aioredis.client.Pipeline,
    prefix: str,
    user_id: str,
    ids: Sequence[str],
    *,
    blend: str,
    experiment: str | None,
    arm: str | None,
    now: int,
) -> None:
    """Queue one deck page on `pipe` (the caller executes it): the ids in the order dealt."""
    if not ids:
        return  # an empty page showed nothing
    record = {
        "id": new_id(),
        "user_id": user_id,
        "at": now,
        "ids": list(ids),
        "blend": blend,
        "experiment": experiment,
        "arm": arm,
    }
    writebehind.push(pipe, key(prefix), orjson.dumps(record), CAP)


def _row(raw: bytes | str) -> dict[str, Any] | None:
    try:
        record = orjson.loads(raw)
        data = {k: record[k] for k in ("ids", "blend", "experiment", "arm")}
        row = {"id": str(record["id"]), "user_id": str(record["user_id"]), "at": int(record["at"])}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return row | {"data": orjson.dumps(data).decode()}


async def flush(store: GraphStore, redis: aioredis.Redis, prefix: str, batch: int = BATCH) -> int:
    """Take up to `batch` queued pages (oldest first, atomically: two workers never take the
    same) and write them as Events in one statement; on a failed write they go back to the
    head of the queue, in order, and the error is raised. How many were written."""
    return await writebehind.flush(redis, key(prefix), batch, _row, _writer(store))


async def flush_all(
    store: GraphStore, redis: aioredis.Redis, prefix: str, batch: int = BATCH
) -> int:
    """Flush batch after batch until the queue is empty (at most the cap's worth)."""
    return await writebehind.flush_all(redis, key(prefix), batch, CAP, _row, _writer(store))


def _writer(store: GraphStore) -> Callable[[list[dict[str, Any]]], Awaitable[int]]:
    async def write(rows: list[dict[str, Any]]) -> int:
        await store.run(WRITE, {"rows": rows})
        return len(rows)

    return write


async def queued(redis: aioredis.Redis, prefix: str) -> int:
    """Pages dealt and not yet written to the log."""
    return int(await redis.llen(key(prefix)))
