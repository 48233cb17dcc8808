"""Browse and search listings: every filter combinable, five sorts, keyset cursors.

One statement per (entry point, sort): the entry point picks the cheapest start (full-text hits,
a tag's listings, a geo-index range, or all active listings); the other filters are the same
null-guarded predicates everywhere. Cursors hold the last row's sort key and id, so pages stay
exact while listings are added.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

from graph.catalog.commands import Browse, SortKey
from graph.catalog.listings import PRODUCT_VIEW
from graph.catalog.tags import normalise_all
from graph.infra.cache import QueryCache
from graph.infra.errors import Invalid
from graph.infra.geo import haversine_m
from graph.infra.ids import now_ms
from graph.infra.store import GraphStore, Statement, statement

MAX_LIMIT = 100
MAX_RADIUS_KM = 500.0
DEFAULT_RADIUS_KM = 25.0
MAX_QUERY_WORDS = 8

# The entry point: the cheapest way in for the filters given. "all" scans a window of the sort
# key through its range index, widened step by step until the page is full (see `windows`).
ENTRIES: dict[str, str] = {
    "owner": "MATCH (:User {id: $owner_id})-[:LISTED]->(p:Product)\n",
    "text": "{{product_fulltext}}\nWITH node AS p\n",
    # listings carrying every one of $tags
    "tags": "MATCH (t:Tag)<-[:TAGGED]-(p:Product)\nWHERE t.name IN $tags\n"
    "WITH p, count(t) AS hits\nWHERE hits = size($tags)\n",
    "near": "MATCH (p:Product)\nWHERE {{distance}}(p.location, point($near)) <= $radius_m\n",
    "all": "MATCH (p:Product)\nWHERE p.{key} >= $lo AND p.{key} <= $hi\n",
    # the listings a paid promotion runs for (few), for the promoted stream of a hype page
    "promoted": "MATCH (p:Product)\nWHERE p.promoted_until > $now\n",
}

# the tag filter when the entry point is not the tags themselves
TAG_FILTER = """MATCH (p)-[:TAGGED]->(t:Tag)
WHERE t.name IN $tags
WITH p, count(t) AS hits
WHERE hits = size($tags)
"""

# Product-local predicates only (the seller is joined after LIMIT): listings carry their
# seller's id, so blocks and the owner filter need no traversal per candidate.
FILTERS = """WITH p
WHERE p.status = 'active' AND p.expires_at > $now
  AND ($min_price IS NULL OR p.price >= $min_price)
  AND ($max_price IS NULL OR p.price <= $max_price)
  AND ($currency IS NULL OR p.currency = $currency)
  AND ($condition IS NULL OR p.condition = $condition)
  AND ($owner_id IS NULL OR p.seller_id = $owner_id)
  AND NOT p.seller_id IN $hidden_sellers
  AND ($promoted IS NULL OR (coalesce(p.promoted_until, 0) > $now) = $promoted)
