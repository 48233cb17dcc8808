"""Rate limits on a moving window in Redis (the `limits` library), shared by every worker."""

from __future__ import annotations

import asyncio
import math
import time

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from graph.infra.errors import RateLimited


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

    async def hit(self, rule: str, key: str, cost: int = 1) -> None:
        """Count `cost` hits of `rule` for `key` (one request doing that many things); raise
        RateLimited (with Retry-After) when over, counting none of them."""
        if not self.enabled or cost < 1:
            return
        if await self._limiter.hit(self._rules[rule], rule, key, cost=cost):
            return
        await self.refuse(rule, key)

    async def count(self, rule: str, key: str) -> bool:
        """Count one hit without refusing anything; False when the window was already full."""
        if not self.enabled:
            return True
        return await self._limiter.hit(self._rules[rule], rule, key)

    async def exhausted(self, rule: str, key: str) -> bool:
        """Whether `rule` is spent for `key`, without counting a hit."""
        if not self.enabled:
            return False
        return not await self._limiter.test(self._rules[rule], rule, key)

    async def refuse_if_spent(self, rule: str, key: str) -> None:
        """Raise RateLimited when `rule` is spent for `key`, counting nothing (for rules that
        count failures: checked before a try, counted after a failed one)."""
        if await self.exhausted(rule, key):
            await self.refuse(rule, key)

    async def refuse(self, rule: str, key: str) -> None:
        item = self._rules[rule]
        stats = await self._limiter.get_window_stats(item, rule, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"too many requests ({item}); retry later", retry_after=retry_after)


class LoginGuard:
    """Login limits that count failures, never attempts, so they cannot lock a person out.

    - From one address, failures against one account (`login_failures_pair`) refuse further
      tries from that address only: the guesser is stopped, the owner elsewhere is not.
    - Failures against one account from anywhere (`login_failures_account`) are a soft limit:
      past it every try waits a delay that doubles with each further failure (to `MAX_DELAY`)
      before the password is checked, and the right password still logs in.
    - The per-address limit on all tries (`login_ip`) stays in the route.

    `account` is whatever the caller counts as one account: AccountService.login passes the
    account an email or phone names (the same for both), or the identifier naming none."""

    BASE_DELAY = 0.25
    MAX_DELAY = 8.0

    def __init__(self, limiter: RateLimiter, redis: aioredis.Redis, prefix: str) -> None:
        self._limiter = limiter
        self._redis = redis
        self._prefix = prefix

    def _excess_key(self, account: str) -> str:
        return f"{self._prefix}login-excess:{account}"

    async def before(self, account: str, address: str) -> float:
        """Refuse or slow a try before its password is checked; returns the delay waited."""
        await self._limiter.refuse_if_spent("login_failures_pair", f"{account}|{address}")
        if not await self._limiter.exhausted("login_failures_account", account):
            return 0.0
        excess = int(await self._redis.get(self._excess_key(account)) or 0)
        delay = min(self.MAX_DELAY, self.BASE_DELAY * 2**excess)
        await asyncio.sleep(delay)
        return delay

    async def failed(self, account: str, address: str) -> None:
        await self._limiter.count("login_failures_pair", f"{account}|{address}")
        if not await self._limiter.count("login_failures_account", account):
            key = self._excess_key(account)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, 15 * 60)
                await pipe.execute()
