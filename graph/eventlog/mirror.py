"""The streaming mirror: the events of a stable sample of accounts, sent to a second graph as
they happen (`VENDR_MIRROR_GRAPH_URL`, `VENDR_MIRROR_SAMPLE_PERCENT`; `vendr events mirror
stop|start|status`). A test environment that lives: the sampled people's sign-ups, listings,
chats and deals arrive there seconds after they happen here.

Who is in the sample is decided by a hash of the account's id, so it never changes: the same
1% tomorrow, on every worker. An event is mirrored when a sampled person made it, or when it is
about something the mirror already holds (the other party's counter-offer, reply, confirmation,
a payment's webhook): what the sample touches, not what those others do elsewhere. What a
mirrored event needs and the mirror lacks (the listing a sampled buyer makes an offer on, its
photos, its seller's sign-up) is fetched from the log first, so the event applies there as it
did here. A sampled person deleted here is erased there too.

Each round reads the log after the last event it mirrored (a cursor in Redis), so rounds on
several workers or after a restart neither skip nor repeat; applying is idempotent anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from graph.accounts import erase_events
from graph.bootstrap import Services, make_store
from graph.eventlog.clone import ID, IMAGE, ids_in
from graph.eventlog.export import EVENTS_PAGE, shaped
from graph.eventlog.replay import replay
from graph.infra.settings import Settings
from graph.infra.store import GraphStore, statement

log = logging.getLogger("vendr.mirror")

PAGE = 500
LOCK_S = 60

# what a mirrored event needs: the events about these ids (a listing's making and edits, an
# image's upload), people's sign-ups only
ABOUT = statement(
    "mirror.about",
    """
    UNWIND $ids AS id
    MATCH (e:Event {subject_id: id})
    RETURN e.id AS id, e.type AS type, e.at AS at, e.actor_id AS actor_id,
           e.subject_id AS subject_id, e.data AS data
    ORDER BY at, id
    LIMIT $limit
    """,
)
PEOPLE = statement(
    "mirror.people",
    """
    UNWIND $ids AS id
    MATCH (u:User {id: id})
    RETURN collect(u.id) AS ids
    """,
)
NEEDED_MAX = 2000  # events fetched for one step of a round's needs: a popular listing's bound
NEEDS_DEPTH = 3  # what they name, what that names (a listing's photos), and once more


def sampled(account_id: str, percent: float) -> bool:
    """Whether an account is in the sample: a stable hash of its id, the same everywhere."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < round(percent * 100)


@dataclass
class MirrorRound:
    read: int = 0
    mirrored: int = 0
    fetched: int = 0  # events the mirrored ones needed, fetched from the log
    diverged: int = 0


