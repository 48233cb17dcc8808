"""Candidate pools for the swipe deck: short sorted lists in Redis, derived from the graph.

A deck wants a few hundred candidates: the most engaging listings near the reader, the newest
near them, the best in each of their tags near them and anywhere. Asked of the graph on every
deck that is several 30-50 ms queries at 100k listings; read from sorted sets it is one round
trip. Each listing belongs to a handful of pools (world, its grid cell at three sizes, its tags
there and world-wide), each pool keeps only its best few hundred, and a hash holds the few
facts ranking needs (seller, times, hype, likes, place, tags, seller trust).

Pools are derived data: Redis never holds the only copy. They are rebuilt from the graph when
missing, after a bulk load and every `VENDR_FEED_POOLS_REBUILD_SECONDS`, into a new generation
that replaces the old one in one step; between rebuilds catalog writes refresh their listing
(write-through) and the jobs round re-scores the listings people engaged with. A pool may
still be a little behind the graph, so nothing it says decides what a deck may show: the deck
checks every card as the graph has it (status, expiry, seller, blocks, swipes) before it deals
it, from its card cache where nothing changed since (`graph.feed.sessions`).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from graph.catalog.windows import by_expiry
from graph.infra.errors import Unavailable
from graph.infra.geo import EARTH_RADIUS_M, Place, haversine_m
from graph.infra.store import GraphStore, statement

DAY_MS = 86_400_000
# grid cells in degrees: the finest for reading around a point, coarser ones for wide radii
LEVELS = (0.5, 2.0, 10.0)  # each divides 180: columns meet at the antimeridian
MAX_CELLS = 96
NORTHMOST = 89.999999  # the pole itself is in the last row, not a row of its own
# how many each pool keeps (best first); what a deck reads of them is in `Pools.candidates`
KEEP = {"hot": 500, "new": 200, "tag": 300, "cell.hot": 200, "cell.new": 100, "cell.tag": 60}
LOCAL_BUDGET = 480  # ids read around a point, shared out over the cells the radius covers
TAG_DEPTH = 30  # ids read from each of the person's tags' world-wide pool
WINDOW_ROWS = 500  # a rebuild reads listings in windows of expiry time of about this many
BUILD_LOCK_S = 600
FIRST_BUILD_WAIT_S = 30  # how long a deck waits for the very first build before a 503
UNPACKED_MAX = 20_000  # items a worker keeps unpacked (`Pools._unpacked`)

# A deck's read of the pools in one round trip: the current generation, the members of each
# pool read (ARGV: the prefix, how many pools, then name, depth and 1 if local for each, then
# the listings asked for besides), their union in the order first seen with a flag each for
# "only local pools brought it", and the items' packed facts. False when nothing is built.
_CANDIDATES = """
local gen = redis.call('GET', KEYS[1])
if not gen then return false end
local key = ARGV[1] .. gen .. ':'
local pools = tonumber(ARGV[2])
local ids, flags, at = {}, {}, {}
local function add(id, is_local)
  local i = at[id]
  if i == nil then
    ids[#ids + 1], flags[#ids + 1], at[id] = id, is_local, #ids + 1
  elseif is_local == '0' then
    flags[i] = '0'
  end
end
for p = 0, pools - 1 do
  local base = 3 + 3 * p
  for _, id in ipairs(redis.call('ZREVRANGE', key .. ARGV[base], 0, ARGV[base + 1] - 1)) do
    add(id, ARGV[base + 2])
  end
end
for i = 3 + 3 * pools, #ARGV do add(ARGV[i], '0') end
local packed = {}
for first = 1, #ids, 500 do  -- (unpack has a limit on how many it spreads)
  local got = redis.call('HMGET', key .. 'items', unpack(ids, first, math.min(first + 499, #ids)))
  for _, raw in ipairs(got) do packed[#packed + 1] = raw end
end
return {gen, ids, table.concat(flags), packed}
"""

_FEATURES = """
MATCH (s:User)-[:LISTED]->(p)
OPTIONAL MATCH (p)-[:TAGGED]->(t:Tag)
RETURN p.id AS id, p.status AS status, s.id AS seller_id, s.status AS seller_status,
       s.trust_score AS trust, p.created_at AS created_at, p.expires_at AS expires_at,
       p.hype AS hype, p.likes AS likes, p.place.latitude AS lat, p.place.longitude AS lon,
       p.local_pickup AND NOT coalesce(p.ships, false) AS pickup_only,
       collect(t.name) AS tags
"""

# active listings, one window of expiry time at a time (graph.catalog.windows)
SCAN = statement(
    "pools.scan",
    """
    MATCH (p:Product)
    WHERE p.expires_at > $lo AND p.expires_at <= $hi AND p.status = 'active'
    WITH p
    """
    + _FEATURES,
)

ITEMS = statement(
    "pools.items",
    """
    UNWIND $ids AS id
    MATCH (p:Product {id: id})
    WITH p
    """
    + _FEATURES,
)


@dataclass(frozen=True)
class Item:
    """What ranking needs to know of a listing before reading it from the graph."""

    id: str
    seller_id: str
    created_at: int
    expires_at: int
    hype: float
    lat: float | None
    lon: float | None
    tags: tuple[str, ...]
    trust: float
    pickup_only: bool = False  # local pickup, not shipped
    likes: int = 0  # every like it has had (the hype pass counts them)

    def pack(self) -> bytes:
        return orjson.dumps(
            [
                self.seller_id,
                self.created_at,
                self.expires_at,
                self.hype,
                self.lat,
                self.lon,
                self.tags,
                self.trust,
                self.pickup_only,
                self.likes,
            ]
        )

    @classmethod
    def unpack(cls, item_id: str, raw: bytes | str) -> Item:
        # generations before pickup_only and likes have fewer fields
        s, c, x, h, la, lo, t, tr, *rest = orjson.loads(raw)
        pickup_only = bool(rest and rest[0])
        likes = int(rest[1]) if len(rest) > 1 else 0
        return cls(item_id, s, c, x, h, la, lo, tuple(t), tr, pickup_only, likes)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Item | None:
        """None when the listing may not be offered at all (gone, inactive, seller inactive)."""
        if row.get("status") != "active" or row.get("seller_status") != "active":
            return None
        return cls(
            id=row["id"],
            seller_id=row["seller_id"],
            created_at=int(row["created_at"]),
            expires_at=int(row["expires_at"]),
            hype=float(row.get("hype") or 0.0),
            lat=row.get("lat"),
            lon=row.get("lon"),
            tags=tuple(sorted(row.get("tags") or ())),
            trust=float(row.get("trust") or 0.0),
            pickup_only=bool(row.get("pickup_only")),
            likes=int(row.get("likes") or 0),
        )

    def pools(self) -> list[tuple[str, str, float]]:
        """(pool kind, pool name, score) for every pool this listing belongs to."""
        out = [("hot", "hot", self.hype), ("new", "new", float(self.created_at))]
        out += [("tag", f"tag:{t}", self.hype) for t in self.tags]
        if self.lat is not None and self.lon is not None:
            for level in range(len(LEVELS)):
                cell = cell_of(level, self.lat, self.lon)
                out += [
                    ("cell.hot", f"hot:{cell}", self.hype),
                    ("cell.new", f"new:{cell}", float(self.created_at)),
                ]
                out += [("cell.tag", f"hot:{cell}:{t}", self.hype) for t in self.tags]
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def cell_of(level: int, lat: float, lon: float) -> str:
    size = LEVELS[level]
    return f"{level}:{math.floor(min(lat, NORTHMOST) / size)}:{_wrap(math.floor(lon / size), size)}"


def cells_around(place: Place, radius_m: float) -> list[str]:
    """Grid cells covering a circle, at the finest level that needs at most nine of them (a
    wide radius reads a coarser grid; around a pole, at most MAX_CELLS cells)."""
    angle = radius_m / EARTH_RADIUS_M  # the radius as an angle at the centre of the earth
    dlat = math.degrees(angle)
    cos_lat = math.cos(math.radians(place.lat))
    # the widest longitude a point within the circle can have, or every one around a pole
    reach = math.sin(angle) / cos_lat if cos_lat > 0 else 2.0
    dlon = math.degrees(math.asin(reach)) if reach < 1 else 180.0
    chosen: list[str] = []
    for level, size in enumerate(LEVELS):
        rows = _span(place.lat, dlat, size, lo=-90.0, hi=NORTHMOST)
        cols = {_wrap(c, size) for c in _span(place.lon, dlon, size)}
        chosen = [f"{level}:{r}:{c}" for r in rows for c in sorted(cols)]
        if len(chosen) <= 9:
            break
    return chosen[:MAX_CELLS]


def _within(item: Item, near: Place | None, radius_m: float) -> bool:
    if near is None or item.lat is None or item.lon is None:
        return False
    return haversine_m(item.lat, item.lon, near.lat, near.lon) <= radius_m


def _span(
    centre: float, half: float, size: float, lo: float = -math.inf, hi: float = math.inf
) -> range:
    centre = min(max(centre, lo), hi)  # the pole itself lies in the last row
    start, end = max(centre - half, lo), min(centre + half, hi)
    return range(math.floor(start / size), math.floor(end / size) + 1)


def _wrap(col: int, size: float) -> int:
    """Column numbers continue across the antimeridian: 180 degrees east is 180 west."""
    half = int(180 / size)
    return (col + half) % (2 * half) - half


class Pools:
    def __init__(self, store: GraphStore, redis: aioredis.Redis, prefix: str) -> None:
        self._store = store
        self._redis = redis
        self._p = f"{prefix}feed:"
        self._read = redis.register_script(_CANDIDATES)
        # (id, packed facts) -> the item: a listing's facts change only with its packed bytes
        # (a refresh writes new ones), so an entry can never be stale, whatever the generation
        self._unpacked: dict[tuple[bytes, bytes], Item] = {}

    # ---- reading --------------------------------------------------------------------------

    async def generation(self) -> str:
        """The current generation, building the pools first if there are none (one builder at
        a time across workers; the others wait for it)."""
        deadline = time.monotonic() + FIRST_BUILD_WAIT_S
        while True:
            gen = await self._redis.get(self._p + "gen")
            if gen is not None:
                return _text(gen)
            if time.monotonic() > deadline:
                raise Unavailable("the feed is still being prepared; try again in a minute")
            if not await self.rebuild(only_if_missing=True):  # another worker is building
                await asyncio.sleep(0.1)

    async def candidates(
        self,
        near: Place | None,
        radius_m: float,
        tags: list[str],
        also: Iterable[str],
        now: int,
        pickup_m: float = math.inf,
    ) -> dict[str, Item]:
        """The pools' best around `near` (within `radius_m`) and in `tags` anywhere, plus the
        listings in `also`, with their facts. Expired ones and those the pools no longer hold
        are left out; so is what came only from around `near` but lies beyond the radius, and
        what is offered for pickup only further from `near` than `pickup_m`."""
        reads: list[tuple[str, int, bool]] = [(f"tag:{t}", TAG_DEPTH, False) for t in tags]
        if near is not None:
            cells = cells_around(near, radius_m)
            share = max(8, LOCAL_BUDGET // (len(cells) * (3 + len(tags))))
            for cell in cells:
                reads += [(f"hot:{cell}", 2 * share, True), (f"new:{cell}", share, True)]
                reads += [(f"hot:{cell}:{t}", share, True) for t in tags]
        else:
            reads += [("hot", 60, False), ("new", 20, False)]
        args: list[str | int] = [self._p, len(reads)]
        for name, n, is_local in reads:
            args += [name, n, int(is_local)]
        args += list(also)
        while (found := await self._read(keys=[self._p + "gen"], args=args)) is None:
            await self.generation()  # none built yet: build it (or wait for the builder)
        _, ids, flags, packed = found
        items: dict[str, Item] = {}
        for rid, only_local, raw in zip(ids, _text(flags), packed, strict=True):
            if raw is None:
                continue
            item = self._unpack(rid, raw)
            if item.expires_at <= now:
                continue
            if only_local == "1" and not _within(item, near, radius_m):
                continue
            if item.pickup_only and near is not None and not _within(item, near, pickup_m):
                continue
            items[item.id] = item
        return items

    def _unpack(self, rid: bytes, raw: bytes) -> Item:
        item = self._unpacked.get((rid, raw))
        if item is None:
            if len(self._unpacked) >= UNPACKED_MAX:
                self._unpacked.clear()
            item = self._unpacked[rid, raw] = Item.unpack(_text(rid), raw)
        return item

    # ---- keeping current ------------------------------------------------------------------

    async def refresh(self, ids: Iterable[str]) -> int:
        """Read these listings from the graph and put them in (or take them out of) the pools
        of the current generation. Returns how many were looked at."""
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        gen, building = await self._redis.mget(self._p + "gen", self._p + "building")
        if gen is None:  # nothing built yet: the first build reads everything anyway
            return 0
        rows = {r["id"]: r for r in await self._store.run(ITEMS, {"ids": wanted})}
        key = f"{self._p}{_text(gen)}:"
        olds = await self._redis.hmget(key + "items", wanted)
        pipe = self._redis.pipeline(transaction=True)
        for pid, old in zip(wanted, olds, strict=True):
            item = Item.from_row(rows[pid]) if pid in rows else None
            if old is not None:
                for _, name, _ in Item.unpack(pid, old).pools():
                    pipe.zrem(key + name, pid)
            if item is None:
                pipe.hdel(key + "items", pid)
                continue
            pipe.hset(key + "items", pid, item.pack())
            for kind, name, score in item.pools():
                pipe.zadd(key + name, {pid: score})
                pipe.zremrangebyrank(key + name, 0, -KEEP[kind] - 1)
                pipe.sadd(key + "keys", name)
        if (
            building is not None
        ):  # a rebuild is reading the graph: it re-reads these when it is done
            pipe.sadd(self._p + "touched", *wanted)
        await pipe.execute()
        return len(wanted)

    async def mark_engaged(self, *product_ids: str) -> None:
        """A view, like or save: the jobs round recomputes the listing's hype and re-scores it
        (a mark lost with Redis only waits for the next full hype pass and rebuild)."""
        if product_ids:
            await self._redis.sadd(self._p + "engaged", *product_ids)

    async def take_engaged(self, batch: int) -> list[str]:
        """Up to `batch` listings marked since they were last taken."""
        ids = cast(list[bytes], await self._redis.spop(self._p + "engaged", batch))
        return [_text(i) for i in ids or ()]

    async def rebuild(self, *, only_if_missing: bool = False, wait: bool = False) -> bool:
        """Build a new generation from the graph and switch to it. False when another worker
        is building already (or, with `only_if_missing`, when there is a generation). With
        `wait`, a build under way is waited out and then built after: it may have read the
        graph before the caller's change."""
        lock = self._p + "lock"
        deadline = time.monotonic() + BUILD_LOCK_S
        while not await self._redis.set(lock, "1", nx=True, ex=BUILD_LOCK_S):
            if not wait:
                return False
            if time.monotonic() > deadline:
                raise Unavailable("the feed's pools are being rebuilt for too long")
            await asyncio.sleep(0.2)
        try:
            if only_if_missing and await self._redis.exists(self._p + "gen"):
                return False
            await self._build()
            return True
        finally:
            await self._redis.delete(lock)

    async def _build(self) -> None:
        gen = str(await self._redis.incr(self._p + "seq"))
        try:
            await self._fill(gen)
        except BaseException:  # cancelled or failed: the half-built generation goes too
            await self._redis.delete(self._p + "building")
            await self._retire(gen)
            raise
        old = await self._redis.getset(self._p + "gen", gen)
        await self._redis.delete(self._p + "building")
        touched = await self._redis.smembers(self._p + "touched")
        await self.refresh(_text(t) for t in touched)
        if old is not None:
            await self._retire(_text(old))

    async def _fill(self, gen: str) -> None:
        key = f"{self._p}{gen}:"
        # forget old touches first: a write-through that sees `building` must not be dropped
        await self._redis.delete(self._p + "touched")
        await self._redis.set(self._p + "building", gen, ex=BUILD_LOCK_S)
        # each pool's best so far, a min-heap as long as the pool keeps: memory stays bounded
        # by what the pools hold, not by the number of listings
        pools: defaultdict[str, list[tuple[float, str]]] = defaultdict(list)
        async for batch in self._scan():
            mapping: dict[str | bytes, bytes] = {item.id: item.pack() for item in batch}
            await self._redis.hset(key + "items", mapping=mapping)  # type: ignore[arg-type]
            for item in batch:
                for kind, name, score in item.pools():
                    heap, entry = pools[name], (score, item.id)
                    if len(heap) < KEEP[kind]:
                        heapq.heappush(heap, entry)
                    elif entry > heap[0]:
                        heapq.heapreplace(heap, entry)
        pipe = self._redis.pipeline(transaction=False)
        for n, (name, best) in enumerate(pools.items()):
            pipe.zadd(key + name, {pid: score for score, pid in best})
            pipe.sadd(key + "keys", name)  # with it: a build cut short can still be retired
            if n % 500 == 499:
                await pipe.execute()
        await pipe.execute()

    async def _scan(self) -> AsyncIterator[list[Item]]:
        async for rows in by_expiry(self._store, SCAN, {}, target=WINDOW_ROWS):
            batch = [i for i in (Item.from_row(r) for r in rows) if i is not None]
            if batch:
                yield batch

    async def _retire(self, gen: str) -> None:
        """Let an old generation expire a minute from now: decks reading it finish first."""
        key = f"{self._p}{gen}:"
        names = [_text(n) for n in await self._redis.smembers(key + "keys")]
        pipe = self._redis.pipeline(transaction=False)
        for n, name in enumerate(names):
            pipe.expire(key + name, 60)
            if n % 1000 == 999:
                await pipe.execute()
        for name in ("items", "keys"):
            pipe.expire(key + name, 60)
        await pipe.execute()
