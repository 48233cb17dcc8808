"""The browse statements: one per (entry point, sort). The entry point picks the cheapest start
(full-text hits, a tag's listings, a geo-index range, a window of the sort key, or the
promoted listings); the other filters are the same null-guarded predicates everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from graph.catalog.listings import PRODUCT_VIEW
from graph.infra.store import Statement, statement

# The entry point: the cheapest way in for the filters given. "all" scans a window of the sort
# key through its range index, widened step by step until the page is full (see `windows`).
ENTRIES: dict[str, str] = {
    "owner": "MATCH (:User {id: $owner_id})-[:LISTED]->(p:Product)\n",
    "text": "{{product_fulltext}}\nWITH node AS p\n",
    # listings carrying every one of $tags
    "tags": "MATCH (t:Tag)<-[:TAGGED]-(p:Product)\nWHERE t.name IN $tags\n"
    "WITH p, count(t) AS hits\nWHERE hits = size($tags)\n",
    "near": "MATCH (p:Product)\nWHERE {{distance}}(p.place, point($near)) <= $radius_m\n",
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
WHERE $near IS NULL OR {{distance}}(p.place, point($near)) <= $radius_m
"""

# Seen from a place, a listing offered for local pickup only counts within the pickup radius
# (`VENDR_PICKUP_RADIUS_KM`): nobody drives across a country for a lamp. The feed's read-back
# uses the same condition.
PICKUP_ONLY_NEAR = """($near IS NULL OR coalesce(p.ships, false) OR NOT p.local_pickup
     OR {{distance}}(p.place, point($near)) <= $pickup_m)"""
PICKUP_FILTER = "WITH p\nWHERE " + PICKUP_ONLY_NEAR + "\n"

# distances rounded to the millimetre survive the text round trip, so cursors compare exactly;
# computed before LIMIT only when the page is sorted by them
DISTANCE = """WITH p, round({{distance}}(p.place, point($near)) * 1000.0) / 1000.0 AS d
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
