"""One Redis pub/sub connection per worker, fanned out to that worker's WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from graph.infra.tasks import raise_if_cancelled

log = logging.getLogger("vendr.realtime")

QUEUE_SIZE = 1000


class SocketCaps:
    """Open sockets per client address (counted from the upgrade, before authentication) and
    per person, in this worker: a client that opens sockets in a loop runs out here, not the
    server out of memory. Counted per worker so a crash leaves no stale count behind."""

    def __init__(self, per_address: int = 32, per_user: int = 8) -> None:
        self.per_address = per_address
        self.per_user = per_user
        self._counts: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def hold(self, key: str, cap: int) -> Iterator[bool]:
        """One socket counted against `key` while the block runs; False (and nothing counted)
        when `key` already holds `cap`."""
        if self._counts[key] >= cap:
            yield False
            return
        self._counts[key] += 1
        try:
            yield True
        finally:
            self._counts[key] -= 1
            if self._counts[key] <= 0:
                del self._counts[key]


class Hub:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._local: dict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def subscribe(self, channel: str) -> asyncio.Queue[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        async with self._lock:
            first = not self._local[channel]
            self._local[channel].add(queue)
            if first:
                await self._pubsub.subscribe(channel)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(), name="realtime-hub")
        return queue

    async def unsubscribe(self, channel: str, queue: asyncio.Queue[bytes]) -> None:
        async with self._lock:
            self._local[channel].discard(queue)
            if not self._local[channel]:
                del self._local[channel]
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        while True:
            raise_if_cancelled()  # a cancelled get_message may return instead of raising
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("pub/sub read failed, retrying: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if message is None:
                if not self._local:
                    return
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            for queue in list(self._local.get(channel, ())):
                if queue.full():  # a client that does not read loses the oldest push
                    queue.get_nowait()
                queue.put_nowait(message["data"])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
