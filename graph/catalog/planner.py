"""The browse planner: which entry point is cheapest for the filters given, estimated from a
random sample of active listings; and the windows of the sort key an "all" entry widens
through until a page is full.
"""

from __future__ import annotations

import time
from typing import Any

from graph.catalog.commands import Browse
from graph.catalog.queries import SORTS
from graph.infra.cache import QueryCache
from graph.infra.geo import haversine_m
from graph.infra.ids import now_ms
from graph.infra.store import GraphStore, statement

DEFAULT_RADIUS_KM = 25.0

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


SAMPLE_SIZE = 2000
SAMPLE_TTL_S = 600.0
LOCAL_SAMPLE_S = 60.0
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
    RETURN p.place AS location, p.price AS price, p.condition AS condition,
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
