"""Background upkeep: expire listings, purge old deleted/expired ones and unreferenced images,
recompute hype, keep the feed's candidate pools current. Each step is batched and idempotent,
so any worker (or `vendr jobs run-once`) can run it; a Redis lock keeps workers from doing the
same round twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from graph.catalog import (
    ENGAGEMENT,
    HYPE_TAU_MS,
    HYPE_WINDOW_MS,
    Pools,
    by_expiry,
    place_listings,
)
from graph.feed import Learner, flush_impressions, flush_views
from graph.infra.blobs import BlobStore
from graph.infra.cache import QueryCache
from graph.infra.ids import new_id, now_ms
from graph.infra.settings import Settings
from graph.infra.store import GraphStore, Statement, statement
from graph.notify import SAVERS_OUTBOX, savers
from graph.trust import ReviewService, TrustService

log = logging.getLogger("vendr.jobs")

DAY_MS = 86_400_000
BATCH = 1000
IMAGE_GRACE_MS = DAY_MS  # an upload not yet attached to a listing survives this long
BLOB_GRACE_S = 3600  # a blob written before its graph node (uploads do that) survives this long
ORPHAN_SWEEP_S = 3600  # how often the sweeper looks for blobs no image node names
FIT_LOCK_S = 900  # a fit takes under a minute; a worker that died holding the lock frees it

# The sweeper's writes that change listings and images are facts like a person's: each found
# first (a bounded batch), then written by id, re-checked, with an Event per row whose id is a
# parameter, so that replaying the log makes the same change.
_EXPIRING = "p.expires_at <= $now AND p.status = 'active'"

EXPIRING = statement(
    "jobs.expiring",
    "MATCH (p:Product) WHERE " + _EXPIRING + " RETURN p.id AS id LIMIT $batch",
)

EXPIRE = statement(
    "jobs.expire",
    """
    UNWIND $rows AS row
    // (fields taken out of the map first: FalkorDB matches nothing on {id: row.id})
    WITH row.id AS id, row.event_id AS event_id, row.event_data AS event_data
    MATCH (p:Product {id: id})
    WHERE """
    + _EXPIRING
    + """
    SET p.status = 'expired', p.expired_at = $now, p.updated_at = $now
    CREATE (e:Event {id: event_id, type: 'product.expired', at: $now, actor_id: 'system',
                     subject_id: p.id, data: event_data})
    // the people who saved it hear that it is gone
    WITH p, size([(p)<-[:SAVED]-(fan:User) | fan]) AS savers
    FOREACH (_ IN CASE WHEN savers > 0 THEN [1] ELSE [] END |"""
    + SAVERS_OUTBOX
    + """)
    RETURN p.id AS id
    """,
    write=True,
)

_PURGEABLE = """
((p.status = 'deleted' AND p.deleted_at <= $cutoff)
 OR (p.status = 'expired' AND p.expires_at <= $cutoff))
