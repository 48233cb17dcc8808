"""Short-lived query caches in Redis with event-based invalidation.

The catalog has a version number; every change to listings (or to what a listing shows of its
seller) bumps it, so cached pages of an older version are never read again and simply expire.
What is cached one listing at a time (a deck's cards) is checked against change marks instead:
each change marks the listings (or seller) it touched with the time, and an entry read before
its listing's or seller's mark is read again, so one listing's change leaves the rest cached.

Every bump also publishes the new version on `versions_channel`: rendered answers kept in each
worker's memory (graph.infra.pages) follow it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from graph.infra.ids import now_ms

_LOOKUP = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2])}
"""


# a new version and the marks in one step, the version published to every worker: a script
# runs alone, so the channel carries the versions in the order they were made
_BUMP = """
local version = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. version)
for i = 5, #ARGV do
  redis.call('SET', ARGV[i], ARGV[3], 'EX', ARGV[4])
end
return version
"""

MARK_TTL_S = 3600  # a change mark outlives every entry checked against it (see `bump`)


def versions_channel(prefix: str) -> str:
    """Where every bump is published as `<scope> <version>`."""
    return f"{prefix}cache:versions"


class QueryCache:
    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}cache:"
        self.channel = versions_channel(prefix)
        # an API worker waits here until its own subscription has heard the new version
        # (`Versions.reached`): Redis has then written it to every subscriber
        self.after_bump: Callable[[str, int], Awaitable[None]] | None = None
        self.ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def bump(self, scope: str, touched: Iterable[str] = ()) -> None:
        """After a change is written: pages cached under the scope's older versions go, and
        the listings or sellers it `touched` are marked changed now (entries cached per
        listing that were read before the mark are stale), and every worker hears the new
        version (`Versions`). One round trip."""
        marks = [self._mark(item) for item in sorted(set(touched))]
        version = await self._redis.eval(
            _BUMP,
            1,
            self._prefix + scope + ":version",
            self.channel,
            scope,
            now_ms(),
            MARK_TTL_S,
            *marks,
        )
        if self.after_bump is not None:
            await self.after_bump(scope, int(version))

    async def marks(self, ids: Sequence[str]) -> list[int]:
        """When each of these was last marked changed (0: not within MARK_TTL_S)."""
        if not ids:
            return []
        raw = await self._redis.mget([self._mark(i) for i in ids])
        return [int(v) if v is not None else 0 for v in raw]

    def _mark(self, item: str) -> str:
        return f"{self._prefix}changed:{item}"

    @staticmethod
    def _digest(parts: dict[str, Any]) -> str:
        return hashlib.sha256(
            orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)
        ).hexdigest()

    async def lookup(
        self, scope: str, versioned_by: str, parts: dict[str, Any]
    ) -> tuple[str, Any | None]:
        """One round trip: the current version of `versioned_by`, and the entry for `parts` at
        that version. Returns (key to store a fresh entry under, the entry or None)."""
        key, _, raw = await self.lookup_raw(scope, versioned_by, self.digest(parts))
        return key, orjson.loads(raw) if raw is not None else None

    def digest(self, parts: dict[str, Any]) -> str:
        return self._digest(parts)

    async def lookup_raw(
        self, scope: str, versioned_by: str, digest: str
    ) -> tuple[str, int, bytes | None]:
        """`lookup` without decoding: (the key, the version it is under, the stored bytes)."""
        version, raw = await self._redis.eval(
            _LOOKUP,
            1,
            self._prefix + versioned_by + ":version",
            f"{self._prefix}{scope}:",
            digest,
        )
        version = version.decode() if isinstance(version, bytes) else str(version)
        return f"{self._prefix}{scope}:{version}:{digest}", int(version), raw

    async def store_raw(self, key: str, raw: bytes, ttl_ms: int) -> None:
        if ttl_ms > 0:
            await self._redis.set(key, raw, px=ttl_ms)

    async def store(self, key: str, value: Any) -> None:
        """Keep a fresh entry under the key `lookup` gave."""
        await self._write(key, value, self.ttl)

    async def get(self, name: str) -> Any | None:
        raw = await self._redis.get(self._prefix + name)
        return orjson.loads(raw) if raw is not None else None

    async def put(self, name: str, value: Any, ttl_seconds: float) -> None:
        await self._write(self._prefix + name, value, ttl_seconds)

    async def forget(self, *names: str) -> None:
        if names:
            await self._redis.delete(*(self._prefix + n for n in names))

    async def _write(self, key: str, value: Any, ttl_seconds: float) -> None:
        if ttl_seconds > 0:
            raw = orjson.dumps(value)
            await self._redis.set(key, raw, px=int(ttl_seconds * 1000))