class Mirror:
    """One account sample's events, sent on to the mirror's graph (`target`)."""

    def __init__(
        self,
        source: GraphStore,
        target: GraphStore,
        redis: aioredis.Redis,
        prefix: str,
        percent: float,
    ) -> None:
        self._source = source
        self._target = target
        self._redis = redis
        self._percent = percent
        self._cursor = f"{prefix}mirror:cursor"
        self._held = f"{prefix}mirror:ids"  # what the mirror holds, by id
        self._stopped = f"{prefix}mirror:stopped"
        self._lock = f"{prefix}mirror:lock"

    async def close(self) -> None:
        await self._target.close()

    async def stop(self) -> None:
        await self._redis.set(self._stopped, "1")

    async def start(self) -> None:
        await self._redis.delete(self._stopped)

    async def status(self) -> dict[str, Any]:
        at, event_id = await self._position()
        return {
            "running": not await self._redis.exists(self._stopped),
            "sample_percent": self._percent,
            "after_at": at,
            "after_id": event_id,
            "ids_held": await self._redis.scard(self._held),
        }

    async def _position(self) -> tuple[int, str]:
        """The (at, id) of the last event mirrored; before the first, (-1, "")."""
        raw = await self._redis.get(self._cursor)
        text = raw.decode() if isinstance(raw, bytes) else (raw or "-1:")
        at, _, event_id = text.partition(":")
        return int(at), event_id

    async def _page(self, after_at: int, after_id: str) -> list[dict[str, Any]]:
        params = {"since": 0, "types": None, "after_at": after_at, "after_id": after_id}
        rows = await self._source.run(EVENTS_PAGE, params | {"limit": PAGE})
        return [shaped(row) for row in rows]

    async def _held_of(self, ids: set[str]) -> set[str]:
        if not ids:
            return set()
        flags = await self._redis.smismember(self._held, sorted(ids))
        return {i for i, flag in zip(sorted(ids), flags, strict=True) if flag}

    def _mine(self, event: dict[str, Any]) -> bool:
        actor = event.get("actor_id")
        return bool(actor and ID.match(actor) and sampled(actor, self._percent))

    async def _needs(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events the chosen ones need and the mirror lacks: the making of what they name,
        and of what that names in turn (a listing's photos), people's sign-ups only."""
        needed: list[dict[str, Any]] = []
        have = {e["id"] for e in events}
        asked: set[str] = set()
        wanting = events
        for _ in range(NEEDS_DEPTH):
            named: set[str] = set()
            for event in wanting:
                named |= ids_in(event.get("data")) | {event.get("subject_id") or ""}
                named |= {event.get("actor_id") or ""}
            named = {i for i in named if ID.match(i)} - asked
            asked |= named
            missing = named - await self._held_of(named)
            if not missing:
                break
            people = set((await self._source.run(PEOPLE, {"ids": sorted(missing)}))[0]["ids"])
            rows = await self._source.run(ABOUT, {"ids": sorted(missing), "limit": NEEDED_MAX})
            wanting = []
            for row in map(shaped, rows):
                if row["id"] in have:
                    continue
                if row["subject_id"] in people and row.get("via") != "accounts.signup":
                    continue  # of another person, only that they exist
                if IMAGE.match(row["subject_id"] or "") and row.get("actor_id") not in asked:
                    continue  # a photo's upload by someone else than those named
                have.add(row["id"])
                wanting.append(row)
            needed += wanting
        return needed

    async def run_once(self) -> MirrorRound:
        """Mirror what happened since the last round."""
        done = MirrorRound()
        if await self._redis.exists(self._stopped):
            return done
        if not await self._redis.set(self._lock, "1", nx=True, ex=LOCK_S):
            return done  # another worker's round
        try:
            after_at, after_id = await self._position()
            while True:
                page = await self._page(after_at, after_id)
                if not page:
                    break
                done.read += len(page)
                await self._round(page, done)
                after_at, after_id = page[-1]["at"], page[-1]["id"]
                await self._redis.set(self._cursor, f"{after_at}:{after_id}")
                if len(page) < PAGE:
                    break
        finally:
            await self._redis.delete(self._lock)
        return done

    async def _round(self, page: list[dict[str, Any]], done: MirrorRound) -> None:
        subjects = {e["subject_id"] for e in page if e.get("subject_id")}
        held = await self._held_of(subjects)
        chosen = [e for e in page if self._mine(e) or e.get("subject_id") in held]
        if not chosen:
            return
        needed = await self._needs(chosen)
        events = sorted(needed + chosen, key=lambda e: (e["at"], e["id"]))

        async def each() -> AsyncIterator[dict[str, Any]]:
            for event in events:
                yield event

        applied = await replay(self._target, each())
        done.mirrored += len(chosen)
        done.fetched += len(needed)
        done.diverged += len(applied.diverged)
        if applied.diverged:
            log.warning("mirror: %d events refused there", len(applied.diverged))
        held_now: set[str] = set()
        for event in events:
            held_now |= ids_in(event.get("data")) | {event.get("subject_id") or ""}
        held_now.discard("")
        if held_now:
            await self._redis.sadd(self._held, *sorted(held_now))
        for event in chosen:
            if event.get("via") == "lifecycle.delete_account" and event.get("subject_id"):
                await erase_events(self._target, event["subject_id"])


async def run_mirror(mirror: Mirror, interval_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await mirror.run_once()
        except Exception:  # a round's failure is logged; the next round starts from the cursor
            log.exception("mirror round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


def mirror_settings(settings: Settings) -> Settings:
    """The settings of the mirror's graph: the app's, pointed at `mirror_graph_*`."""
    return settings.model_copy(
        update={
            "graph_url": settings.mirror_graph_url,
            "graph_replica_urls": "",  # the replicas are the app graph's, not the mirror's
            "graph_name": settings.mirror_graph_name or settings.graph_name,
            "neo4j_user": settings.mirror_neo4j_user,
            "neo4j_password": settings.mirror_neo4j_password,
        }
    )


def make_mirror(services: Services) -> Mirror:
    settings = services.settings
    return Mirror(
        services.store,
        make_store(mirror_settings(settings)),
        services.redis,
        settings.redis_prefix,
        settings.mirror_sample_percent,
    )
