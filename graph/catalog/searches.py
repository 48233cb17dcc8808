"""Saved searches and matching a new listing against them without scanning them all.

Each search is indexed by one family of keys in the graph, the most selective it has: its tags
(`WATCHES` a Tag: a listing must carry all of them), else its words (`WATCHES` a Word: all must
appear in the title or description), else the grid cells its circle covers (`COVERS` a Cell).
A new listing reaches candidates through its own tags, words and cell only, and each candidate
is then checked against every criterion of its search. A search with none of the three (price
alone) is refused: it would have to be checked against every listing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from graph.catalog.tags import normalise_all
from graph.infra.errors import Conflict, Invalid, NotFound
from graph.infra.geo import haversine_m
from graph.infra.ids import event, iso, new_id
from graph.infra.store import GraphStore, statement

CELL_DEG = 0.5  # about 55 km north-south
MAX_RADIUS_KM = 200.0
MAX_WORDS = 8
MAX_LISTING_WORDS = 300
CANDIDATES_LIMIT = 50_000
_WORD = re.compile(r"\w+")


def words_of(text: str, limit: int) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if len(word) > 1 and word not in out:
            out.append(word)
            if len(out) == limit:
                break
    return out


def cell_of(lat: float, lon: float) -> str:
    return f"{math.floor(lat / CELL_DEG)}:{math.floor(lon / CELL_DEG)}"


def cells_covering(lat: float, lon: float, radius_km: float) -> list[str]:
    """The grid cells a circle touches (its bounding box, clamped at the poles)."""
    dlat = radius_km / 111.32
    cos = max(math.cos(math.radians(lat)), 0.01)
    dlon = min(radius_km / (111.32 * cos), 180.0)
    lat0, lat1 = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    rows = range(math.floor(lat0 / CELL_DEG), math.floor(lat1 / CELL_DEG) + 1)
    cols = range(math.floor((lon - dlon) / CELL_DEG), math.floor((lon + dlon) / CELL_DEG) + 1)
    return [f"{r}:{c}" for r in rows for c in cols]


@dataclass(frozen=True)
class SearchSpec:
    name: str | None = None
    q: str | None = None
    tags: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    min_price: int | None = None
    max_price: int | None = None
    currency: str | None = None
    condition: str | None = None


_FIELDS = """
s.id AS id, s.user_id AS user_id, s.name AS name, s.q AS q, s.words AS words, s.tags AS tags,
s.lat AS lat, s.lon AS lon, s.radius_km AS radius_km, s.min_price AS min_price,
s.max_price AS max_price, s.currency AS currency, s.condition AS condition,
s.created_at AS created_at
"""

CREATE = statement(
    "searches.create",
    """
    MATCH (u:User {id: $user_id}) WHERE u.status = 'active'
    WITH u, size([(u)-[:SAVED_SEARCH]->(old:Search) | old]) AS saved
    WHERE saved < $max
    CREATE (u)-[:SAVED_SEARCH]->(s:Search {id: $id, user_id: $user_id, name: $name, q: $q,
                                          words: $words, tags: $tags, lat: $lat, lon: $lon,
                                          radius_km: $radius_km, min_price: $min_price,
                                          max_price: $max_price, currency: $currency,
                                          condition: $condition, indexed_by: $indexed_by,
                                          created_at: $now})
    FOREACH (name IN $index_tags | MERGE (t:Tag {name: name}) CREATE (s)-[:WATCHES]->(t))
    // (an erased account's words are null in its log)
    FOREACH (text IN coalesce($index_words, []) |
      MERGE (w:Word {text: text}) CREATE (s)-[:WATCHES]->(w))
    FOREACH (cell IN $index_cells | MERGE (c:Cell {id: cell}) CREATE (s)-[:COVERS]->(c))
    CREATE (:Event {id: $event_id, type: 'search.saved', at: $now, actor_id: $user_id,
                    subject_id: $id, data: $event_data})
    RETURN"""
    + _FIELDS,
    write=True,
)


LIST = statement(
    "searches.list",
    "MATCH (:User {id: $user_id})-[:SAVED_SEARCH]->(s:Search)\nRETURN"
    + _FIELDS
    + "ORDER BY created_at DESC LIMIT 100",
)

DELETE = statement(
    "searches.delete",
    """
    MATCH (:User {id: $user_id})-[:SAVED_SEARCH]->(s:Search {id: $id})
    DETACH DELETE s
    CREATE (:Event {id: $event_id, type: 'search.deleted', at: $now, actor_id: $user_id,
                    subject_id: $id, data: $event_data})
    RETURN $id AS id
    """,
    write=True,
)

LISTING = statement(
    "searches.listing",
    """
    MATCH (seller:User)-[:LISTED]->(p:Product {id: $id})
    WHERE p.status = 'active' AND seller.status = 'active'
    RETURN p.id AS id, p.title AS title, p.description AS description, p.price AS price,
           p.currency AS currency, p.condition AS condition, p.place AS location,
           p.local_pickup AND NOT coalesce(p.ships, false) AS pickup_only,
           seller.id AS seller_id, [(p)-[:TAGGED]->(t:Tag) | t.name] AS tags
    """,
)

# Candidates through the listing's tags, its cell and its words; each arm bounded.
CANDIDATES = statement(
    "searches.candidates",
    """
    MATCH (:Product {id: $id})-[:TAGGED]->(:Tag)<-[:WATCHES]-(s:Search)
    WITH DISTINCT s LIMIT $limit
    RETURN"""
    + _FIELDS
    + """
    UNION
    MATCH (:Cell {id: $cell})<-[:COVERS]-(s:Search)
    WITH s LIMIT $limit
    RETURN"""
    + _FIELDS
    + """
    UNION
    UNWIND $words AS word
    MATCH (:Word {text: word})<-[:WATCHES]-(s:Search)
    WITH DISTINCT s LIMIT $limit
    RETURN"""
    + _FIELDS,
)

BLOCKED_AMONG = statement(
    "searches.blocked_among",
    """
    MATCH (:User {id: $seller_id})-[:BLOCKED]-(u:User)
    WHERE u.id IN $ids
    RETURN DISTINCT u.id AS id
    """,
)


def _point(location: Any) -> tuple[float, float] | None:
    if location is None:
        return None
    if isinstance(location, dict):
        return float(location["latitude"]), float(location["longitude"])
    return float(location.latitude), float(location.longitude)


def matches(
    search: dict[str, Any], listing: dict[str, Any], listing_words: set[str], pickup_m: float
) -> bool:
    """Does the listing satisfy every criterion of the search (as browse would)?"""
    if search["user_id"] == listing["seller_id"]:
        return False
    if not set(search["tags"] or []) <= set(listing["tags"]):
        return False
    if not set(search["words"] or []) <= listing_words:
        return False
    price = int(listing["price"])
    if search["min_price"] is not None and price < int(search["min_price"]):
        return False
    if search["max_price"] is not None and price > int(search["max_price"]):
        return False
    if search["currency"] and search["currency"] != listing["currency"]:
        return False
    if search["condition"] and search["condition"] != listing["condition"]:
        return False
    if search["lat"] is not None:
        where = _point(listing["location"])
        if where is None:
            return False
        distance = haversine_m(float(search["lat"]), float(search["lon"]), *where)
        if distance > float(search["radius_km"]) * 1000:
            return False
        if listing.get("pickup_only") and distance > pickup_m:
            return False
    return True


def shape(row: dict[str, Any]) -> dict[str, Any]:
    place = (
        {"lat": row["lat"], "lon": row["lon"], "radius_km": row["radius_km"]}
        if row["lat"] is not None
        else None
    )
    return {
        "id": row["id"],
        "name": row["name"],
        "q": row["q"],
        "tags": list(row["tags"] or []),
        "place": place,
        "min_price": row["min_price"],
        "max_price": row["max_price"],
        "currency": row["currency"],
        "condition": row["condition"],
        "created_at": iso(row["created_at"]),
    }


class SavedSearches:
    def __init__(self, store: GraphStore, max_per_user: int, pickup_m: float = 50_000.0) -> None:
        self._store = store
        self._max = max_per_user
        self._pickup_m = pickup_m

    async def create(self, user_id: str, spec: SearchSpec) -> dict[str, Any]:
        tags = normalise_all(list(spec.tags))
        words = words_of(spec.q, MAX_WORDS) if spec.q else []
        if spec.q and not words:
            raise Invalid("the search has no words to look for", errors={"q": "no words"})
        has_place = spec.lat is not None and spec.lon is not None
        radius = spec.radius_km if spec.radius_km is not None else 25.0
        if has_place and not 0 < radius <= MAX_RADIUS_KM:
            raise Invalid(
                f"radius_km is above 0 and at most {MAX_RADIUS_KM:g}",
                errors={"radius_km": f"at most {MAX_RADIUS_KM:g}"},
            )
        if not (tags or words or has_place):
            raise Invalid(
                "a saved search needs tags, words or a place to watch",
                errors={"body": "tags, q or near"},
            )
        if spec.min_price is not None and spec.max_price is not None:
            if spec.min_price > spec.max_price:
                raise Invalid("min_price is above max_price", errors={"min_price": "above max"})
        indexed_by = "tags" if tags else "words" if words else "cells"
        params = {
            "user_id": user_id,
            "id": new_id(),
            "name": spec.name,
            "q": spec.q,
            "words": words,
            "tags": tags,
            "lat": spec.lat if has_place else None,
            "lon": spec.lon if has_place else None,
            "radius_km": radius if has_place else None,
            "min_price": spec.min_price,
            "max_price": spec.max_price,
            "currency": spec.currency,
            "condition": spec.condition,
            "indexed_by": indexed_by,
            "index_tags": tags if indexed_by == "tags" else [],
            "index_words": words if indexed_by == "words" else [],
            "index_cells": (
                cells_covering(float(spec.lat), float(spec.lon), radius)  # type: ignore[arg-type]
                if indexed_by == "cells"
                else []
            ),
            "max": self._max,
            **event(),
        }
        rows = await self._store.run(CREATE, params)
        if not rows:
            raise Conflict(
                f"you can keep at most {self._max} saved searches",
                errors={"searches": f"at most {self._max}"},
            )
        return shape(rows[0])

    async def mine(self, user_id: str) -> list[dict[str, Any]]:
        return [shape(r) for r in await self._store.run(LIST, {"user_id": user_id})]

    async def delete(self, user_id: str, search_id: str) -> None:
        rows = await self._store.run(DELETE, {"user_id": user_id, "id": search_id, **event()})
        if not rows:
            raise NotFound("no such saved search of yours")

    async def matches(self, product_id: str) -> list[dict[str, Any]]:
        """The saved searches a listing satisfies, one row per search: id, user_id, name."""
        found = await self._store.run(LISTING, {"id": product_id})
        if not found:
            return []
        listing = found[0]
        where = _point(listing["location"])
        text = f"{listing['title']} {listing['description'] or ''}"
        listing_words = words_of(text, MAX_LISTING_WORDS)
        params = {
            "id": product_id,
            "cell": cell_of(*where) if where else "",
            "words": listing_words,
            "limit": CANDIDATES_LIMIT,
        }
        candidates = await self._store.run(CANDIDATES, params)
        word_set = set(words_of(text, 100_000))  # every word counts in the check
        seen: set[str] = set()
        hits = []
        for search in candidates:
            if search["id"] in seen:
                continue
            seen.add(search["id"])
            if matches(search, listing, word_set, self._pickup_m):
                hits.append(search)
        if not hits:
            return []
        users = sorted({h["user_id"] for h in hits})
        blocked = await self._store.run(
            BLOCKED_AMONG, {"seller_id": listing["seller_id"], "ids": users}
        )
        hidden = {r["id"] for r in blocked}
        return [
            {"id": h["id"], "user_id": h["user_id"], "name": h["name"]}
            for h in hits
            if h["user_id"] not in hidden
        ]
