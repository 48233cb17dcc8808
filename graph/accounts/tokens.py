"""What an HTTP worker holds for a few seconds, and the push that keeps it honest: resolved
tokens (`TokenCache`: a token's digest → the account), each person's own profile as
`GET /v1/users/me` answers it (`ProfileCache`: the account → the answer's bytes), and the pages
of a room's messages as `GET /v1/rooms/{id}/messages` answers them (`RoomPages`: the room, the
reader, the cursor and the limit → the answer's bytes).

One channel, `<prefix>sessions:revoked`, carries every push, each naming what to forget:
- `s:<digest>`: a session ended (logout), published in the MULTI that deletes its key;
- `u:<user id>`: every session of a person ended (password change or reset, suspension,
  deletion), published in the MULTI that deletes their keys: their tokens, their profile, and
  every page of the rooms they are a member of (a suspended member hides the room);
- `p:<user id>`: what the person's own profile shows changed, published once the graph write
  has committed (`Sessions.profile_changed`), by whichever process wrote it;
- `r:<room id>`: what the room's pages show changed (a message sent or hidden, a deal's line),
  published once the write has committed (`Sessions.rooms_changed`);
- `m:<user id>`: what the rooms this person is a member of show changed (a block between them
  and the other member, their reinstatement), published once the write has committed
  (`Sessions.members_changed`);
- anything else: everything.
Each held entry names the pushes that forget it (its `owners`: a page is owned by `r:` of its
room and by `u:` and `m:` of both its members). Each HTTP worker follows that channel (`follow`,
started by the app: one subscription for every cache) and forgets what a push names as the
message arrives, before any request that the answer to the change could have prompted.

The caches are trusted only while the subscription is known to be alive: from its
confirmation, extended by every message and by a pong to the PING sent every second, for
`TRUST_S`. A connection that breaks empties the caches and stops their use at once; one that
goes silent (a network that drops packets without a reset) stops their use within `TRUST_S`;
either way lookups go to Redis and the graph until a new subscription is confirmed. A lookup
that was in flight across a push or resubscription is not stored (the generation moved on),
so a push processed before its answer arrives cannot be undone by it: for tokens and profiles
any push of the kinds they heed; for room pages, whose pushes come with every message sent
anywhere, a push naming one of the page's owners (or a resubscription, or an unknown push).

A push that is lost after its write (Redis unreachable in between) is not retried: the worker
that wrote forgets what it names itself, and another worker answers what it holds for at most
its seconds (`VENDR_PROFILE_CACHE_SECONDS`, `VENDR_ROOM_CACHE_SECONDS`) after reading it, which
no entry outlives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from graph.infra.tasks import raise_if_cancelled

log = logging.getLogger("vendr.sessions")

PING_S = 1.0  # how often the follower asks the subscription for a sign of life
TRUST_S = 3.0  # how long after its last sign of life the caches are still used
RETRY_S = 0.5  # how long a broken subscription waits before it subscribes again
PUSHES = frozenset({"s", "u", "p", "r", "m"})  # what a push may name; any other forgets everything
NAMED = 4096  # pushes a precise cache remembers (by text) to refuse fills begun before them

V = TypeVar("V")


class Held(Generic[V]):
    """Key → (value, the pushes that forget it: its owners, monotonic deadline), least recently
    used first out. A push of a kind the cache does not heed is ignored: it moves nothing."""

    heeds: ClassVar[frozenset[str]] = frozenset({"s", "u", "p"})
    # a fill is refused by a push since it began naming one of its owners (precise), or by any
    # push the cache heeds (not)
    precise: ClassVar[bool] = False

    def __init__(self, seconds: float, size: int) -> None:
        self.seconds = seconds
        self.size = size
        self.generation = 0  # moves on at every push heeded: fills begun before may be dropped
        self._floor = 0  # fills begun before this generation are dropped
        self._named: OrderedDict[str, int] = OrderedDict()  # push → its generation (precise)
        self._entries: OrderedDict[str, tuple[V, tuple[str, ...], float]] = OrderedDict()
        self._owned: dict[str, set[str]] = {}  # push → the keys it forgets
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
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    def _hold(
        self, key: str, value: V, owners: tuple[str, ...], seconds: float, generation: int
    ) -> None:
        """Hold what a lookup begun at `generation` found, unless a push came since that
        refuses it (see `precise`)."""
        if generation < self._floor or not self.trusted():
            return
        if self.precise and any(self._named.get(o, -1) > generation for o in owners):
            return
        self._drop(key)
        self._entries[key] = (value, owners, time.monotonic() + seconds)
        for owner in owners:
            self._owned.setdefault(owner, set()).add(key)
        while len(self._entries) > self.size:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for owner in entry[1]:
            keys = self._owned.get(owner)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._owned[owner]

    def forget(self, message: bytes | str) -> None:
        """Apply one push (see the module's docstring)."""
        text = message.decode() if isinstance(message, bytes) else message
        kind = text.partition(":")[0]
        if kind in PUSHES and kind not in self.heeds:
            return
        self.generation += 1
        if kind not in PUSHES:
            self._clear()
            return
        if self.precise:
            self._named[text] = self.generation
            self._named.move_to_end(text)
            if len(self._named) > NAMED:  # forgotten: what it refused, everything begun before
                self._floor = max(self._floor, self._named.popitem(last=False)[1])
        else:
            self._floor = self.generation
        for key in list(self._owned.get(text, ())):
            self._drop(key)

    def _clear(self) -> None:
        self._floor = self.generation
        self._named.clear()
        self._entries.clear()
        self._owned.clear()

    def trust_for(self, seconds: float) -> None:
        self._trusted_until = time.monotonic() + seconds

    def reset(self, *, trusted: bool) -> None:
        """A subscription (re)confirmed (`trusted`) or lost: start again from nothing."""
        self.generation += 1
        self._clear()
        self._trusted_until = time.monotonic() + TRUST_S if trusted else 0.0

    def __len__(self) -> int:
        return len(self._entries)


class TokenCache(Held[str]):
    """Token digest → the account it resolved to; `s:<digest>` forgets one, `u:` the account's."""

    def put(self, digest: str, user_id: str, ttl_ms: int, generation: int) -> None:
        """Hold what a lookup begun at `generation` found, unless something was forgotten
        since; never past the token's own expiry in Redis (`ttl_ms`, negative: none)."""
        hold = self.seconds if ttl_ms < 0 else min(self.seconds, ttl_ms / 1000)
        self._hold(digest, user_id, (f"s:{digest}", f"u:{user_id}"), hold, generation)


class ProfileCache(Held[bytes]):
    """Account → its own profile, as the answer's bytes; `p:<user id>` or `u:` forgets one."""

    def put(self, user_id: str, profile: bytes, generation: int) -> None:
        """Hold what a read begun at `generation` found, unless something was forgotten since."""
        self._hold(user_id, profile, (f"p:{user_id}", f"u:{user_id}"), self.seconds, generation)


# a page larger than this is read from the graph every time: the pages' memory stays bounded
# by the size times this (long pages of long messages are not the hot path)
PAGE_MAX_BYTES = 32 * 1024


class RoomPages(Held[bytes]):
    """A page of a room's messages as one member reads it → the answer's bytes. `r:<room id>`
    forgets every page of the room; `u:` or `m:` of either member every page of their rooms."""

    heeds = frozenset({"u", "r", "m"})
    precise = True  # pushes come with every message sent, in any room

    @staticmethod
    def key(room_id: str, reader_id: str, cursor: str | None, limit: int) -> str:
        # (the reader, the cursor and the limit hold no "/": no two pages share a key)
        return f"{room_id}/{reader_id}/{cursor or ''}/{limit}"

    @staticmethod
    def owners(room_id: str, members: Iterable[str]) -> tuple[str, ...]:
        """The pushes that forget a page of `room_id` whose members are `members`."""
        named = (f"{kind}:{member}" for member in sorted(set(members)) for kind in ("u", "m"))
        return (f"r:{room_id}", *named)

    def put(
        self, key: str, page: bytes, room_id: str, members: Iterable[str], generation: int
    ) -> None:
        """Hold what a read begun at `generation` found, unless a push naming the room or one
        of its members came since; not a page over PAGE_MAX_BYTES."""
        if len(page) <= PAGE_MAX_BYTES:
            self._hold(key, page, self.owners(room_id, members), self.seconds, generation)


async def follow(redis: aioredis.Redis, channel: str, *caches: Held[Any]) -> None:
    """Keep `caches` honest until cancelled: subscribe, apply every push to each, and when the
    subscription breaks or goes silent, distrust them and subscribe again."""
    followed = [c for c in caches if c.enabled]
    if not followed:
        return
    while True:
        raise_if_cancelled()
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            raise_if_cancelled()
            await _listen(pubsub, followed)
        except (RedisError, OSError) as exc:
            log.warning("session pushes: subscription lost (%s); caches off until back", exc)
        finally:
            for cache in followed:
                cache.reset(trusted=False)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        await asyncio.sleep(RETRY_S)


class Silent(RedisError):
    """The subscription gave no sign of life for TRUST_S."""


async def _listen(pubsub: PubSub, caches: list[Held[Any]]) -> None:
    heard = time.monotonic()
    next_ping = heard
    confirmed = False
    while True:
        raise_if_cancelled()
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
