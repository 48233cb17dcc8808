"""Opaque bearer tokens in Redis: random, stored only as their sha256, expiring, revocable.

A token resolves only to an account that may act: suspension and deletion mark the account
off (beside revoking its tokens), and the check runs in the same round trip as the lookup, so
no token is issued to an account marked off (a login racing a suspension), and one that
slipped out just before the mark is revoked with the rest."""

from __future__ import annotations

import hashlib
import secrets

import redis.asyncio as aioredis

from graph.infra.errors import Forbidden


def session_digest(token: str) -> str:
    """What identifies a session without being its token (stored keys, revocation pushes)."""
    return hashlib.sha256(token.encode()).hexdigest()


_digest = session_digest


# KEYS[1]: the session; ARGV[1]: the prefix of the accounts-off markers. One round trip.
RESOLVE = """
local user_id = redis.call('GET', KEYS[1])
if not user_id then return false end
if redis.call('EXISTS', ARGV[1] .. user_id) == 1 then return false end
return user_id
"""


# KEYS: the session, the account's set of sessions, its off marker. Nothing for an account off.
ISSUE = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


class Sessions:
    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._resolve = redis.register_script(RESOLVE)
        self._issue = redis.register_script(ISSUE)

    def _off_key(self, user_id: str) -> str:
        return f"{self._prefix}account-off:{user_id}"

    def _key(self, digest: str) -> str:
        return f"{self._prefix}session:{digest}"

    def _user_key(self, user_id: str) -> str:
        return f"{self._prefix}user-sessions:{user_id}"

    async def issue(self, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        keys = [self._key(digest), self._user_key(user_id), self._off_key(user_id)]
        if not await self._issue(keys=keys, args=[user_id, self._ttl, digest]):
            raise Forbidden("this account is not active")
        return token

    async def resolve(self, token: str) -> str | None:
        if not token or len(token) > 128:
            return None
        value = await self._resolve(keys=[self._key(_digest(token))], args=[self._off_key("")])
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

    async def disable(self, user_id: str) -> None:
        """The account may no longer act (suspended, deleted): mark it off, then revoke."""
        await self._redis.set(self._off_key(user_id), 1)
        await self.revoke_all(user_id)

    async def enable(self, user_id: str) -> None:
        """Reinstated: new logins work again (the revoked tokens stay revoked)."""
        await self._redis.delete(self._off_key(user_id))
