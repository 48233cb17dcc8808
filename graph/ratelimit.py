"""Rate limits on a moving window in Redis (the `limits` library), shared by every worker."""

from __future__ import annotations

import math
import time

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from graph.errors import RateLimited


class RateLimiter:
    def __init__(
        self, pool: aioredis.ConnectionPool, prefix: str, rules: dict[str, str], enabled: bool
    ) -> None:
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=f"{prefix}limits",
            connection_pool=pool,  # type: ignore[arg-type]  # forwarded to redis-py as is
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._rules: dict[str, RateLimitItem] = {name: parse(rule) for name, rule in rules.items()}
        self.enabled = enabled

    async def hit(self, rule: str, key: str) -> None:
        """Count one hit of `rule` for `key`; raise RateLimited (with Retry-After) when over."""
        if not self.enabled:
            return
        item = self._rules[rule]
        if await self._limiter.hit(item, rule, key):
            return
        stats = await self._limiter.get_window_stats(item, rule, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"too many requests ({item}); retry later", retry_after=retry_after)