AND NOT (p)<-[:OF]-(:Order) AND NOT (p)<-[:ABOUT]-(:Room)
"""

PURGEABLE = statement(
    "jobs.purgeable_products",
    "MATCH (p:Product) WHERE " + _PURGEABLE + " RETURN p.id AS id LIMIT $batch",
)

PURGE_PRODUCTS = statement(
    "jobs.purge_products",
    """
    UNWIND $rows AS row
    WITH row.id AS id, row.event_id AS event_id, row.event_data AS event_data
    MATCH (p:Product {id: id})
    WHERE """
    + _PURGEABLE
    + """
    CREATE (e:Event {id: event_id, type: 'product.purged', at: $now, actor_id: 'system',
                     subject_id: p.id, data: event_data})
    DETACH DELETE p
    RETURN id
    """,
    write=True,
)

# Events that record reading rather than deciding: many, and their lasting effect lives in the
# graph already (VIEWED and PASSED edges, read markers, a last login). Purged after
# event_retention_days, for the log's size and for privacy: a replay after the purge rebuilds
# every other fact, and this activity for the window kept (graph.infra.events ACTIVITY_*). A
# pass that takes a like back is a decision, `product.unliked`, and is kept.
VOLUME_EVENTS = (
    "product.viewed",
    "product.passed",
    "room.read",
    "user.logged_in",
    "feed.dealt",  # the feed's impressions (graph.feed.impressions)
)

PURGE_EVENTS = statement(
    "jobs.purge_events",
    """
    MATCH (e:Event)
    WHERE e.at < $cutoff AND e.type IN $types
    WITH e LIMIT $batch
    DELETE e
    RETURN count(*) AS n
    """,
    write=True,
)

_UNUSED_IMAGE = """
i.created_at <= $cutoff
AND NOT (i)<-[:HAS_IMAGE]-(:Product) AND NOT (i)<-[:HAS_AVATAR]-(:User)
"""

UNUSED_IMAGES = statement(
    "jobs.unused_images",
    "MATCH (i:Image) WHERE " + _UNUSED_IMAGE + " RETURN i.id AS id LIMIT $batch",
)

PURGE_IMAGES = statement(
    "jobs.purge_images",
    """
    UNWIND $rows AS row
    WITH row.id AS id, row.event_id AS event_id, row.event_data AS event_data
    MATCH (i:Image {id: id})
    WHERE """
    + _UNUSED_IMAGE
    + """
    CREATE (e:Event {id: event_id, type: 'image.purged', at: $now, actor_id: 'system',
                     subject_id: i.id, data: event_data})
    DETACH DELETE i
    RETURN id
    """,
    write=True,
)

KNOWN_IMAGES = statement(
    "jobs.known_images",
    """
    UNWIND $ids AS id
    MATCH (i:Image {id: id})
    RETURN collect(i.id) AS ids
    """,
)

# engagement (views 1, likes 3, saves 4, offers 5, messages 2) with exponential decay, plus
# any paid boost; six decimals, so the value survives a
# text round trip exactly and hype cursors compare equal. Beside it, every like the listing
# has had, undecayed (`likes`: the feed's steady popularity, where hype is its recent one).
# (no label on the engaging end: only people view, like and save, and FalkorDB pays for the
# label check on every edge)
_HYPE = (
    """
    OPTIONAL MATCH (p)<-[r:VIEWED|LIKED|SAVED]-()
    """
    + ENGAGEMENT
    + """
    SET p.likes = likes
    WITH p, engagement
    // (each sum in a projection of its own: FalkorDB gives null for `grouping key + sum()`)
    OPTIONAL MATCH (p)<-[:FOR]-(offer:Offer)
    WHERE offer.created_at >= $since
    WITH p, engagement,
         sum(coalesce(5.0 * exp(toFloat(offer.created_at - $now) / $tau), 0.0)) AS offers
    OPTIONAL MATCH (p)<-[:ABOUT]-(:Room)<-[:IN]-(m:Message)
    WHERE m.sent_at >= $since AND m.sender_id <> 'system'
    WITH p, engagement, offers,
         sum(coalesce(2.0 * exp(toFloat(m.sent_at - $now) / $tau), 0.0)) AS messages
    WITH p, engagement + offers + messages AS engagement
    SET p.hype = round((engagement + coalesce(p.boost, 0.0)) * 1000000.0) / 1000000.0
    RETURN count(p) AS n
