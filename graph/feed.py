"""The swipe deck: candidates from bounded traversals, one ranking, reasons that are true.

Candidates come from (1) listings co-liked by people who liked what you liked, (2) the best
listings in the tags you like, and (3) nearby popular listings; each traversal is capped so a
popular listing's thousands of likers cannot blow a query up. One score then weighs tag
affinity, co-likes, distance, freshness, hype and seller trust, and the deck keeps at most two
cards per seller.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from graph.browse import BrowseService
from graph.catalog import PRODUCT_VIEW
from graph.commands import Browse, Place
from graph.errors import Invalid, NotFound
from graph.ids import event, now_ms
from graph.store import GraphStore, Statement, statement

DAY_MS = 86_400_000
MAX_PER_SELLER = 2
POPULAR_HYPE = 5.0
NEW_DAYS = 3
SEEDS, LIKERS, THEIR_LIKES = 10, 15, 8  # co-like fan-out caps
TOP_TAGS, PER_TAG, NEARBY = 3, 30, 60
GRID_DEGREES = 0.05  # candidate pages around a snapped point are shared by neighbours' decks
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
    WHERE p.status <> 'deleted' AND NOT (me)-[:BLOCKED]-(seller)
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
    RETURN c.id AS id, seed.id AS seed_id, seed.title AS seed_title, count(*) AS paths
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
    sources: set[str] = field(default_factory=set)


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


def rank(
    candidates: dict[str, Candidate],
    weights: dict[str, float],
    liked_tags: dict[str, str],
    now: int,
    limit: int,
) -> list[Card]:
    """Score every candidate, then deal the deck best first, at most two cards per seller."""
    top = max(weights.values(), default=0.0)
    scored = []
    for cand in candidates.values():
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
        score = sum(WEIGHTS[k] * v for k, v in parts.items())
        scored.append((score, p["id"], cand, parts))
    scored.sort(key=lambda s: (-s[0], s[1]))
    deck: list[Card] = []
    per_seller: Counter[str] = Counter()
    for score, _, cand, parts in scored:
        seller = cand.row["seller_id"]
        if per_seller[seller] >= MAX_PER_SELLER:
            continue
        per_seller[seller] += 1
        deck.append(Card(cand.row, round(score, 4), reasons(cand, parts, weights, liked_tags, now)))
        if len(deck) == limit:
            break
    return deck


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
    hype = float(p.get("hype") or 0.0)
    if hype >= POPULAR_HYPE and tags:
        out.append({"kind": "popular", "tag": tags[0], "text": f"popular in #{tags[0]}"})
    if (now - p["created_at"]) < NEW_DAYS * DAY_MS and tags:
        out.append({"kind": "new", "tag": tags[0], "text": f"new in #{tags[0]}"})
    if not out:
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
    def __init__(self, store: GraphStore, browse: BrowseService) -> None:
        self._store = store
        self._browse = browse

    async def swipe(self, user_id: str, product_id: str, direction: str) -> None:
        params = {"user_id": user_id, "product_id": product_id, **event({"dir": direction})}
        rows = await self._store.run(SWIPE[direction], params)
        if not rows:
            await self._explain_missing(user_id, product_id)

    async def _explain_missing(self, user_id: str, product_id: str) -> None:
        owner = await self._store.run(OWNER, {"product_id": product_id})
        if owner and owner[0]["owner_id"] == user_id:
            raise Invalid("this is your own listing", errors={"product_id": "your own"})
        raise NotFound("no such listing")

    async def save(self, user_id: str, product_id: str) -> None:
        rows = await self._store.run(
            SAVE, {"user_id": user_id, "product_id": product_id, **event()}
        )
        if not rows:
            raise NotFound("no such listing")

    async def unsave(self, user_id: str, product_id: str) -> None:
        await self._store.run(UNSAVE, {"user_id": user_id, "product_id": product_id, **event()})

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
        await self._store.run(VIEW, {"user_id": user_id, "product_id": product_id, **event()})

    async def deck(
        self, user_id: str, near: Place | None, radius_km: float | None, limit: int
    ) -> list[Card]:
        now = now_ms()
        profile = await self._store.run(PROFILE, {"user_id": user_id})
        me = (await self._store.run(INTERESTS, {"user_id": user_id}))[0]
        if near is None and me["location"]:
            near = Place(me["location"]["latitude"], me["location"]["longitude"])
        weights = tag_weights(profile, me["interests"])
        liked_tags = {t: row["id"] for row in reversed(profile) for t in row["tags"]}
        hidden = await self._browse.hidden_sellers(user_id)
        candidates: dict[str, Candidate] = {}

        colikes = await self._store.run(
            COLIKED,
            {"user_id": user_id, "seeds": SEEDS, "likers": LIKERS, "their_likes": THEIR_LIKES},
        )
        best_seed: dict[str, tuple[int, str, str]] = {}
        paths: dict[str, int] = defaultdict(int)
        for row in colikes:
            paths[row["id"]] += row["paths"]
            if row["paths"] > best_seed.get(row["id"], (0, "", ""))[0]:
                best_seed[row["id"]] = (row["paths"], row["seed_id"], row["seed_title"])
        top_tags = sorted(weights, key=lambda t: -weights[t])[:TOP_TAGS]
        # the best in your tags, near you too when there is a place (most deals are local);
        # around a point snapped to a grid, so neighbours share the cached pages
        area = _snap(near) if near is not None else None
        pages = [
            Browse(viewer_id=user_id, tags=(tag,), sort="hype", limit=PER_TAG) for tag in top_tags
        ]
        if area is not None:
            pages += [
                Browse(
                    viewer_id=user_id,
                    tags=(tag,),
                    near=area,
                    radius_km=radius_km or 25.0,
                    sort="hype",
                    limit=PER_TAG,
                )
                for tag in top_tags
            ]
        pages.append(
            Browse(
                viewer_id=user_id, near=area, radius_km=radius_km or 25.0, sort="hype", limit=NEARBY
            )
        )
        for rows, _ in await asyncio.gather(*(self._browse.browse(page) for page in pages)):
            for row in rows:
                candidates.setdefault(row["id"], Candidate(row)).sources.add("browse")
        # the most co-liked first, and no more of them than a deck could use
        strongest = sorted(paths, key=lambda pid: (-paths[pid], pid))[:COLIKED_MAX]
        missing = [pid for pid in strongest if pid not in candidates]
        if missing:
            params = {"ids": missing, "now": now, "hidden_sellers": hidden, "near": _point(near)}
            for row in await self._store.run(DETAILS, params):
                candidates[row["id"]] = Candidate(row)
        for pid, cand in candidates.items():
            cand.colike_paths = paths.get(pid, 0)
            if pid in best_seed:
                cand.colike_seed = best_seed[pid][1:]
        await self._exclude(user_id, candidates, hidden, now)
        if near is not None:
            _with_distance(candidates, near)
        return rank(candidates, weights, liked_tags, now, limit)

    async def _exclude(
        self, user_id: str, candidates: dict[str, Candidate], hidden: list[str], now: int
    ) -> None:
        seen = await self._store.run(SEEN, {"user_id": user_id, "ids": list(candidates)})
        drop = set(seen[0]["ids"]) if seen else set()
        for pid, cand in list(candidates.items()):
            row = cand.row
            if (
                pid in drop
                or row["seller_id"] == user_id
                or row["seller_id"] in hidden
                or row["status"] != "active"
                or row["expires_at"] <= now
            ):
                del candidates[pid]


def _point(near: Place | None) -> dict[str, float] | None:
    return {"latitude": near.lat, "longitude": near.lon} if near else None


def _snap(place: Place) -> Place:
    return Place(
        round(place.lat / GRID_DEGREES) * GRID_DEGREES,
        round(place.lon / GRID_DEGREES) * GRID_DEGREES,
    )


def _with_distance(candidates: dict[str, Candidate], near: Place) -> None:
    """Distance from the user's own point for every card (pages came from a snapped one)."""
    for cand in candidates.values():
        loc = cand.row.get("location")
        if loc:
            cand.row["distance_m"] = round(
                haversine_m(loc["latitude"], loc["longitude"], near.lat, near.lon), 3
            )


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_378_137.0 * math.asin(math.sqrt(a))
