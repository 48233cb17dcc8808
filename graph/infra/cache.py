"""Short-lived query caches in Redis with event-based invalidation.

The catalog has a version number; every change to listings (or to what a listing shows of its
seller) bumps it, so cached pages of an older version are never read again and simply expire.
What is cached one listing at a time (a deck's cards) is checked against change marks instead:
each change marks the listings (or seller) it touched with the time, and an entry read before
its listing's or seller's mark is read again, so one listing's change leaves the rest cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from graph.infra.ids import now_ms

_LOOKUP = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2])}
"""


MARK_TTL_S = 3600  # a change mark outlives every entry checked against it (see `bump`)


class QueryCache:
    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}cache:"
        self.ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def bump(self, scope: str, touched: Iterable[str] = ()) -> None:
        """After a change is written: pages cached under the scope's older versions go, and
        the listings or sellers it `touched` are marked changed now (entries cached per
        listing that were read before the mark are stale). One round trip."""
        now = now_ms()
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(self._prefix + scope + ":version")
        for item in sorted(set(touched)):
            pipe.set(self._mark(item), now, ex=MARK_TTL_S)
        await pipe.execute()

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
        digest = self._digest(parts)
        version, raw = await self._redis.eval(
            _LOOKUP,
            1,
            self._prefix + versioned_by + ":version",
            f"{self._prefix}{scope}:",
            digest,
        )
        version = version.decode() if isinstance(version, bytes) else str(version)
        key = f"{self._prefix}{scope}:{version}:{digest}"
        return key, orjson.loads(raw) if raw is not None else None

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
