"""Short-lived query caches in Redis with event-based invalidation.

The catalog has a version number; every change to listings (or to what a listing shows of its
seller) bumps it, so cached pages of an older version are never read again and simply expire.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import redis.asyncio as aioredis

_LOOKUP = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2])}
"""


class QueryCache:
    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}cache:"
        self.ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def bump(self, scope: str) -> None:
        await self._redis.incr(self._prefix + scope + ":version")

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
