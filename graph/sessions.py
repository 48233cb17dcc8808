"""Opaque bearer tokens in Redis: random, stored only as their sha256, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets

import redis.asyncio as aioredis


def session_digest(token: str) -> str:
    """What identifies a session without being its token (stored keys, revocation pushes)."""
    return hashlib.sha256(token.encode()).hexdigest()


_digest = session_digest


class Sessions:
    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, digest: str) -> str:
        return f"{self._prefix}session:{digest}"

    def _user_key(self, user_id: str) -> str:
        return f"{self._prefix}user-sessions:{user_id}"

    async def issue(self, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(digest), user_id, ex=self._ttl)
            pipe.sadd(self._user_key(user_id), digest)
            pipe.expire(self._user_key(user_id), self._ttl)
            await pipe.execute()
        return token

    async def resolve(self, token: str) -> str | None:
        if not token or len(token) > 128:
            return None
        value = await self._redis.get(self._key(_digest(token)))
        return value.decode() if isinstance(value, bytes) else value

    async def revoke(self, token: str) -> None:
        digest = _digest(token)
        user_id = await self.resolve(token)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(digest))
            if user_id:
                pipe.srem(self._user_key(user_id), digest)
            await pipe.execute()

    async def revoke_all(self, user_id: str) -> None:
        digests = await self._redis.smembers(self._user_key(user_id))
        keys = [self._key(d.decode() if isinstance(d, bytes) else d) for d in digests]
        await self._redis.delete(*keys, self._user_key(user_id))
