"""The swipe deck: candidates from bounded traversals, one ranking, reasons that are true.

Candidates come from (1) listings co-liked by people who liked what you liked, a graph
traversal capped at every hop so a popular listing's thousands of likers cannot blow it up,
(2) the best listings in the tags you like, near you and anywhere, and (3) the most engaging
and the newest listings near you; (2) and (3) are read from the candidate pools (`graph.pools`).
One score weighs tag affinity, co-likes, distance, freshness, hype and seller trust; the best
are then read back from the graph, which alone decides what may be shown (active, not expired,
not yours, not swiped, seller not blocked), ranked again on what it says, and dealt at most two
cards per seller.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from graph.browse import DEFAULT_RADIUS_KM, BrowseService
from graph.catalog import PRODUCT_VIEW
from graph.commands import Place
from graph.errors import Invalid, NotFound
from graph.geo import haversine_m
from graph.ids import event, now_ms
from graph.pools import Item, Pools
from graph.store import GraphStore, Statement, statement

DAY_MS = 86_400_000
MAX_PER_SELLER = 2
POPULAR_HYPE = 5.0
NEW_DAYS = 3
SEEDS, LIKERS, THEIR_LIKES = 10, 15, 8  # co-like fan-out caps
TOP_TAGS = 5
COLIKED_MAX = 80

WEIGHTS = {
    "affinity": 0.35,
    "colike": 0.25,
    "distance": 0.15,
    "fresh": 0.10,
    "hype": 0.10,
    "trust": 0.05,
}


def _swipe(name: str, kind: str, undo: str, event_type: str) -> Statement:
    # relationship types cannot be parameters: these come from the two fixed calls below
    return statement(
        name,
        """
        MATCH (me:User {id: $user_id})
        MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
        WHERE seller.id <> me.id AND seller.status = 'active' AND p.status = 'active'
          AND p.expires_at > $now AND NOT (me)-[:BLOCKED]-(seller)
        OPTIONAL MATCH (me)-[old:"""
        + undo
        + """]->(p)
        DELETE old
        WITH DISTINCT me, p
        MERGE (me)-[swiped:"""
        + kind
        + """]->(p)
          ON CREATE SET swiped.at = $now
        CREATE (e:Event {id: $event_id, type: '"""
        + event_type
        + """', at: $now, actor_id: $user_id,
                         subject_id: $product_id, data: $event_data})
        RETURN p.id AS id
        """,
        write=True,
    )


# a swipe replaces the opposite one: changing your mind is allowed
SWIPE = {
    "right": _swipe("feed.like", "LIKED", "PASSED", "product.liked"),
    "left": _swipe("feed.pass", "PASSED", "LIKED", "product.passed"),
}

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

PROFILE = statement(
    "feed.profile",
    """
    MATCH (me:User {id: $user_id})
    CALL {
      WITH me
      MATCH (me)-[r:LIKED|SAVED]->(liked:Product)
      RETURN liked, r.at AS at ORDER BY at DESC LIMIT 30
    }
    MATCH (liked)-[:TAGGED]->(t:Tag)
    RETURN liked.id AS id, liked.title AS title, at, collect(t.name) AS tags
    """,
)

INTERESTS = statement(
    "feed.interests",
    """
    MATCH (me:User {id: $user_id})
    OPTIONAL MATCH (me)-[i:INTERESTED_IN]->(t:Tag)
    RETURN me.location AS location, collect({tag: t.name, weight: i.weight}) AS interests
    """,
)

COLIKED = statement(
    "feed.coliked",
    """
    MATCH (me:User {id: $user_id})
    CALL {
      WITH me
      MATCH (me)-[r:LIKED]->(seed:Product)
      RETURN seed ORDER BY r.at DESC LIMIT $seeds
    }
    CALL {
      WITH me, seed
      MATCH (seed)<-[:LIKED]-(other:User)
      WHERE other.id <> me.id
      RETURN other LIMIT $likers
    }
    CALL {
      WITH other, seed
      MATCH (other)-[:LIKED]->(c:Product)
      WHERE c.id <> seed.id AND c.status = 'active'
      RETURN c LIMIT $their_likes
    }
    WITH c, seed, count(*) AS n
    ORDER BY n DESC, seed.id
    // per candidate: how many paths lead to it, and the liked listing most of them start from
    WITH c, sum(n) AS paths, collect({id: seed.id, title: seed.title})[0] AS best
    RETURN c.id AS id, paths, best.id AS seed_id, best.title AS seed_title
    ORDER BY paths DESC, id LIMIT $most
    """,
)

SEEN = statement(
    "feed.seen",
    """
    MATCH (me:User {id: $user_id})-[:LIKED|PASSED|SAVED]->(p:Product)
    WHERE p.id IN $ids
    RETURN collect(DISTINCT p.id) AS ids
    """,
)

DETAILS = statement(
    "feed.details",
    """
    UNWIND $ids AS id
    MATCH (p:Product {id: id})
    WITH p
    MATCH (s:User)-[:LISTED]->(p)
    WHERE p.status = 'active' AND p.expires_at > $now AND s.status = 'active'
      AND NOT s.id IN $hidden_sellers
    WITH p, s
    """
    + PRODUCT_VIEW,
)


@dataclass
class Candidate:
    row: dict[str, Any]
    colike_paths: int = 0
    colike_seed: tuple[str, str] | None = None  # (product id, title) you liked


@dataclass
class Card:
    product: dict[str, Any]
    score: float
    reasons: list[dict[str, Any]]


def tag_weights(profile: list[dict[str, Any]], interests: list[dict[str, Any]]) -> dict[str, float]:
    """Tags of what you liked and saved (recent ones count more) plus stated interests."""
    weights: defaultdict[str, float] = defaultdict(float)
    for rank, row in enumerate(profile):
        for tag in row["tags"]:
            weights[tag] += 1.0 / (1 + 0.1 * rank)
    for item in interests:
        if item.get("tag"):
            weights[item["tag"]] += float(item.get("weight") or 1.0)
    return dict(weights)


def score(
    cand: Candidate, weights: dict[str, float], top: float, now: int
) -> tuple[float, dict[str, float]]:
    p = cand.row
    tags = p.get("tags") or []
    affinity = sum(weights.get(t, 0.0) for t in tags) / (top * 2) if top else 0.0
    distance = p.get("distance_m")
    age_days = max(0.0, (now - p["created_at"]) / DAY_MS)
    hype = float(p.get("hype") or 0.0)
    parts = {
        "affinity": min(1.0, affinity),
        "colike": min(1.0, cand.colike_paths / 3),
        "distance": math.exp(-distance / 15_000) if distance is not None else 0.0,
        "fresh": math.exp(-age_days / 7),
        "hype": hype / (hype + POPULAR_HYPE),
        "trust": float(p.get("seller_trust") or 0) / 100,
    }
    return sum(WEIGHTS[k] * v for k, v in parts.items()), parts


def promoted(row: dict[str, Any], now: int) -> bool:
    until = row.get("promoted_until")
    return until is not None and int(until) > now


def ranked(
    candidates: dict[str, Candidate],
    weights: dict[str, float],
    now: int,
    limit: int,
    promoted_cap: int | None = None,
) -> list[tuple[float, Candidate, dict[str, float]]]:
    """Best first, at most two per seller, at most `promoted_cap` promoted, at most `limit`."""
    top = max(weights.values(), default=0.0)
    scored = []
    for cand in candidates.values():
        value, parts = score(cand, weights, top, now)
        scored.append((value, cand.row["id"], cand, parts))
    scored.sort(key=lambda s: (-s[0], s[1]))
    out = []
    per_seller: Counter[str] = Counter()
    promotions = 0
    for value, _, cand, parts in scored:
        seller = cand.row["seller_id"]
        if per_seller[seller] >= MAX_PER_SELLER:
            continue
        if promoted_cap is not None and promoted(cand.row, now):
            if promotions >= promoted_cap:
                continue  # paid boosts do not crowd out the rest of the deck
            promotions += 1
        per_seller[seller] += 1
        out.append((value, cand, parts))
        if len(out) == limit:
            break
    return out


def rank(
    candidates: dict[str, Candidate],
    weights: dict[str, float],
    liked_tags: dict[str, str],
    now: int,
    limit: int,
    promoted_cap: int | None = None,
) -> list[Card]:
    """Score every candidate, then deal the deck best first, at most two cards per seller and
    `promoted_cap` promoted ones."""
    return [
        Card(cand.row, round(value, 4), reasons(cand, parts, weights, liked_tags, now))
        for value, cand, parts in ranked(candidates, weights, now, limit, promoted_cap)
    ]


def reasons(
    cand: Candidate,
    parts: dict[str, float],
    weights: dict[str, float],
    liked_tags: dict[str, str],
    now: int,
) -> list[dict[str, Any]]:
    """Why this card: each reason is a checkable fact about the data, strongest first."""
    p = cand.row
    tags = sorted(p.get("tags") or [], key=lambda t: -weights.get(t, 0.0))
    out: list[dict[str, Any]] = []
    boost = 0.0
    paid = promoted(p, now)
    if paid:  # said first: a paid placement is never passed off as a match
        out.append({"kind": "promoted", "text": "promoted by the seller"})
        boost = float(p.get("boost") or 0.0)
    if cand.colike_seed:
        seed_id, title = cand.colike_seed
        out.append({"kind": "liked", "product_id": seed_id, "text": f"because you liked {title}"})
    liked = [t for t in tags if t in liked_tags]
    if liked:
        out.append(
            {"kind": "interest", "tag": liked[0], "text": f"matches your interest in #{liked[0]}"}
        )
    if p.get("distance_m") is not None:
        km = p["distance_m"] / 1000
        out.append({"kind": "distance", "km": round(km, 1), "text": f"{km:.1f} km away"})
    hype = float(p.get("hype") or 0.0) - boost  # popular by engagement, not by the boost
    if hype >= POPULAR_HYPE and tags:
        out.append({"kind": "popular", "tag": tags[0], "text": f"popular in #{tags[0]}"})
    if (now - p["created_at"]) < NEW_DAYS * DAY_MS and tags:
        out.append({"kind": "new", "tag": tags[0], "text": f"new in #{tags[0]}"})
    if len(out) == int(paid):
        out.append(
            {
                "kind": "fresh",
                "text": "listed recently"
                if now - p["created_at"] < 14 * DAY_MS
                else "still available",
            }
        )
    return out


class FeedService:
    def __init__(
        self, store: GraphStore, browse: BrowseService, pools: Pools, promoted_cap: int = 2
    ) -> None:
        self._promoted_cap = promoted_cap
        self._store = store
        self._browse = browse
        self._pools = pools

    async def swipe(self, user_id: str, product_id: str, direction: str) -> None:
        params = {"user_id": user_id, "product_id": product_id, **event({"dir": direction})}
        rows = await self._store.run(SWIPE[direction], params)
        if not rows:
            await self._explain_missing(user_id, product_id)
        await self._pools.mark_engaged(product_id)

    async def _explain_missing(self, user_id: str, product_id: str) -> None:
        owner = await self._store.run(OWNER, {"product_id": product_id})
        if owner and owner[0]["owner_id"] == user_id:
            raise Invalid("this is your own listing", errors={"product_id": "your own"})
        raise NotFound("no such listing")

    async def save(self, user_id: str, product_id: str) -> None:
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

    async def viewed(self, user_id: str, product_id: str) -> None:
        rows = await self._store.run(
            VIEW, {"user_id": user_id, "product_id": product_id, **event()}
        )
        if rows:
            await self._pools.mark_engaged(product_id)

    async def deck(
        self, user_id: str, near: Place | None, radius_km: float | None, limit: int
    ) -> list[Card]:
        now = now_ms()
        profile, interests, hidden, colikes = await asyncio.gather(
            self._store.run(PROFILE, {"user_id": user_id}),
            self._store.run(INTERESTS, {"user_id": user_id}),
            self._browse.hidden_sellers(user_id),
            self._store.run(
                COLIKED,
                {
                    "user_id": user_id,
                    "seeds": SEEDS,
                    "likers": LIKERS,
                    "their_likes": THEIR_LIKES,
                    "most": COLIKED_MAX,
                },
            ),
        )
        if not interests:
            raise NotFound("no such user")
        me = interests[0]
        if near is None and me["location"]:
            near = Place(me["location"]["latitude"], me["location"]["longitude"])
        weights = tag_weights(profile, me["interests"])
        liked_tags = {t: row["id"] for row in reversed(profile) for t in row["tags"]}
        paths = {row["id"]: row["paths"] for row in colikes}
        best_seed = {row["id"]: (row["seed_id"], row["seed_title"]) for row in colikes}
        top_tags = sorted(weights, key=lambda t: (-weights[t], t))[:TOP_TAGS]
        radius_m = (radius_km or DEFAULT_RADIUS_KM) * 1000.0
        pooled = await self._pools.candidates(near, radius_m, top_tags, paths, now)
        items = {
            pid: item
            for pid, item in pooled.items()
            if item.seller_id != user_id and item.seller_id not in hidden
        }
        if items:
            seen = await self._store.run(SEEN, {"user_id": user_id, "ids": list(items)})
            for pid in seen[0]["ids"] if seen else ():
                items.pop(pid, None)
        # rank on what the pools know, then read the best from the graph (which has the last
        # word on what may be shown) and rank those again on what it says
        rough = {
            pid: self._candidate(_row(item, near), pid, paths, best_seed)
            for pid, item in items.items()
        }
        order = [c.row["id"] for _, c, _ in ranked(rough, weights, now, len(rough))]
        chunk = limit + max(10, limit // 2)
        read: dict[str, Candidate] = {}
        deck: list[Card] = []
        for start in range(0, min(len(order), 3 * chunk), chunk):
            params = {
                "ids": order[start : start + chunk],
                "now": now,
                "hidden_sellers": hidden,
                "near": _point(near),
            }
            # distances from the reader's own point, measured by the graph
            for row in await self._store.run(DETAILS, params):
                read[row["id"]] = self._candidate(row, row["id"], paths, best_seed)
            deck = rank(read, weights, liked_tags, now, limit, self._promoted_cap)
            if len(deck) == limit:
                break
        return deck

    @staticmethod
    def _candidate(
        row: dict[str, Any],
        pid: str,
        paths: dict[str, int],
        best_seed: dict[str, tuple[str, str]],
    ) -> Candidate:
        return Candidate(row, paths.get(pid, 0), best_seed.get(pid))


def _row(item: Item, near: Place | None) -> dict[str, Any]:
    """A pool item in the shape ranking reads a product in."""
    distance = None
    if near is not None and item.lat is not None and item.lon is not None:
        distance = haversine_m(item.lat, item.lon, near.lat, near.lon)
    return {
        "id": item.id,
        "seller_id": item.seller_id,
        "tags": list(item.tags),
        "created_at": item.created_at,
        "hype": item.hype,
        "seller_trust": item.trust,
        "distance_m": distance,
    }


def _point(near: Place | None) -> dict[str, float] | None:
    return {"latitude": near.lat, "longitude": near.lon} if near else None
