"""Write-behind queues: records a request makes without waiting for the graph (a deck's
impressions, a listing's views), queued on a Redis list as they happen and written by the
background worker a batch per statement.

The list is capped (the newest kept), so a worker that is down for long cannot grow Redis
without end: what is dropped then is volume the retention purge drops anyway, never a
marketplace fact. A batch is taken atomically (two workers never take the same records); a
write that fails puts its records back at the head, in order, and raises. Each record should
carry its Event's id, so a batch written again after a lost answer is written once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger("vendr.writebehind")

Row = dict[str, Any]


def push(pipe: aioredis.client.Pipeline, key: str, record: bytes, cap: int) -> None:
    """Queue one record on `pipe` (the caller executes it), keeping the newest `cap`."""
    pipe.rpush(key, record)
    pipe.ltrim(key, -cap, -1)


async def flush(
    redis: aioredis.Redis,
    key: str,
    batch: int,
    parse: Callable[[bytes | str], Row | None],
    write: Callable[[list[Row]], Awaitable[int]],
) -> int:
    """Take up to `batch` records (oldest first), `parse` each (None: malformed, logged and
    dropped, or it would block the queue) and `write` the rows in one go; on a failure (or a
    cancellation) every record taken goes back to the head of the queue. What `write` says it
    wrote."""
    popped = await redis.lpop(key, batch)
    taken: list[bytes | str] = list(popped) if isinstance(popped, list) else []
    if not taken:
        return 0
    rows = []
    for raw in taken:
        row = parse(raw)
        if row is None:
            log.warning("%s: dropped a malformed record %r", key, raw[:200])
        else:
            rows.append(row)
    try:
        return await write(rows) if rows else 0
    except BaseException:  # cancelled too: nothing taken may be lost
        await redis.lpush(key, *reversed(taken))
        raise


async def flush_all(
    redis: aioredis.Redis,
    key: str,
    batch: int,
    cap: int,
    parse: Callable[[bytes | str], Row | None],
    write: Callable[[list[Row]], Awaitable[int]],
) -> int:
    """Flush batch after batch until the queue is empty; at most the cap's worth, so records
    queued faster than they are written cannot hold a round forever."""
    total = 0
    for _ in range(cap // batch + 1):
        if await redis.llen(key) == 0:
            return total
        total += await flush(redis, key, batch, parse, write)
    return total
