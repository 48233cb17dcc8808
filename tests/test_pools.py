"""The feed's candidate pools: kept current by catalog writes and engagement, rebuilt in one
step, and after any of it exactly what a fresh build from the graph would give."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from graph.bootstrap import Services
from graph.catalog.pools import LEVELS, SCAN, Item, cell_of, cells_around
from graph.catalog.windows import by_expiry
from graph.feed.blend import NAMES, features
from graph.feed.candidates import gather
from graph.infra.geo import EARTH_RADIUS_M, Place
from graph.infra.ids import now_ms
from tests.conftest import Api, read
from tests.test_catalog_api import listing


async def snapshot(services: Services) -> tuple[dict[str, Item], dict[str, list[Any]]]:
    """The current generation's items and non-empty pools, as plain data."""
    redis, prefix = services.redis, services.settings.redis_prefix + "feed:"
    gen = (await redis.get(prefix + "gen")).decode()
    raw = await redis.hgetall(f"{prefix}{gen}:items")
    items = {k.decode(): Item.unpack(k.decode(), v) for k, v in raw.items()}
    pools = {}
    for name in sorted(n.decode() for n in await redis.smembers(f"{prefix}{gen}:keys")):
        members = await redis.zrange(f"{prefix}{gen}:{name}", 0, -1, withscores=True)
        if members:
            pools[name] = sorted((m.decode(), s) for m, s in members)
    return items, pools


async def test_catalog_writes_and_engagement_keep_the_pools_as_a_rebuild_would(
    api: Api, services: Services
) -> None:
    _, seller = await api.signup()
    _, buyer = await api.signup()
    first = await listing(api, seller, tags=["bikes", "vintage"])
    assert await services.pools.rebuild()
    items, pools = await snapshot(services)
    assert set(items) == {first["id"]}
    assert {"hot", "new", "tag:bikes", "tag:vintage"} <= set(pools)

    # write-through: every catalog change lands in the pools without a rebuild
    moved = await listing(api, seller, title="Moving lamp", tags=["lamps"])
    sold = await listing(api, seller, title="Sold chair", tags=["chairs"])
    gone = await listing(api, seller, title="Deleted desk", tags=["desks"])
    patch = {"tags": ["lamps", "brass"], "location": {"lat": 48.85, "lon": 2.35}}
    assert (
        await api.call("patch", f"/v1/products/{moved['id']}", seller, json=patch)
    ).status == 200
    sold_patch = {"status": "sold"}
    assert (
        await api.call("patch", f"/v1/products/{sold['id']}", seller, json=sold_patch)
    ).status == 200
    assert (await api.call("delete", f"/v1/products/{gone['id']}", seller)).status == 204
    # engagement: the jobs round recomputes hype and re-scores what was engaged with
    swipe = {"dir": "right"}
    assert (
        await api.call("post", f"/v1/products/{first['id']}/swipe", buyer, json=swipe)
    ).status == 200
    report = await services.jobs.run_once()
    assert report.rescored == 1
    # between full hype passes a round recomputes only what was engaged with
    saved = await api.call("put", f"/v1/users/me/saved/{moved['id']}", buyer)
    assert saved.status == 204
    report = await services.jobs.run_once()
    assert (report.hyped, report.rescored) == (0, 1)

    items, pools = await snapshot(services)
    assert set(items) == {first["id"], moved["id"]}
    assert items[first["id"]].hype > 0 and items[moved["id"]].hype > 0
    hype = await read(services, "MATCH (p:Product {id: $id}) RETURN p.hype AS h", id=moved["id"])
    assert dict(pools["tag:lamps"])[moved["id"]] == hype[0]["h"]
    assert [m for m, _ in pools["tag:brass"]] == [moved["id"]]
    assert "tag:chairs" not in pools and "tag:desks" not in pools
    paris = cell_of(0, 48.85, 2.35)
    assert moved["id"] in {m for m, _ in pools[f"hot:{paris}:lamps"]}
    assert (await services.pools.rebuild()) is True
    assert await snapshot(services) == (items, pools)