"""

# the radius, where the entry point has not applied it already
NEAR_FILTER = """WITH p
WHERE $near IS NULL OR {{distance}}(p.location, point($near)) <= $radius_m
"""

# Seen from a place, a listing offered for local pickup only counts within the pickup radius
# (`VENDR_PICKUP_RADIUS_KM`): nobody drives across a country for a lamp. The feed's read-back
# uses the same condition.
PICKUP_ONLY_NEAR = """($near IS NULL OR coalesce(p.ships, false) OR NOT p.local_pickup
     OR {{distance}}(p.location, point($near)) <= $pickup_m)"""
PICKUP_FILTER = "WITH p\nWHERE " + PICKUP_ONLY_NEAR + "\n"

# distances rounded to the millimetre survive the text round trip, so cursors compare exactly;
# computed before LIMIT only when the page is sorted by them
DISTANCE = """WITH p, round({{distance}}(p.location, point($near)) * 1000.0) / 1000.0 AS d
"""
NO_DISTANCE = """WITH p, null AS d
"""

SELLER = """MATCH (s:User)-[:LISTED]->(p)
WHERE s.status = 'active'
WITH p, s
"""


@dataclass(frozen=True)
class Sort:
    after: str  # keyset predicate: rows after the cursor row
    order: str
    cursor_field: str  # the row field the cursor keeps
    key: str | None  # the product property a window can range over
    page_order: str  # the same order over the returned columns


SORTS: dict[str, Sort] = {
    "newest": Sort(
        after="p.created_at < $after OR (p.created_at = $after AND p.id < $after_id)",
        order="p.created_at DESC, p.id DESC",
        page_order="created_at DESC, id DESC",
        cursor_field="created_at",
        key="created_at",
    ),
    "price_asc": Sort(
        after="p.price > $after OR (p.price = $after AND p.id > $after_id)",
        order="p.price ASC, p.id ASC",
        page_order="price ASC, id ASC",
        cursor_field="price",
        key="price",
    ),
    "price_desc": Sort(
        after="p.price < $after OR (p.price = $after AND p.id < $after_id)",
        order="p.price DESC, p.id DESC",
        page_order="price DESC, id DESC",
        cursor_field="price",
        key="price",
    ),
    "distance": Sort(
        after="d > $after OR (d = $after AND p.id > $after_id)",
        order="d ASC, p.id ASC",
        page_order="distance_m ASC, id ASC",
        cursor_field="distance_m",
        key=None,
    ),
    "hype": Sort(
        after="p.hype < $after OR (p.hype = $after AND p.id < $after_id)",
        order="p.hype DESC, p.id DESC",
        page_order="hype DESC, id DESC",
        cursor_field="hype",
        key="hype",
    ),
}

UNBOUNDED = 1e18


HOUR_MS = 3_600_000


def windows(
    sort: str,
    anchor: float | None,
    now: int,
    floor: float = -UNBOUNDED,
    ceiling: float = UNBOUNDED,
) -> list[tuple[float, float]]:
    """Ranges of the sort key to try in turn, each containing the last, the last one reaching
    the end of the range [floor, ceiling] the filters allow. The first `limit` rows of a window
    that holds more than `limit` rows are the first of all."""
    if sort == "newest":
        top = anchor if anchor is not None else float(now)
        spans = [(top - hours * HOUR_MS, top) for hours in (1, 4, 24, 24 * 7, 24 * 35)]
        return [*spans, (-UNBOUNDED, top)]
    if sort == "price_asc":
        low = max(anchor if anchor is not None else 0.0, floor)
        base = max(low, 100.0)
        highs = [base * (1 + 0.05 * 2**k) for k in range(16)]
        return [(low, high) for high in highs if high < ceiling] + [(low, ceiling)]
    # descending from the cursor (or a high start), lowering the floor geometrically
    top = min(anchor if anchor is not None else UNBOUNDED, ceiling)
    start = top if top < UNBOUNDED else (1e8 if sort == "price_desc" else 1e4)
    lows = [start / 1.5**k for k in range(1, 60)]
    return [(low, top) for low in lows if low >= max(0.01, floor)] + [(floor, top)]


def thin(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """At most ~log2(n) + 2 of the windows: the first, those at powers of two, and the last.
    Each window holds the one before, so any subset in order still finds the page; a filter
    that matches nothing costs a handful of queries, not one per window."""
    keep = {0, len(spans) - 1} | {2**k for k in range(len(spans).bit_length())}
    return [span for i, span in enumerate(spans) if i in keep]


def _browse_statement(entry: str, sort: str, tagged: bool) -> Statement:
    spec = SORTS[sort]
    head = ENTRIES[entry].replace("{key}", spec.key or "created_at")
    text = (
        head
        + (TAG_FILTER if tagged else "")
        + FILTERS
        + ("" if entry == "near" else NEAR_FILTER)
        + PICKUP_FILTER
        + (DISTANCE if sort == "distance" else NO_DISTANCE)
        + "WHERE $after_id IS NULL OR "
        + spec.after
        + "\nWITH p, d ORDER BY "
        + spec.order
        + "\nLIMIT $limit\n"
        + SELLER
        + PRODUCT_VIEW
        # joins after LIMIT keep no order: sort the page again by the returned columns
        + "ORDER BY "
        + spec.page_order
    )
    name = f"browse.{entry}{'.tagged' if tagged else ''}.{sort}"
    return statement(name, text)


# (entry point, extra tag filter, sort) -> statement
BROWSE: dict[tuple[str, bool, str], Statement] = {
    (entry, tagged, sort): _browse_statement(entry, sort, tagged)
    for entry in ENTRIES
    for tagged in ((False,) if entry == "tags" else (False, True))
    for sort in SORTS
    if not (entry == "all" and sort == "distance")  # distance needs near
    and not (entry == "promoted" and sort != "hype")  # only hype pages split out promotions
}

HIDDEN_SELLERS = statement(
    "browse.hidden_sellers",
    """
    MATCH (me:User {id: $viewer_id})-[:BLOCKED]-(other:User)
    RETURN collect(DISTINCT other.id) AS ids
    """,
)

TAGS = statement(
    "browse.tags",
    """
    MATCH (t:Tag) WHERE t.name STARTS WITH $prefix
    WITH t ORDER BY t.name LIMIT 1000
    OPTIONAL MATCH (t)<-[:TAGGED]-(p:Product {status: 'active'})
    WHERE p.expires_at > $now
    WITH t.name AS name, count(p) AS products
    WHERE products > 0
    RETURN name, products
    ORDER BY products DESC, name ASC
    LIMIT $limit
    """,
)

_WORD = re.compile(r"\w+")


# what a cursor's sort value can be (epoch ms, minor units, hype, metres) and its id's length
MAX_CURSOR_VALUE = 1e15
MAX_CURSOR_ID = 64


def encode_cursor(sort: str, value: Any, last_id: str) -> str:
    raw = json.dumps([sort, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, value, last_id = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise Invalid("malformed cursor", errors={"cursor": "malformed"}) from exc
    if kind != sort:
        raise Invalid("the cursor belongs to another sort", errors={"cursor": "other sort"})
    return _checked(value, last_id)


def _checked(value: Any, last_id: Any) -> tuple[Any, str]:
    """A cursor's sort value and last id, or a 422: what a client sends back is not trusted."""
    if (
        not isinstance(last_id, str)
        or not 0 < len(last_id) <= MAX_CURSOR_ID
        or not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)  # json reads Infinity and NaN
        or abs(value) > MAX_CURSOR_VALUE  # and integers of any length
    ):
        raise Invalid("malformed cursor", errors={"cursor": "malformed"})
    return value, last_id


