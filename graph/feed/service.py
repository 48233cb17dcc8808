"""The swipe feed's service: what a person does with listings (swipes, saves, views, stated
interests), and their deck, dealt from a swipe session (`sessions`) ranked on candidates
(`candidates`) by one score (`scoring`), each card with its reasons (`explanations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from graph.catalog import PRODUCT_VIEW, BrowseService, Pools, normalise_all
from graph.feed import views
from graph.feed.blend import Blend
from graph.feed.learning import Learner
from graph.feed.scoring import Card
from graph.feed.sessions import Decks
from graph.infra.cache import QueryCache
from graph.infra.errors import Invalid, NotFound
from graph.infra.geo import Place
from graph.infra.ids import event, now_ms
from graph.infra.ratelimit import RateLimiter
from graph.infra.store import GraphStore, statement

# Swipes, one or several at once: each replaces the opposite one (changing your mind is
# allowed); those on listings you may no longer swipe (gone, yours, seller blocked) are left out
SWIPES = statement(
    "feed.swipes",
    """
    MATCH (me:User {id: $user_id})
    UNWIND $swipes AS sw
    // (fields taken out of the map first: FalkorDB matches nothing on {id: sw.product_id})
    WITH me, sw.product_id AS product_id, sw.dir AS dir, sw.event_id AS event_id,
         sw.event_data AS event_data
    MATCH (p:Product {id: product_id})
    // (a step of its own: FalkorDB would otherwise start from every user)
    WITH me, p, dir, event_id, event_data
    MATCH (seller:User)-[:LISTED]->(p)
    WHERE seller.id <> me.id AND seller.status = 'active' AND p.status = 'active'
      AND p.expires_at > $now AND NOT (me)-[:BLOCKED]-(seller)
    OPTIONAL MATCH (me)-[old:LIKED|PASSED]->(p)
    WHERE type(old) = CASE dir WHEN 'right' THEN 'PASSED' ELSE 'LIKED' END
    WITH me, p, dir, event_id, event_data, old, old IS NOT NULL AS replaced
    DELETE old
    WITH DISTINCT me, p, dir, event_id, event_data, replaced
    FOREACH (_ IN CASE WHEN dir = 'right' THEN [1] ELSE [] END |
      MERGE (me)-[liked:LIKED]->(p) ON CREATE SET liked.at = $now)
    FOREACH (_ IN CASE WHEN dir = 'left' THEN [1] ELSE [] END |
      MERGE (me)-[passed:PASSED]->(p) ON CREATE SET passed.at = $now)
    // a pass that takes a like back is a decision, kept; other passes are volume, purged by
    // retention (graph.background.jobs), which a replay after the purge must not undo
    CREATE (e:Event {id: event_id, at: $now, actor_id: $user_id, subject_id: p.id,
                     type: CASE WHEN dir = 'right' THEN 'product.liked'
                                WHEN replaced THEN 'product.unliked'
                                ELSE 'product.passed' END,
                     data: event_data})
    RETURN p.id AS id
    """,
    write=True,
)

OWNER = statement(
    "feed.owner",
    "MATCH (s:User)-[:LISTED]->(p:Product {id: $product_id}) RETURN s.id AS owner_id",
)

SAVE = statement(
    "feed.save",
    """
    MATCH (me:User {id: $user_id})
    MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
    WHERE p.status <> 'deleted' AND NOT (me)-[:BLOCKED]-(seller) AND seller.id <> me.id
    MERGE (me)-[saved:SAVED]->(p)
      ON CREATE SET saved.at = $now
    CREATE (e:Event {id: $event_id, type: 'product.saved', at: $now, actor_id: $user_id,
                     subject_id: $product_id, data: $event_data})
    RETURN p.id AS id
    """,
    write=True,
)

UNSAVE = statement(
    "feed.unsave",
    """
    MATCH (me:User {id: $user_id})-[saved:SAVED]->(p:Product {id: $product_id})
    DELETE saved
    CREATE (e:Event {id: $event_id, type: 'product.unsaved', at: $now, actor_id: $user_id,
                     subject_id: $product_id, data: $event_data})
    RETURN p.id AS id
    """,
    write=True,
)

SAVED = statement(
    "feed.saved",
    """
    MATCH (me:User {id: $user_id})-[saved:SAVED]->(p:Product)
    WHERE p.status <> 'deleted'
      AND ($after_id IS NULL OR saved.at < $after OR (saved.at = $after AND p.id < $after_id))
    WITH p, saved ORDER BY saved.at DESC, p.id DESC LIMIT $limit
    MATCH (s:User)-[:LISTED]->(p)
    WHERE NOT s.id IN $hidden_sellers
    WITH p, s, saved.at AS saved_at
    """
    + PRODUCT_VIEW
    + ", saved_at ORDER BY saved_at DESC, id DESC",
)

# One view, written at once: how views were counted before they were queued (graph.feed.views
# batches them now). Kept because the log's older `product.viewed` Events name it: a replay
# runs it for them.
VIEW = statement(
    "feed.view",
    """
    MATCH (me:User {id: $user_id})
    MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
    WHERE seller.id <> me.id
    MERGE (me)-[v:VIEWED]->(p)
      ON CREATE SET v.at = $now, v.count = 1
      ON MATCH SET v.at = $now, v.count = v.count + 1
    CREATE (e:Event {id: $event_id, type: 'product.viewed', at: $now, actor_id: $user_id,
                     subject_id: $product_id, data: $event_data})
    RETURN p.id AS id
    """,
    write=True,
)

STATED = statement(
    "feed.stated_interests",
    """
    MATCH (me:User {id: $user_id})-[i:INTERESTED_IN]->(t:Tag)
    RETURN t.name AS tag ORDER BY tag
    """,
)

# stated interests replace the old ones; they weigh as much as one recent like each
SET_INTERESTS = statement(
    "feed.set_interests",
    """
    MATCH (me:User {id: $user_id})
    WHERE me.status = 'active'
    OPTIONAL MATCH (me)-[old:INTERESTED_IN]->(:Tag)
    DELETE old
    WITH DISTINCT me
    FOREACH (name IN $tags |
      MERGE (t:Tag {name: name})
      CREATE (me)-[:INTERESTED_IN {weight: 1.0, at: $now}]->(t))
    CREATE (e:Event {id: $event_id, type: 'user.interests', at: $now, actor_id: $user_id,
                     subject_id: $user_id, data: $event_data})
    RETURN me.id AS id
    """,
    write=True,
)


class FeedService:
    """Swipes, saves, views and stated interests; decks from the person's swipe session."""

    def __init__(
        self,
        store: GraphStore,
        browse: BrowseService,
        pools: Pools,
        redis: aioredis.Redis,
        prefix: str,
        promoted_cap: int = 2,
        *,
        cache: QueryCache,
        limiter: RateLimiter | None = None,
        view_period_s: float = 3600.0,
        learner: Learner | None = None,
    ) -> None:
        self._limiter = limiter
        self._view_period_ms = max(1, int(view_period_s * 1000))
        self._store = store
        self._pools = pools
        self._redis = redis
        self._prefix = prefix
        self._decks = Decks(store, browse, pools, redis, prefix, promoted_cap, cache, learner)

    async def swipe(self, user_id: str, product_id: str, direction: str) -> None:
        if not await self.swipes(user_id, [(product_id, direction)]):
            await self._explain_missing(user_id, product_id)

    async def swipes(self, user_id: str, swipes: Sequence[tuple[str, str]]) -> set[str]:
        """Several swipes in one write, as (listing, "right" | "left"); the last of a listing
        counts. Returns the listings swiped: the others can no longer be (gone, your own,
        their seller blocked or blocking)."""
        last = dict(swipes)
        if not last:
            return set()
        # each row its own event id and data (the statement reads them from the row)
        rows = [{"product_id": pid, "dir": way, **event()} for pid, way in last.items()]
        await self._decks.note_swiped(user_id, list(last))
        done = await self._store.run(SWIPES, {"user_id": user_id, "swipes": rows, "now": now_ms()})
        swiped = {row["id"] for row in done}
        await self._pools.mark_engaged(*swiped)
        return swiped

    async def _explain_missing(self, user_id: str, product_id: str) -> None:
        owner = await self._store.run(OWNER, {"product_id": product_id})
        if owner and owner[0]["owner_id"] == user_id:
            raise Invalid("this is your own listing", errors={"product_id": "your own"})
        raise NotFound("no such listing")

    async def save(self, user_id: str, product_id: str) -> None:
        await self._decks.note_swiped(user_id, [product_id])
        rows = await self._store.run(
            SAVE, {"user_id": user_id, "product_id": product_id, **event()}
        )
        if not rows:  # saving your own would lift its hype: refused like swiping it
            await self._explain_missing(user_id, product_id)
        await self._pools.mark_engaged(product_id)

    async def unsave(self, user_id: str, product_id: str) -> None:
        rows = await self._store.run(
            UNSAVE, {"user_id": user_id, "product_id": product_id, **event()}
        )
        if rows:
            await self._pools.mark_engaged(product_id)

    async def saved(
        self, user_id: str, cursor: tuple[Any, str] | None, limit: int, hidden: list[str]
    ) -> list[dict[str, Any]]:
        after, after_id = cursor if cursor else (None, None)
        params = {
            "user_id": user_id,
            "after": after,
            "after_id": after_id,
            "limit": limit,
            "hidden_sellers": hidden,
            "near": None,
        }
        return await self._store.run(SAVED, params)

    async def viewed(self, user_id: str, product_id: str) -> bool:
        """Note that this person looked at the listing: once per person, listing and view
        period (a reload is not interest), and within the person's view rate; otherwise
        nothing is noted. The view is queued, not written: the worker counts it within a round
        (`graph.feed.views`). True when a view was queued."""
        key = f"{self._prefix}viewed:{user_id}:{product_id}"
        if not await self._redis.set(key, 1, px=self._view_period_ms, nx=True):
            return False
        if self._limiter is not None and not await self._limiter.count("view_user", user_id):
            return False
        await views.note(self._redis, self._prefix, user_id, product_id, now_ms())
        return True

    async def interests(self, user_id: str) -> list[str]:
        return [row["tag"] for row in await self._store.run(STATED, {"user_id": user_id})]

    async def set_interests(self, user_id: str, tags: list[str]) -> list[str]:
        """Replace the tags this person said they are into (what a deck starts from before
        they have liked anything)."""
        names = normalise_all(tags, field="tags")
        rows = await self._store.run(SET_INTERESTS, {"user_id": user_id, "tags": names, **event()})
        if not rows:
            raise NotFound("no such user")
        await self._decks.forget(user_id)
        return sorted(names)

    async def deck(
        self,
        user_id: str,
        near: Place | None,
        radius_km: float | None,
        limit: int,
        fresh: bool = False,
        blend: Blend | None = None,
        record: bool = True,
    ) -> list[Card]:
        """The next `limit` cards of this person's session (a new session when there is none,
        the place or radius asked for changed, or `fresh`); `blend` ranks it in place of the
        learner's (evaluation); `record` False leaves the cards out of the impressions (an
        analyst's sample deck)."""
        return await self._decks.deck(user_id, near, radius_km, limit, fresh, blend, record)

    async def ranking(self, user_id: str) -> list[str]:
        """The ids the person's current session ranked, best first (evaluation, debugging)."""
        return await self._decks.ranking(user_id)

    async def forget_session(self, user_id: str) -> None:
        """What the session ranked no longer holds: start again."""
        await self._decks.forget(user_id)
