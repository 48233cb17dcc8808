"""Resolved tokens held in this process for a few seconds, and the push that keeps them honest.

Every revocation (logout, every session of a person ended, an account switched off) deletes
the session keys and publishes, in the same MULTI, on one channel: `s:<digest>` for a session,
`u:<user id>` for a person. Each HTTP worker follows that channel (`follow`, started by the
app) and forgets what it names as the message arrives, before any request that the revoking
answer could have prompted.

The cache is trusted only while the subscription is known to be alive: from its confirmation,
extended by every message and by a pong to the PING sent every second, for `TRUST_S`. A
connection that breaks empties the cache and stops its use at once; one that goes silent (a
network that drops packets without a reset) stops its use within `TRUST_S`; either way lookups
go to Redis until a new subscription is confirmed. A lookup that was in flight across any
revocation or resubscription is not stored (the generation moved on), so a push processed
before its answer arrives cannot be undone by it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger("vendr.sessions")

PING_S = 1.0  # how often the follower asks the subscription for a sign of life
TRUST_S = 3.0  # how long after its last sign of life the cache is still used
RETRY_S = 0.5  # how long a broken subscription waits before it subscribes again


class TokenCache:
    """Token digest → (user id, monotonic deadline), least recently used first out."""

    def __init__(self, seconds: float, size: int) -> None:
        self.seconds = seconds
        self.size = size
        self.generation = 0  # moves on at every forgetting: fills begun before are dropped
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._trusted_until = 0.0

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def trusted(self) -> bool:
        return time.monotonic() < self._trusted_until

    def get(self, digest: str) -> str | None:
        if not self.trusted():
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        user_id, deadline = entry
        if time.monotonic() >= deadline:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return user_id

    def put(self, digest: str, user_id: str, ttl_ms: int, generation: int) -> None:
        """Hold what a lookup begun at `generation` found, unless something was forgotten
        since; never past the token's own expiry in Redis (`ttl_ms`, negative: none)."""
        if generation != self.generation or not self.trusted():
            return
        hold = self.seconds if ttl_ms < 0 else min(self.seconds, ttl_ms / 1000)
        self._entries[digest] = (user_id, time.monotonic() + hold)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, message: bytes | str) -> None:
        """Apply one push: `s:<digest>` or `u:<user id>` (anything else: forget everything)."""
        text = message.decode() if isinstance(message, bytes) else message
        kind, _, what = text.partition(":")
        self.generation += 1
        if kind == "s":
            self._entries.pop(what, None)
        elif kind == "u":
            for digest in [d for d, (user, _) in self._entries.items() if user == what]:
                del self._entries[digest]
        else:
            self._entries.clear()

    def trust_for(self, seconds: float) -> None:
        self._trusted_until = time.monotonic() + seconds

    def reset(self, *, trusted: bool) -> None:
        """A subscription (re)confirmed (`trusted`) or lost: start again from nothing."""
        self.generation += 1
        self._entries.clear()
        self._trusted_until = time.monotonic() + TRUST_S if trusted else 0.0

    def __len__(self) -> int:
        return len(self._entries)


async def follow(redis: aioredis.Redis, channel: str, cache: TokenCache) -> None:
    """Keep `cache` honest until cancelled: subscribe, apply every push, and when the
    subscription breaks or goes silent, distrust the cache and subscribe again."""
    if not cache.enabled:
        return
    while True:
        _raise_if_cancelled()
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            _raise_if_cancelled()
            await _listen(pubsub, cache)
        except (RedisError, OSError) as exc:
            log.warning("token revocations: subscription lost (%s); cache off until back", exc)
        finally:
            cache.reset(trusted=False)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        await asyncio.sleep(RETRY_S)


def _raise_if_cancelled() -> None:
    """redis-py's subscribe can swallow a cancellation that lands while it connects: the
    task's own count still says it was asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Silent(RedisError):
    """The subscription gave no sign of life for TRUST_S."""


async def _listen(pubsub: PubSub, cache: TokenCache) -> None:
    heard = time.monotonic()
    next_ping = heard
    confirmed = False
    while True:
        _raise_if_cancelled()
        now = time.monotonic()
        if now >= next_ping:
            await pubsub.ping()
            next_ping = now + PING_S
        message = await pubsub.get_message(timeout=max(0.0, next_ping - time.monotonic()))
        if message is None:
            if time.monotonic() - heard > TRUST_S:
                raise Silent(f"no answer for {TRUST_S:g} s")
            continue
        heard = time.monotonic()
        kind = message["type"]
        if kind == "subscribe":  # the first, or redis-py's own resubscription: from nothing
            confirmed = True
            cache.reset(trusted=True)
        elif kind == "message":
            cache.forget(message["data"])
        if confirmed and kind in ("message", "pong"):
            # every push sent before this answer has been applied
            cache.trust_for(TRUST_S)