# A hype page merges two streams: listings without a running promotion, and those with one,
# at most `promoted_cap` of the latter per page. Its cursor keeps a position in each ("end"
# once a stream is exhausted), so no listing is skipped or repeated across pages.
Position = tuple[float, str] | Literal["end"] | None


def encode_pair(organic: Position, promoted: Position) -> str:
    raw = json.dumps(["hype+", organic, promoted], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_pair(cursor: str) -> tuple[Position, Position]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, organic, promoted = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise Invalid("malformed cursor", errors={"cursor": "malformed"}) from exc
    if kind != "hype+":
        raise Invalid("the cursor belongs to another sort", errors={"cursor": "other sort"})
    return _position(organic), _position(promoted)


def _position(value: Any) -> Position:
    if value is None or value == "end":
        return value
    if not isinstance(value, list) or len(value) != 2:
        raise Invalid("malformed cursor", errors={"cursor": "malformed"})
    hype, last_id = _checked(*value)
    return float(hype), last_id


def merge_promoted(
    organic: list[dict[str, Any]], promoted: list[dict[str, Any]], limit: int, cap: int
) -> tuple[list[dict[str, Any]], int, int]:
    """The page: both streams by hype (then id, descending), at most `cap` promoted rows.
    Returns the page and how many rows of each stream it took."""
    page: list[dict[str, Any]] = []
    oi = pi = 0
    while len(page) < limit:
        o = organic[oi] if oi < len(organic) else None
        p = promoted[pi] if pi < len(promoted) and pi < cap else None
        if o is None and p is None:
            break
        if p is not None and (
            o is None or (float(p["hype"] or 0), p["id"]) > (float(o["hype"] or 0), o["id"])
        ):
            page.append(p)
            pi += 1
        else:
            assert o is not None
            page.append(o)
            oi += 1
    return page, oi, pi


SAMPLE_SIZE = 2000
SAMPLE_TTL_S = 600.0
LOCAL_SAMPLE_S = 60.0
HIDDEN_TTL_S = 300.0
# relative cost of visiting one candidate: a TAGGED edge, a geo-index hit, a window row
# (measured: about 4, 6 and 3.5 microseconds on FalkorDB)
EDGE_COST, GEO_COST, WINDOW_COST = 1.0, 1.5, 0.9

SAMPLE = statement(
    "browse.sample",
    """
    MATCH (p:Product {status: 'active'})
    WITH p, rand() AS r
    ORDER BY r
    LIMIT $size
    RETURN p.location AS location, p.price AS price, p.condition AS condition,
           p.currency AS currency, p.created_at AS created_at, p.hype AS hype,
           [(p)-[:TAGGED]->(t:Tag) | t.name] AS tags
    """,
)

ACTIVE = statement(
    "browse.active_count", "MATCH (p:Product {status: 'active'}) RETURN count(p) AS n"
)


class Planner:
    """Picks the entry point by estimated cost, from a random sample of active listings
    (shared by all workers through the cache, refreshed every few minutes)."""

    def __init__(self, store: GraphStore, cache: QueryCache) -> None:
        self._store = store
        self._cache = cache
        self._local: tuple[float, dict[str, Any]] | None = None  # (fetched at, sample)

    async def sample(self) -> dict[str, Any]:
        if self._local is not None and time.monotonic() - self._local[0] < LOCAL_SAMPLE_S:
            return self._local[1]
        sample = await self._cache.get("browse-sample")
        if sample is None:
            total = (await self._store.run(ACTIVE))[0]["n"]
            rows = await self._store.run(SAMPLE, {"size": SAMPLE_SIZE})
            sample = {"total": total, "rows": rows}
            await self._cache.put("browse-sample", sample, SAMPLE_TTL_S)
        for row in sample["rows"]:
            row["tags"] = set(row["tags"])
        self._local = (time.monotonic(), sample)
        return dict(sample)

    async def entry(self, cmd: Browse, tags: list[str], limit: int) -> str:
        if cmd.owner_id:
            return "owner"
        if cmd.q:
            return "text"
        if cmd.near and cmd.sort == "distance":
            return "near"
        if not tags and not cmd.near:
            return "all"
        sample = await self.sample()
        total, rows = max(1, sample["total"]), sample["rows"]
        n = len(rows) + 1  # smoothed: an empty sample still gives finite costs
        wanted = set(tags)
        tagged = [wanted <= r["tags"] for r in rows]
        near = [True] * len(rows)
        if cmd.near:
            radius = (cmd.radius_km or DEFAULT_RADIUS_KM) * 1000
            near = [
                haversine_m(
                    r["location"]["latitude"],
                    r["location"]["longitude"],
                    cmd.near.lat,
                    cmd.near.lon,
                )
                <= radius
                for r in rows
            ]
        passes = [
            t and g and self._price_condition(r, cmd)
            for r, t, g in zip(rows, tagged, near, strict=True)
        ]
        costs: dict[str, float] = {}
        if tags:
            hits = sum(sum(1 for r in rows if tag in r["tags"]) + 0.5 for tag in tags)
            costs["tags"] = EDGE_COST * total * hits / n
        if cmd.near:
            costs["near"] = GEO_COST * total * (sum(near) + 0.5) / n
        key = SORTS[cmd.sort].key
        if key is not None:
            visited = self._window_share(cmd, rows, passes, key, needed=limit / total)
            # each window row also pays for the filters the entry did not apply
            per_row = WINDOW_COST * (1 + (1.0 if tags else 0.0) + (0.5 if cmd.near else 0.0))
            costs["all"] = per_row * total * visited
        return min(costs, key=lambda k: costs[k])

    @staticmethod
    def _price_condition(row: dict[str, Any], cmd: Browse) -> bool:
        if cmd.condition and row["condition"] != cmd.condition:
            return False
        if cmd.min_price is not None and row["price"] < cmd.min_price:
            return False
        return cmd.max_price is None or row["price"] <= cmd.max_price

    @staticmethod
    def _window_share(
        cmd: Browse, rows: list[dict[str, Any]], passes: list[bool], key: str, needed: float
    ) -> float:
        """The share of all listings the widening windows visit before a `needed` share of
        them has matched (a page)."""
        n = len(rows) + 1
        values = [r.get(key) or 0 for r in rows]
        floor = float(cmd.min_price) if cmd.min_price is not None and key == "price" else -UNBOUNDED
        ceiling = (
            float(cmd.max_price) if cmd.max_price is not None and key == "price" else UNBOUNDED
        )
        visited = 1.0
        for lo, hi in windows(cmd.sort, None, now_ms(), floor, ceiling):
            inside = [lo <= v <= hi for v in values]
            visited = (sum(inside) + 0.5) / n
            matches = sum(1 for i, p in zip(inside, passes, strict=True) if i and p)
            if matches / n >= needed:
                break
        return visited


class BrowseService:
    def __init__(
        self,
        store: GraphStore,
        cache: QueryCache,
        planner: Planner | None = None,
        promoted_cap: int = 2,
        pickup_radius_km: float = 50.0,
    ) -> None:
        self._store = store
        self._cache = cache
        self.pickup_m = pickup_radius_km * 1000.0
        self._planner = planner or Planner(store, cache)
        self._promoted_cap = promoted_cap
        self._hint: dict[str, int] = {}  # sort -> the window index that last filled a first page

    def _words(self, q: str) -> list[str]:
        words = [w for w in _WORD.findall(q.lower()) if len(w) > 1][:MAX_QUERY_WORDS]
        if not words:
            raise Invalid("the search has no words to look for", errors={"q": "no words"})
        return words

    async def browse(self, cmd: Browse) -> tuple[list[dict[str, Any]], str | None]:
        sort: SortKey = cmd.sort
        if sort == "distance" and cmd.near is None:
            raise Invalid("sorting by distance needs `near`", errors={"sort": "needs near"})
        if not 1 <= cmd.limit <= MAX_LIMIT:
            raise Invalid(f"limit is 1 to {MAX_LIMIT}", errors={"limit": f"1 to {MAX_LIMIT}"})
        tags = normalise_all(list(cmd.tags))
        pair: tuple[Position, Position] = (None, None)
        if sort == "hype":
            pair = decode_pair(cmd.cursor) if cmd.cursor else (None, None)
            after, after_id = None, None
        else:
            after, after_id = decode_cursor(cmd.cursor, sort) if cmd.cursor else (None, None)
        radius_km = cmd.radius_km if cmd.radius_km is not None else DEFAULT_RADIUS_KM
        if not 0 < radius_km <= MAX_RADIUS_KM:
            raise Invalid(
                f"radius_km is more than 0 and at most {MAX_RADIUS_KM:g}",
                errors={"radius_km": "out of range"},
            )
        params: dict[str, Any] = {
            "q": self._store.text_query(self._words(cmd.q)) if cmd.q else None,
            "tags": tags,
            "near": {"latitude": cmd.near.lat, "longitude": cmd.near.lon} if cmd.near else None,
            "radius_m": radius_km * 1000.0,
            "pickup_m": self.pickup_m,
            "min_price": cmd.min_price,
            "max_price": cmd.max_price,
            "currency": cmd.currency,
            "condition": cmd.condition,
            "owner_id": cmd.owner_id,
            "hidden_sellers": await self.hidden_sellers(cmd.viewer_id),
            "after": after,
            "after_id": after_id,
            "limit": cmd.limit + 1,
            "promoted": None,
        }
        key = None
        if self._cache.enabled and not params["hidden_sellers"]:
            keyed = params | {"sort": sort, "pair": list(pair)}
            key, hit = await self._cache.lookup("browse", "catalog", keyed)
            if hit is not None and hit["valid_until"] > now_ms():
                return hit["rows"], hit["cursor"]
        params["now"] = now_ms()
        entry = await self._planner.entry(cmd, tags, params["limit"])
        if sort == "hype":
            page, cursor = await self._hype_page(cmd, tags, params, entry, pair)
        else:
            st = BROWSE[(entry, bool(tags) and entry != "tags", sort)]
            rows = await self._pages(st, params, sort, after, entry)
            page, more = rows[: cmd.limit], len(rows) > cmd.limit
            cursor = None
            if more:
                cursor = encode_cursor(sort, page[-1][SORTS[sort].cursor_field], page[-1]["id"])
        if key is not None:
            # a cached page is good until its first listing expires
            valid_until = min([r["expires_at"] for r in page], default=params["now"] + 10**9)
            await self._cache.store(
                key, {"rows": page, "cursor": cursor, "valid_until": valid_until}
            )
        return page, cursor

    async def _hype_page(
        self,
        cmd: Browse,
        tags: list[str],
        params: dict[str, Any],
        entry: str,
        pair: tuple[Position, Position],
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A hype page: listings without a running promotion by hype, with at most
        `promoted_cap` promoted ones merged in where their (boosted) hype ranks them; promoted
        listings beyond the cap wait for the next pages instead of crowding this one."""
        cap = self._promoted_cap
        streams: list[list[dict[str, Any]]] = [[], []]
        for index, (position, promoted) in enumerate(((pair[0], False), (pair[1], True))):
            if position == "end":
                continue
            after, after_id = position if position is not None else (None, None)
            stream_params = params | {"promoted": promoted, "after": after, "after_id": after_id}
            if promoted:  # few: straight from their index (or the text / owner entry)
                stream_entry = entry if entry in ("text", "owner") else "promoted"
                stream_params["limit"] = cap + 1
            else:
                stream_entry = entry
            st = BROWSE[(stream_entry, bool(tags) and stream_entry != "tags", "hype")]
            streams[index] = await self._pages(st, stream_params, "hype", after, stream_entry)
        organic, promoted_rows = streams
        page, took_o, took_p = merge_promoted(organic, promoted_rows, cmd.limit, cap)
        positions: list[Position] = []
        for old, rows, took in ((pair[0], organic, took_o), (pair[1], promoted_rows, took_p)):
            if old == "end" or took >= len(rows):
                positions.append("end")  # nothing left that was not shown
            elif took:
                positions.append((float(rows[took - 1]["hype"] or 0), rows[took - 1]["id"]))
            else:
                positions.append(old)
        if positions == ["end", "end"]:
            return page, None
        return page, encode_pair(positions[0], positions[1])

    async def warm(self) -> None:
        await self._planner.sample()

    async def hidden_sellers(self, viewer_id: str | None) -> list[str]:
        """Sellers hidden from the viewer: blocked either way."""
        if not viewer_id:
            return []
        cached = await self._cache.get(f"hidden:{viewer_id}")
        if cached is not None:
            return list(cached)
        rows = await self._store.run(HIDDEN_SELLERS, {"viewer_id": viewer_id})
        ids = rows[0]["ids"] if rows else []
        await self._cache.put(f"hidden:{viewer_id}", ids, HIDDEN_TTL_S)
        return list(ids)

    async def _pages(
        self, st: Statement, params: dict[str, Any], sort: str, after: Any, entry: str
    ) -> list[dict[str, Any]]:
        if entry == "near" and sort == "distance":
            # nearest first: grow the radius from the cursor until a page fills
            radius = params["radius_m"]
            start = after or 0.0
            spans = [(0.0, min(radius, start + 500.0 * 2**k)) for k in range(12)]
            spans = [s for s in spans if s[1] < radius] + [(0.0, radius)]
            for _, hi in spans:
                rows = await self._store.run(st, params | {"radius_m": hi, "lo": 0.0, "hi": 0.0})
                if len(rows) >= params["limit"]:
                    break
            return rows
        if entry != "all":
            return await self._store.run(st, params | {"lo": 0.0, "hi": 0.0})
        floor, ceiling = -UNBOUNDED, UNBOUNDED
        if sort in ("price_asc", "price_desc"):  # the price filter bounds the windows
            if params["min_price"] is not None:
                floor = float(params["min_price"])
            if params["max_price"] is not None:
                ceiling = float(params["max_price"])
        spans = thin(windows(sort, after, params["now"], floor, ceiling))
        # first pages of a sort tend to need the same window: start one step before the last one
        start_index = max(0, self._hint.get(sort, 0) - 1) if after is None else 0
        start_index = min(start_index, len(spans) - 1)
        for index in range(start_index, len(spans)):
            lo, hi = spans[index]
            rows = await self._store.run(st, params | {"lo": lo, "hi": hi})
            if len(rows) >= params["limit"]:
                # only a page that filled teaches the next caller where to start: a filter
                # that matches little (or nothing) says nothing about everyone else's
                if after is None:
                    self._hint[sort] = index
                break
        return rows

    async def tags(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        return await self._store.run(TAGS, {"prefix": prefix, "limit": limit, "now": now_ms()})
