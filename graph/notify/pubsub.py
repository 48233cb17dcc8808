"""Fan-out of realtime events over Redis pub/sub, one channel per user.

The graph holds every message; this only tells connected clients sooner. A failed publish is
logged and dropped: clients catch up from history (`after=`) when they reconnect.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("vendr.notify")


class Notifier:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def channel(self, user_id: str) -> str:
        return f"{self._prefix}user:{user_id}"

    async def publish(self, user_ids: list[str], payload: dict[str, Any]) -> bool:
        return await self.publish_many([(user_ids, payload)])

    async def publish_many(self, pushes: list[tuple[list[str], dict[str, Any]]]) -> bool:
        """Several pushes in one round trip, published in the order given."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_ids, payload in pushes:
                    raw = orjson.dumps(payload)
                    for user_id in dict.fromkeys(user_ids):
                        pipe.publish(self.channel(user_id), raw)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("publish failed, clients will catch up from history: %s", exc)
            return False
        return True

    async def wake_outbox(self) -> None:
        """Tell the background worker an outbox record is waiting (it also polls, so a wake-up
        that fails only delays delivery)."""
        key = f"{self._prefix}outbox:wake"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.rpush(key, b"1")
                pipe.ltrim(key, -16, -1)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("outbox wake-up failed, the worker's poll will find it: %s", exc)
