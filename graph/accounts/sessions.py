"""Opaque bearer tokens in Redis: random, stored only as their sha256, expiring, revocable.

A token resolves only to an account that may act: suspension and deletion mark the account
off (beside revoking its tokens), and the check runs in the same round trip as the lookup, so
no token is issued to an account marked off (a login racing a suspension), and one that
slipped out just before the mark is revoked with the rest.

An HTTP worker holds what a token resolved to, each person's own profile and the pages of
rooms' messages for a few seconds (`graph.accounts.tokens`): every revocation here is published
in the MULTI that makes it, every change to a profile or to what a room shows once its write has
committed (`profile_changed`, `rooms_changed`, `members_changed`), and each worker forgets what
a push names as it arrives."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

import redis.asyncio as aioredis

from graph.accounts.tokens import ProfileCache, RoomPages, TokenCache, follow
from graph.infra.errors import Forbidden


def session_digest(token: str) -> str:
    """What identifies a session without being its token (stored keys, revocation pushes)."""
    return hashlib.sha256(token.encode()).hexdigest()


_digest = session_digest


# KEYS[1]: the session; ARGV[1]: the prefix of the accounts-off markers. One round trip:
# the account and the milliseconds the session has left (a cached answer never outlives it).
RESOLVE = """
local user_id = redis.call('GET', KEYS[1])
if not user_id then return false end
if redis.call('EXISTS', ARGV[1] .. user_id) == 1 then return false end
return {user_id, redis.call('PTTL', KEYS[1])}
"""


# KEYS: the session, the account's set of sessions, its off marker. Nothing for an account off.
ISSUE = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Sessions:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        ttl_seconds: int,
        cache_seconds: float = 0.0,
        cache_size: int = 10_000,
        profile_seconds: float = 0.0,
        profile_size: int = 10_000,
        room_seconds: float = 0.0,
        room_size: int = 2_000,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._resolve = redis.register_script(RESOLVE)
        self._issue = redis.register_script(ISSUE)
        # used only while `follow` runs in this process (an HTTP worker's), else bypassed
        self.cache = TokenCache(cache_seconds, cache_size)
        self.profiles = ProfileCache(profile_seconds, profile_size)
        self.rooms = RoomPages(room_seconds, room_size)

    @property
    def channel(self) -> str:
        return f"{self._prefix}sessions:revoked"

    async def follow(self) -> None:
        """Apply every process's pushes to this process's caches, until cancelled."""
        await follow(self._redis, self.channel, self.cache, self.profiles, self.rooms)

    def _forget_here(self, message: str) -> None:
        """At once in this process, without waiting for its own subscription to hear it."""
        self.cache.forget(message)
        self.profiles.forget(message)
        self.rooms.forget(message)

    async def _changed(self, messages: list[str]) -> None:
        """Publish `messages` (one round trip), the writes they name committed. This process
        forgets what they name even when the push fails (which raises); the others then
        answer what they hold for at most their seconds."""
        if not messages:
            return
        try:
            if len(messages) == 1:
                await self._redis.publish(self.channel, messages[0])
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.publish(self.channel, message)
                    await pipe.execute()
        finally:
            for message in messages:
                self._forget_here(message)

    async def profile_changed(self, user_id: str) -> None:
        """What `GET /v1/users/me` shows of this person changed, the write committed: every
        worker forgets what it holds of it."""
        await self._changed([f"p:{user_id}"])

    async def rooms_changed(self, room_ids: Iterable[str]) -> None:
        """What these rooms' messages pages show changed (a message sent or hidden, a deal's
        line), the writes committed: every worker forgets every page of them."""
        await self._changed([f"r:{room_id}" for room_id in dict.fromkeys(room_ids)])

    async def members_changed(self, *user_ids: str) -> None:
        """What the rooms of these people show changed (a block between two of them, a
        reinstatement: `ROOM_SHOWN`), the writes committed: every worker forgets every page
        of their rooms."""
        await self._changed([f"m:{user_id}" for user_id in dict.fromkeys(user_ids)])

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

    async def resolve(self, token: str, *, fresh: bool = False) -> str | None:
        """The account the token acts for, or None. `fresh`: from Redis, not this process's
        cache (a socket's handshake: it stays open on what it read)."""
        if not token or len(token) > 128:
            return None
        digest = _digest(token)
        cache = self.cache
        if not fresh and (held := cache.get(digest)) is not None:
            return held
        generation = cache.generation
        value = await self._resolve(keys=[self._key(digest)], args=[self._off_key("")])
        if not value:
            return None
        user_id, ttl_ms = _text(value[0]), int(value[1])
        cache.put(digest, user_id, ttl_ms, generation)
        return user_id

    async def revoke(self, token: str) -> None:
        digest = _digest(token)
        user_id = await self.resolve(token, fresh=True)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(digest))
            if user_id:
                pipe.srem(self._user_key(user_id), digest)
            pipe.publish(self.channel, f"s:{digest}")
            await pipe.execute()
        self._forget_here(f"s:{digest}")

    async def revoke_all(self, user_id: str) -> None:
        digests = await self._redis.smembers(self._user_key(user_id))
        keys = [self._key(_text(d)) for d in digests]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys, self._user_key(user_id))
            pipe.publish(self.channel, f"u:{user_id}")
            await pipe.execute()
        self._forget_here(f"u:{user_id}")

    async def disable(self, user_id: str) -> None:
        """The account may no longer act (suspended, deleted): mark it off, then revoke."""
        await self._redis.set(self._off_key(user_id), 1)
        await self.revoke_all(user_id)

    async def enable(self, user_id: str) -> None:
        """Reinstated: new logins work again (the revoked tokens stay revoked)."""
        await self._redis.delete(self._off_key(user_id))
