"""Browse and search listings: every filter combinable, five sorts, keyset cursors.

One statement per (entry point, sort) (`queries`): the planner (`planner`) picks the cheapest
start (full-text hits, a tag's listings, a geo-index range, or windows of the sort key); the
other filters are the same null-guarded predicates everywhere. Cursors (`cursors`) hold the
last row's sort key and id, so pages stay exact while listings are added.
"""

from __future__ import annotations

import re
from typing import Any

from graph.catalog.commands import Browse, SortKey
from graph.catalog.planner import DEFAULT_RADIUS_KM, UNBOUNDED, Planner, thin, windows
from graph.catalog.queries import BROWSE, HIDDEN_SELLERS, SORTS, TAGS
from graph.catalog.tags import normalise_all
from graph.infra.cache import QueryCache
from graph.infra.cursors import Cursors, Position
from graph.infra.errors import Invalid
from graph.infra.ids import now_ms
from graph.infra.store import GraphStore, Statement

MAX_LIMIT = 100
MAX_RADIUS_KM = 500.0
MAX_QUERY_WORDS = 8

HIDDEN_TTL_S = 300.0

_WORD = re.compile(r"\w+")


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


class BrowseService:
    def __init__(
        self,
        store: GraphStore,
        cache: QueryCache,
        cursors: Cursors,
        planner: Planner | None = None,
        promoted_cap: int = 2,
        pickup_radius_km: float = 50.0,
    ) -> None:
        self._store = store
        self._cache = cache
        self._cursors = cursors
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
            pair = self._cursors.decode_pair(cmd.cursor) if cmd.cursor else (None, None)
            after, after_id = None, None
        else:
            after, after_id = self._cursors.decode(cmd.cursor, sort) if cmd.cursor else (None, None)
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
                cursor = self._cursors.encode(
                    sort, page[-1][SORTS[sort].cursor_field], page[-1]["id"]
                )
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
        return page, self._cursors.encode_pair(positions[0], positions[1])

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
