"""What an HTTP worker holds about people for a few seconds, and the push that keeps it honest:
resolved tokens (`TokenCache`: a token's digest → the account) and each person's own profile as
`GET /v1/users/me` answers it (`ProfileCache`: the account → the answer's bytes).

One channel, `<prefix>sessions:revoked`, carries every push, each naming what to forget:
- `s:<digest>`: a session ended (logout), published in the MULTI that deletes its key;
- `u:<user id>`: every session of a person ended (password change or reset, suspension,
  deletion), published in the MULTI that deletes their keys: their tokens and their profile;
- `p:<user id>`: what the person's own profile shows changed, published once the graph write
  has committed (`Sessions.profile_changed`), by whichever process wrote it;
- anything else: everything.
Each HTTP worker follows that channel (`follow`, started by the app: one subscription for both
caches) and forgets what a push names as the message arrives, before any request that the
answer to the change could have prompted.

The caches are trusted only while the subscription is known to be alive: from its
confirmation, extended by every message and by a pong to the PING sent every second, for
`TRUST_S`. A connection that breaks empties the caches and stops their use at once; one that
goes silent (a network that drops packets without a reset) stops their use within `TRUST_S`;
either way lookups go to Redis and the graph until a new subscription is confirmed. A lookup
that was in flight across any push or resubscription is not stored (the generation moved on),
so a push processed before its answer arrives cannot be undone by it.

A push that is lost after its write (Redis unreachable in between) is not retried: the worker
that wrote forgets the profile itself, and another worker answers what it holds for at most
its seconds (`VENDR_PROFILE_CACHE_SECONDS`) after reading it, which no entry outlives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any, ClassVar, Generic, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger("vendr.sessions")

PING_S = 1.0  # how often the follower asks the subscription for a sign of life
TRUST_S = 3.0  # how long after its last sign of life the caches are still used
RETRY_S = 0.5  # how long a broken subscription waits before it subscribes again
PUSHES = frozenset({"s", "u", "p"})  # what a push may name; any other forgets everything

V = TypeVar("V")


class Held(Generic[V]):
    """Key → (value, the account it is of, monotonic deadline), least recently used first out.
    A push of kind `names` forgets one key; `u:` forgets every key of the account."""

    names: ClassVar[str]

    def __init__(self, seconds: float, size: int) -> None:
        self.seconds = seconds
        self.size = size
        self.generation = 0  # moves on at every push: fills begun before are dropped
        self._entries: OrderedDict[str, tuple[V, str, float]] = OrderedDict()
        self._trusted_until = 0.0

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def trusted(self) -> bool:
        return self.enabled and time.monotonic() < self._trusted_until

    def get(self, key: str) -> V | None:
        if not self.trusted():
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, _, deadline = entry
        if time.monotonic() >= deadline:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def _hold(self, key: str, value: V, owner: str, seconds: float, generation: int) -> None:
        """Hold what a lookup begun at `generation` found, unless a push came since."""
        if generation != self.generation or not self.trusted():
            return
        self._entries[key] = (value, owner, time.monotonic() + seconds)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, message: bytes | str) -> None:
        """Apply one push (see the module's docstring)."""
        text = message.decode() if isinstance(message, bytes) else message
        kind, _, what = text.partition(":")
        self.generation += 1
        if kind == self.names:
            self._entries.pop(what, None)
        elif kind == "u":
            for key in [k for k, (_, owner, _) in self._entries.items() if owner == what]:
                del self._entries[key]
        elif kind not in PUSHES:
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


class TokenCache(Held[str]):
    """Token digest → the account it resolved to; `s:<digest>` forgets one."""

    names = "s"

    def put(self, digest: str, user_id: str, ttl_ms: int, generation: int) -> None:
        """Hold what a lookup begun at `generation` found, unless something was forgotten
        since; never past the token's own expiry in Redis (`ttl_ms`, negative: none)."""
        hold = self.seconds if ttl_ms < 0 else min(self.seconds, ttl_ms / 1000)
        self._hold(digest, user_id, user_id, hold, generation)


class ProfileCache(Held[bytes]):
    """Account → its own profile, as the answer's bytes; `p:<user id>` forgets one."""

    names = "p"

    def put(self, user_id: str, profile: bytes, generation: int) -> None:
        """Hold what a read begun at `generation` found, unless something was forgotten since."""
        self._hold(user_id, profile, user_id, self.seconds, generation)


async def follow(redis: aioredis.Redis, channel: str, *caches: Held[Any]) -> None:
    """Keep `caches` honest until cancelled: subscribe, apply every push to each, and when the
    subscription breaks or goes silent, distrust them and subscribe again."""
    followed = [c for c in caches if c.enabled]
    if not followed:
        return
    while True:
        _raise_if_cancelled()
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            _raise_if_cancelled()
            await _listen(pubsub, followed)
        except (RedisError, OSError) as exc:
            log.warning("session pushes: subscription lost (%s); caches off until back", exc)
        finally:
            for cache in followed:
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


async def _listen(pubsub: PubSub, caches: list[Held[Any]]) -> None:
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
            for cache in caches:
                cache.reset(trusted=True)
        elif kind == "message":
            for cache in caches:
                cache.forget(message["data"])
        if confirmed and kind in ("message", "pong"):
            # every push sent before this answer has been applied
            for cache in caches:
                cache.trust_for(TRUST_S)