async def test_likes_count_every_like_while_hype_forgets_the_old_ones(
    api: Api, services: Services
) -> None:
    """A listing's `likes` (the feed's steady popularity) counts every like it has had, however
    old; hype counts only the last 30 days', decayed."""
    _, seller = await api.signup()
    item = await listing(api, seller, tags=["bikes"])
    buyers = [await api.signup() for _ in range(3)]
    for _, token in buyers:
        swipe = {"dir": "right"}
        response = await api.call("post", f"/v1/products/{item['id']}/swipe", token, json=swipe)
        assert response.status == 200
    long_ago = now_ms() - 40 * 86_400_000
    old = [buyers[0][0]["id"], buyers[1][0]["id"]]
    await services.store.run_text(
        "MATCH (u:User)-[r:LIKED]->(:Product {id: $id}) WHERE u.id IN $old SET r.at = $at",
        {"id": item["id"], "old": old, "at": long_ago},
        write=True,
    )
    await services.jobs.hype()
    assert await services.pools.rebuild()
    items, _ = await snapshot(services)
    assert items[item["id"]].likes == 3
    # one like within the window (3 e^(-age / 3 days), age a few seconds) and no boost
    assert 2.99 < items[item["id"]].hype <= 3.0
    # and the feed's gathering reads it so: its `likes` feature is log(1 + 3)
    newcomer, _ = await api.signup()
    pickup_m = services.settings.pickup_radius_km * 1000
    got = await gather(
        services.store, services.pools, newcomer["id"], None, 50, set(), set(), now_ms(), pickup_m
    )
    cand = got.rough[item["id"]]
    values, _ = features(cand, got.weights, 1.0, now_ms(), 1000.0, got.radius_m)
    assert values[NAMES.index("likes")] == pytest.approx(math.log(4))


async def test_a_rebuild_replaces_the_generation_and_retires_the_old_one(
    api: Api, services: Services
) -> None:
    _, seller = await api.signup()
    await listing(api, seller)
    redis, prefix = services.redis, services.settings.redis_prefix + "feed:"
    # decks arriving together before any build: one builds, the others wait for it
    await asyncio.gather(*(services.pools.generation() for _ in range(4)))
    assert int(await redis.get(prefix + "seq")) == 1
    old = (await redis.get(prefix + "gen")).decode()
    assert await services.pools.rebuild()
    new = (await redis.get(prefix + "gen")).decode()
    assert new != old
    assert 0 < await redis.ttl(f"{prefix}{old}:items") <= 60
    assert await redis.ttl(f"{prefix}{new}:items") == -1  # the current one does not expire


async def test_a_listing_made_after_the_build_reaches_the_next_deck(api: Api) -> None:
    _, seller = await api.signup()
    _, reader = await api.signup()
    where = {"location": {"lat": 52.36, "lon": 4.88}}
    await api.call("patch", "/v1/users/me", reader, json=where)
    assert (await api.call("get", "/v1/feed", reader)).json["items"] == []
    fresh = await listing(api, seller, title="Brand new bike", tags=["bikes"])
    deck = (await api.call("get", "/v1/feed", reader)).json["items"]
    assert [c["product"]["id"] for c in deck] == [fresh["id"]]
    assert (await api.call("delete", f"/v1/products/{fresh['id']}", seller)).status == 204
    assert (await api.call("get", "/v1/feed", reader)).json["items"] == []


async def test_candidates_beyond_the_radius_come_only_from_tags_or_co_likes(
    api: Api, services: Services
) -> None:
    _, seller = await api.signup()
    amsterdam, utrecht = {"lat": 52.37, "lon": 4.89}, {"lat": 52.09, "lon": 5.12}  # 35 km apart
    here = await listing(api, seller, tags=["bikes"], location=amsterdam)
    there = await listing(api, seller, tags=["bikes"], location=utrecht)
    lamp = await listing(api, seller, tags=["lamps"], location=utrecht)
    near, now = Place(52.37, 4.89), now_ms()
    # Utrecht lies in a cell the 10 km circle touches, so its pools are read, but only what the
    # tag pools or co-likes bring may come from beyond the radius
    assert cell_of(0, 52.09, 5.12) in cells_around(near, 10_000)
    found = await services.pools.candidates(near, 10_000, ["bikes"], [], now)
    assert set(found) == {here["id"], there["id"]}
    found = await services.pools.candidates(near, 10_000, [], [lamp["id"]], now)
    assert set(found) == {here["id"], lamp["id"]}
    found = await services.pools.candidates(near, 50_000, [], [], now)
    assert set(found) == {here["id"], there["id"], lamp["id"]}


