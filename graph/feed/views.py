"""Views, counted off the request path. Opening a listing queues one record in Redis (`note`,
one round trip, after the view period's and the view rate's checks); the background worker
writes the queue into the graph in batches (`flush`: one statement for up to BATCH views, each
its own `product.viewed` Event and the VIEWED edge's count), then marks the listings for the
round's hype. A view reaches hype and recommendations within a round, as it did before (hype
was recomputed by the round anyway), and no request waits for a graph write.

Like the impressions, the queue is capped (CAP, the newest kept: what a long-down worker drops
is views, volume events the retention purge drops anyway), a failed write puts its records back
at the head, and each record carries its Event's id, so a batch written again after a lost
answer counts nothing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from graph.catalog import Pools
from graph.infra import writebehind
from graph.infra.ids import new_id
from graph.infra.store import GraphStore, statement

KEY = "feed:views"
CAP = 200_000  # views queued at most: about 30 MB of Redis at worst
BATCH = 500  # views a flush writes in one statement

# Each row a view as it happened (who, what, when) with its own Event: the edge counts it, the
# Event logs it. Views of one's own listing, by an account no longer active, or of a listing
# that is gone from the graph count nothing; a row whose Event is already there (a batch tried
# again) neither.
WRITE = statement(
    "feed.views",
    """
    UNWIND $rows AS r
    // (fields taken out of the map first: FalkorDB matches nothing on {id: r.user_id})
    WITH r.user_id AS user_id, r.product_id AS product_id, r.at AS at,
         r.event_id AS event_id, r.event_data AS event_data
    OPTIONAL MATCH (done:Event {id: event_id})
    WITH user_id, product_id, at, event_id, event_data, done
    WHERE done IS NULL
    MATCH (me:User {id: user_id})
    WHERE me.status = 'active'
    WITH me, product_id, at, event_id, event_data
    MATCH (seller:User)-[:LISTED]->(p:Product {id: product_id})
    WHERE seller.id <> me.id
    MERGE (me)-[v:VIEWED]->(p)
      ON CREATE SET v.at = at, v.count = 1
      ON MATCH SET v.at = at, v.count = v.count + 1
    CREATE (e:Event {id: event_id, type: 'product.viewed', at: at, actor_id: me.id,
                     subject_id: p.id, data: event_data})
    RETURN p.id AS id
    """,
    write=True,
)


def key(prefix: str) -> str:
    return prefix + KEY


async def note(redis: aioredis.Redis, prefix: str, user_id: str, product_id: str, at: int) -> None:
    """Queue one view (one round trip)."""
    record = {"event_id": new_id(), "user_id": user_id, "product_id": product_id, "at": at}
    async with redis.pipeline(transaction=False) as pipe:
        writebehind.push(pipe, key(prefix), orjson.dumps(record), CAP)
        await pipe.execute()


def _row(raw: bytes | str) -> dict[str, Any] | None:
    try:
        record = orjson.loads(raw)
        row = {
            "event_id": str(record["event_id"]),
            "user_id": str(record["user_id"]),
            "product_id": str(record["product_id"]),
            "at": int(record["at"]),
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return row


async def flush(
    store: GraphStore, redis: aioredis.Redis, pools: Pools, prefix: str, batch: int = BATCH
) -> int:
    """Take up to `batch` queued views (oldest first, atomically: two workers never take the
    same), write them in one statement and mark their listings for the round's hype; on a
    failed write they go back to the head of the queue, in order, and the error is raised.
    How many views were counted."""
    return await writebehind.flush(redis, key(prefix), batch, _row, _writer(store, pools))


async def flush_all(
    store: GraphStore, redis: aioredis.Redis, pools: Pools, prefix: str, batch: int = BATCH
) -> int:
    """Flush batch after batch until the queue is empty (at most the cap's worth)."""
    write = _writer(store, pools)
    return await writebehind.flush_all(redis, key(prefix), batch, CAP, _row, write)


def _writer(store: GraphStore, pools: Pools) -> Callable[[list[dict[str, Any]]], Awaitable[int]]:
    async def write(rows: list[dict[str, Any]]) -> int:
        written = await store.run(WRITE, {"rows": rows})
        await pools.mark_engaged(*{row["id"] for row in written})
        return len(written)

    return write


async def queued(redis: aioredis.Redis, prefix: str) -> int:
    """Views noted and not yet written."""
    return int(await redis.llen(key(prefix)))