"""
)

HYPE = statement(
    "jobs.hype",
    """
    MATCH (p:Product)
    WHERE p.expires_at > $lo AND p.expires_at <= $hi AND p.status = 'active'
    """
    + _HYPE,
    write=True,
)

HYPE_OF = statement(
    "jobs.hype_of",
    """
    UNWIND $ids AS id
    MATCH (p:Product {id: id})
    WHERE p.status = 'active'
    """
    + _HYPE,
    write=True,
)


@dataclass
class RoundReport:
    expired: int = 0
    purged_products: int = 0
    purged_images: int = 0
    purged_blobs: int = 0
    purged_events: int = 0
    impressions: int = 0  # deck pages the feed dealt, moved from Redis into the log
    views: int = 0  # listing views counted (queued in Redis as they happen)
    hyped: int = 0
    rescored: int = 0
    reviews_published: int = 0
    trust_scored: int = 0
    rings_flagged: int = 0
    placed: int = 0
    pools_rebuilt: bool = False
    feed_fit: str | None = None  # the deck's blend fitted this round: the decision
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class Jobs:
    def __init__(
        self,
        store: GraphStore,
        blobs: BlobStore,
        cache: QueryCache,
        pools: Pools,
        redis: aioredis.Redis,
        settings: Settings,
        reviews: ReviewService | None = None,
        trust: TrustService | None = None,
        learner: Learner | None = None,
    ) -> None:
        self._learner = learner
        self._fit_every_s = settings.feed_fit_seconds
        self._store = store
        self._reviews = reviews
        self._trust = trust
        self._trust_every_s = settings.trust_interval_seconds
        self._blobs = blobs
        self._orphans_swept_at = -float(ORPHAN_SWEEP_S)
        self._purge_after_ms = settings.purge_after_days * DAY_MS
        self._events_kept_ms = int(settings.event_retention_days * DAY_MS)
        self._cache = cache
        self._pools = pools
        self._redis = redis
        self._prefix = settings.redis_prefix
        self._hype_every_s = settings.hype_full_seconds
        self._pools_every_s = settings.feed_pools_rebuild_seconds

    async def _drain(self, st: Any, params: dict[str, Any]) -> int:
        total = 0
        while True:
            n = (await self._store.run(st, params | {"batch": BATCH, "now": now_ms()}))[0]["n"]
            total += n
            if n < BATCH:
                return total

    async def _sweep(self, due: Statement, write: Statement, params: dict[str, Any]) -> list[str]:
        """Run `write` on the ids `due` finds, a batch at a time, each row with an Event of its
        own; the ids written."""
        written: list[str] = []
        while True:
            now = now_ms()
            found = await self._store.run(due, params | {"batch": BATCH, "now": now})
            rows = [{"id": r["id"], "event_id": new_id()} for r in found]
            done = await self._store.run(write, params | {"rows": rows, "now": now}) if rows else []
            written += [r["id"] for r in done]
            # rows that no longer qualify would be found again: stop rather than re-read them
            if len(found) < BATCH or not done:
                return written

    async def expire(self) -> int:
        params: dict[str, Any] = dict(savers("saved.expired", "system"))
        return len(await self._sweep(EXPIRING, EXPIRE, params))

    async def purge_products(self) -> int:
        params = {"cutoff": now_ms() - self._purge_after_ms}
        return len(await self._sweep(PURGEABLE, PURGE_PRODUCTS, params))

    async def purge_events(self) -> int:
        cutoff = now_ms() - self._events_kept_ms
        return await self._drain(PURGE_EVENTS, {"cutoff": cutoff, "types": list(VOLUME_EVENTS)})

    async def purge_images(self) -> int:
        params = {"cutoff": now_ms() - IMAGE_GRACE_MS}
        ids = await self._sweep(UNUSED_IMAGES, PURGE_IMAGES, params)
        for image_id in ids:
            await asyncio.to_thread(self._drop_blob, image_id)
        return len(ids)

    def _drop_blob(self, image_id: str) -> None:
        self._blobs.delete(image_id)
        self._blobs.delete(image_id + ".thumb")

    async def purge_orphan_blobs(self) -> int:
        """Blobs whose graph node is gone (a purge that died half-way) or never came. Once an
        hour at most (the first round of a process always): it lists every blob, which on
        object storage is a request per thousand objects."""
        if time.monotonic() - self._orphans_swept_at < ORPHAN_SWEEP_S:
            return 0
        self._orphans_swept_at = time.monotonic()
        keys = sorted(await asyncio.to_thread(self._blobs.keys))
        dropped = 0
        for start in range(0, len(keys), BATCH):
            chunk = keys[start : start + BATCH]
            ids = sorted({k.split(".")[0] for k in chunk})
            known = set((await self._store.run(KNOWN_IMAGES, {"ids": ids}))[0]["ids"])
            for key in chunk:
                if key.split(".")[0] in known:
                    continue
                age = time.time() - await asyncio.to_thread(self._blobs.modified_at, key)
                if age > BLOB_GRACE_S:
                    await asyncio.to_thread(self._blobs.delete, key)
                    dropped += 1
        return dropped

    async def hype(self) -> int:
        """Every active listing's hype, one window of expiry time at a time."""
        total = 0
        windows = by_expiry(self._store, HYPE, _hype_params(), target=BATCH, size=_count)
        async for rows in windows:
            total += _count(rows)
        return total

    async def flush_views(self) -> int:
        """The views queued since the last round, counted in the graph and marked for hype."""
        return await flush_views(self._store, self._redis, self._pools, self._prefix)

    async def rescore(self) -> int:
        """Listings people engaged with since the last round: their hype now, then their place
        in the feed's pools. Between full passes, hype elsewhere only lags its decay."""
        total = 0
        while ids := await self._pools.take_engaged(BATCH):
            await self._store.run(HYPE_OF, _hype_params() | {"ids": ids, "now": now_ms()})
            await self._pools.refresh(ids)
            total += len(ids)
        return total

    async def fit_blend(self) -> str | None:
        """Fit the deck's blend from the log when it is due or a bulk load asked for it (after
        the pools' rebuild: the fit ranks what they hold). One worker at a time."""
        if self._learner is None:
            return None
        requested = await self._learner.take_request()
        if not (await self._due("feed_fit", self._fit_every_s) or requested):
            return None
        lock = f"{self._prefix}jobs:feed_fit:lock"
        if not await self._redis.set(lock, "1", nx=True, ex=FIT_LOCK_S):
            return None
        try:
            return (await self._learner.fit()).reason
        finally:
            await self._redis.delete(lock)

    async def _due(self, name: str, every_s: float) -> bool:
        """True once every `every_s` across workers (and the first time)."""
        key = f"{self._prefix}jobs:{name}"
        last = await self._redis.get(key)
        if last is not None and time.time() - float(last) < every_s:
            return False
        await self._redis.set(key, str(time.time()))
        return True

    async def run_once(self, *, full: bool = False) -> RoundReport:
        """One round; `full` runs the periodic passes (all hype, the pools' rebuild) too."""
        started = time.monotonic()
        report = RoundReport()
        report.expired = await self.expire()
        placed = await place_listings(self._store)
        if placed:  # listed before public places were stored, or the cell size changed
            await self._pools.refresh(placed)
        report.placed = len(placed)
        report.purged_products = await self.purge_products()
        report.purged_images = await self.purge_images()
        report.purged_blobs = await self.purge_orphan_blobs()
        # the decks' impressions, queued in Redis as they are dealt: into the log, all of them
        report.impressions = await flush_impressions(self._store, self._redis, self._prefix)
        # views, queued as they happen: counted before the hype of what people engaged with
        report.views = await self.flush_views()
        report.purged_events = await self.purge_events()
        # hype in full now and then (decay alone changes no order), and every round for what
        # people engaged with; the feed's pools follow, and are rebuilt now and then too
        if await self._due("hype", self._hype_every_s) or full:
            report.hyped = await self.hype()
        report.rescored = await self.rescore()
        if self._reviews is not None:  # blind reviews whose window closed
            report.reviews_published = await self._reviews.publish_due()
        if self._trust is not None and (await self._due("trust", self._trust_every_s) or full):
            trust = await self._trust.recompute()
            report.trust_scored, report.rings_flagged = trust.people, trust.flagged
        await self._cache.bump("catalog")  # hype moved, listings expired or went
        if await self._due("pools", self._pools_every_s) or full:
            report.pools_rebuilt = await self._pools.rebuild()
        report.feed_fit = await self.fit_blend()
        report.seconds = round(time.monotonic() - started, 3)
        return report


def _hype_params() -> dict[str, Any]:
    return {"tau": float(HYPE_TAU_MS), "since": now_ms() - HYPE_WINDOW_MS}


def _count(rows: list[dict[str, Any]]) -> int:
    return int(rows[0]["n"]) if rows else 0


async def sweeper(
    jobs: Jobs, redis: aioredis.Redis, prefix: str, interval_s: float, stop: asyncio.Event
) -> None:
    """Run a round every interval in whichever worker takes the lock first."""
    lock = f"{prefix}jobs:lock"
    while not stop.is_set():
        if await redis.set(lock, "1", nx=True, ex=max(1, int(interval_s))):
            try:
                report = await jobs.run_once()
                log.info("jobs round: %s", report)
            except Exception:  # a failed round must not end the sweeper; the next one retries
                log.exception("jobs round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
