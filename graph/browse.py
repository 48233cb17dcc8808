"""Browse and search listings: every filter combinable, five sorts, keyset cursors.

One statement per (entry point, sort): the entry point picks the cheapest start (full-text hits,
a tag's listings, a geo-index range, or all active listings); the other filters are the same
null-guarded predicates everywhere. Cursors hold the last row's sort key and id, so pages stay
exact while listings are added.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from graph.catalog import PRODUCT_VIEW
from graph.commands import Browse, SortKey
from graph.errors import Invalid
from graph.ids import now_ms
from graph.store import GraphStore, Statement, statement
from graph.tags import normalise_all

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
  AND ($near IS NULL OR {{distance}}(p.location, point($near)) <= $radius_m)
  AND NOT p.seller_id IN $hidden_sellers
// distances rounded to the millimetre survive the text round trip, so cursors compare exactly
WITH p, CASE WHEN $near IS NULL THEN null
            ELSE round({{distance}}(p.location, point($near)) * 1000.0) / 1000.0 END AS d
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
    descending: bool
    page_order: str  # the same order over the returned columns


SORTS: dict[str, Sort] = {
    "newest": Sort(
        after="p.created_at < $after OR (p.created_at = $after AND p.id < $after_id)",
        order="p.created_at DESC, p.id DESC",
        page_order="created_at DESC, id DESC",
        cursor_field="created_at",
        key="created_at",
        descending=True,
    ),
    "price_asc": Sort(
        after="p.price > $after OR (p.price = $after AND p.id > $after_id)",
        order="p.price ASC, p.id ASC",
        page_order="price ASC, id ASC",
        cursor_field="price",
        key="price",
        descending=False,
    ),
    "price_desc": Sort(
        after="p.price < $after OR (p.price = $after AND p.id < $after_id)",
        order="p.price DESC, p.id DESC",
        page_order="price DESC, id DESC",
        cursor_field="price",
        key="price",
        descending=True,
    ),
    "distance": Sort(
        after="d > $after OR (d = $after AND p.id > $after_id)",
        order="d ASC, p.id ASC",
        page_order="distance_m ASC, id ASC",
        cursor_field="distance_m",
        key=None,
        descending=False,
    ),
    "hype": Sort(
        after="p.hype < $after OR (p.hype = $after AND p.id < $after_id)",
        order="p.hype DESC, p.id DESC",
        page_order="hype DESC, id DESC",
        cursor_field="hype",
        key="hype",
        descending=True,
    ),
}

UNBOUNDED = 1e18


HOUR_MS = 3_600_000


def windows(sort: str, anchor: float | None, now: int) -> list[tuple[float, float]]:
    """Ranges of the sort key to try in turn, each containing the last, the final one unbounded.
    The first `limit` rows of a window that holds more than `limit` rows are the first of all."""
    if sort == "newest":
        top = anchor if anchor is not None else float(now)
        spans = [(top - hours * HOUR_MS, top) for hours in (1, 4, 24, 24 * 7, 24 * 35)]
        return [*spans, (-UNBOUNDED, top)]
    if sort == "price_asc":
        low = anchor if anchor is not None else 0.0
        return [(low, max(low, 100.0) * 2**k) for k in range(1, 16)] + [(low, UNBOUNDED)]
    # descending from the cursor, or from a high start, halving the floor each step
    top = anchor if anchor is not None else UNBOUNDED
    start = top if anchor is not None else (1e8 if sort == "price_desc" else 1e4)
    floors = [start / 2**k for k in range(1, 40)]
    return [(floor, top) for floor in floors if floor >= 0.01] + [(-UNBOUNDED, top)]


def _browse_statement(entry: str, sort: str, tagged: bool) -> Statement:
    spec = SORTS[sort]
    head = ENTRIES[entry].replace("{key}", spec.key or "created_at")
    text = (
        head
        + (TAG_FILTER if tagged else "")
        + FILTERS
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
    if (
        not isinstance(last_id, str)
        or not isinstance(value, int | float)
        or isinstance(value, bool)
    ):
        raise Invalid("malformed cursor", errors={"cursor": "malformed"})
    return value, last_id


class BrowseService:
    def __init__(self, store: GraphStore) -> None:
        self._store = store
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
        after, after_id = decode_cursor(cmd.cursor, sort) if cmd.cursor else (None, None)
        radius_km = cmd.radius_km if cmd.radius_km is not None else DEFAULT_RADIUS_KM
        if not 0 < radius_km <= MAX_RADIUS_KM:
            raise Invalid(
                f"radius_km is more than 0 and at most {MAX_RADIUS_KM:g}",
                errors={"radius_km": "out of range"},
            )
        if cmd.owner_id:
            entry = "owner"
        elif cmd.q:
            entry = "text"
        elif tags:
            entry = "tags"
        elif cmd.near:
            entry = "near"
        else:
            entry = "all"
        params: dict[str, Any] = {
            "q": self._store.text_query(self._words(cmd.q)) if cmd.q else None,
            "tags": tags,
            "near": {"latitude": cmd.near.lat, "longitude": cmd.near.lon} if cmd.near else None,
            "radius_m": radius_km * 1000.0,
            "min_price": cmd.min_price,
            "max_price": cmd.max_price,
            "currency": cmd.currency,
            "condition": cmd.condition,
            "owner_id": cmd.owner_id,
            "hidden_sellers": [],
            "after": after,
            "after_id": after_id,
            "limit": cmd.limit + 1,
            "now": now_ms(),
        }
        if cmd.viewer_id:
            hidden = await self._store.run(HIDDEN_SELLERS, {"viewer_id": cmd.viewer_id})
            params["hidden_sellers"] = hidden[0]["ids"] if hidden else []
        st = BROWSE[(entry, bool(tags) and entry != "tags", sort)]
        rows = await self._pages(st, params, sort, after, entry == "all")
        page, more = rows[: cmd.limit], len(rows) > cmd.limit
        if not more:
            return page, None
        last = page[-1]
        return page, encode_cursor(sort, last[SORTS[sort].cursor_field], last["id"])

    async def _pages(
        self, st: Statement, params: dict[str, Any], sort: str, after: Any, windowed: bool
    ) -> list[dict[str, Any]]:
        if not windowed:
            return await self._store.run(st, params | {"lo": 0.0, "hi": 0.0})
        spans = windows(sort, after, params["now"])
        # first pages of a sort tend to need the same window: start one step before the last one
        start = max(0, self._hint.get(sort, 0) - 1) if after is None else 0
        for index in range(start, len(spans)):
            lo, hi = spans[index]
            rows = await self._store.run(st, params | {"lo": lo, "hi": hi})
            if len(rows) >= params["limit"]:
                break
        if after is None:
            self._hint[sort] = index
        return rows

    async def tags(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        return await self._store.run(TAGS, {"prefix": prefix, "limit": limit, "now": now_ms()})