def _destination(lat: float, lon: float, bearing: float, metres: float) -> tuple[float, float]:
    """The point `metres` away from (lat, lon) along `bearing` on the sphere."""
    d, b = metres / EARTH_RADIUS_M, math.radians(bearing)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    lon2 = (math.degrees(l2) + 540) % 360 - 180
    return math.degrees(p2), lon2


@hsettings(max_examples=400, deadline=None)
@given(
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 179.999),
    radius_km=st.floats(0.001, 500),
    bearing=st.floats(0, 360),
    share=st.floats(0, 1),
)
def test_the_cells_around_a_point_cover_every_place_within_the_radius(
    lat: float, lon: float, radius_km: float, bearing: float, share: float
) -> None:
    cells = cells_around(Place(lat, lon), radius_km * 1000)
    level = int(cells[0].split(":")[0])
    assert len(cells) <= 9 or level == len(LEVELS) - 1
    there = _destination(lat, lon, bearing, radius_km * 1000 * share)
    assert cell_of(level, *there) in cells


@pytest.mark.parametrize("lat", [90.0, -90.0, 89.9999999])
@pytest.mark.parametrize("radius_m", [5e-321, 1.0, 50_000.0])
def test_a_point_at_a_pole_has_cells_whatever_the_radius(lat: float, radius_m: float) -> None:
    """Found by fuzzing the feed: at 90° a tiny radius covered no cell (then a division by
    the number of cells failed)."""
    cells = cells_around(Place(lat, 180.0), radius_m)
    assert cells and cell_of(int(cells[0].split(":")[0]), lat, 180.0) in cells


async def test_expiry_windows_visit_every_active_listing_once(services: Services) -> None:
    """Clusters and gaps in expiry times make the windows widen and narrow; none is missed or
    read twice, and expired or inactive listings are not read at all."""
    now = now_ms()
    day = 86_400_000
    expiries = (
        [now + 60_000 * (i + 1) for i in range(40)]  # a burst in the first hour
        + [now + day * d for d in (2, 3, 9, 27, 28, 29)]  # sparse days
        + [now + 400 * day]  # an outlier far out
    )
    rows = [{"id": f"w{i:03d}", "x": x, "s": "active"} for i, x in enumerate(expiries)]
    rows += [{"id": "expired", "x": now - day, "s": "active"}]
    rows += [{"id": "sold", "x": now + day, "s": "sold"}]
    await services.store.run_text(
        "CREATE (s:User {id: 'windows', status: 'active'}) WITH s UNWIND $rows AS r "
        "CREATE (s)-[:LISTED]->(:Product {id: r.id, expires_at: r.x, status: r.s}) "
        "RETURN count(*) AS n",
        {"rows": rows},
        write=True,
    )
    seen: list[str] = []
    async for page in by_expiry(services.store, SCAN, {}, target=4):
        seen += [r["id"] for r in page]
    assert sorted(seen) == [f"w{i:03d}" for i in range(len(expiries))]


def test_an_item_packed_by_an_older_generation_unpacks_without_its_newer_fields() -> None:
    item = Item("p1", "s1", 1, 2, 0.5, 48.0, 2.0, ("bikes",), 0.7, True, 12)
    assert Item.unpack("p1", item.pack()) == item
    before_likes = orjson.dumps(["s1", 1, 2, 0.5, 48.0, 2.0, ["bikes"], 0.7, True])
    assert Item.unpack("p1", before_likes) == Item(
        "p1", "s1", 1, 2, 0.5, 48.0, 2.0, ("bikes",), 0.7, True, 0
    )
