"""What makes a deck cheap must not change what it deals: the pools read in one round trip give
what reading each pool did, and the items a worker keeps unpacked are never older than the
pools' own."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pytest

from graph.bootstrap import Services
from graph.catalog import pools as pools_module
from graph.catalog.pools import LOCAL_BUDGET, TAG_DEPTH, Item, _within, cells_around
from graph.feed.candidates import START
from graph.infra.geo import Place
from graph.infra.ids import now_ms
from graph.infra.store.dialect import render
from seeds.loader import seed
from tests.conftest import Api, read
from tests.test_catalog_api import listing


async def reference(
    services: Services,
    near: Place | None,
    radius_m: float,
    tags: list[str],
    also: Iterable[str],
    now: int,
    pickup_m: float = math.inf,
) -> dict[str, Item]:
    """The pools' candidates read as they were before the one-round-trip script: each pool
    with a command of its own, then the items."""
    redis, p = services.redis, services.settings.redis_prefix + "feed:"
    gen = (await redis.get(p + "gen")).decode()
    reads = [(f"tag:{t}", TAG_DEPTH, False) for t in tags]
    if near is not None:
        cells = cells_around(near, radius_m)
        share = max(8, LOCAL_BUDGET // (len(cells) * (3 + len(tags))))
        for cell in cells:
            reads += [(f"hot:{cell}", 2 * share, True), (f"new:{cell}", share, True)]
            reads += [(f"hot:{cell}:{t}", share, True) for t in tags]
    else:
        reads += [("hot", 60, False), ("new", 20, False)]
    only_local: dict[str, bool] = {}
    for name, n, is_local in reads:
        for raw in await redis.zrevrange(f"{p}{gen}:{name}", 0, n - 1):
            pid = raw.decode()
            only_local[pid] = only_local.get(pid, True) and is_local
    for pid in also:
        only_local[pid] = False
    items: dict[str, Item] = {}
    for pid in only_local:
        raw = await redis.hget(f"{p}{gen}:items", pid)
        if raw is None:
            continue
        item = Item.unpack(pid, raw)
        if item.expires_at <= now:
            continue
        if only_local[pid] and not _within(item, near, radius_m):
            continue
        if item.pickup_only and near is not None and not _within(item, near, pickup_m):
            continue
        items[pid] = item
    return items


async def test_the_pools_read_in_one_round_trip_give_what_reading_each_pool_gave(
    services: Services,
) -> None:
    await seed(services, users=30, products=300, interactions=2_000, seed=5)
    assert await services.pools.rebuild()
    rows = await read(services, "MATCH (t:Tag) RETURN t.name AS name ORDER BY name")
    tags = [r["name"] for r in rows]
    places = await read(
        services,
        "MATCH (p:Product) RETURN p.id AS id, p.place.latitude AS lat, p.place.longitude AS lon "
        "ORDER BY id LIMIT 5",
    )
    now = now_ms()
    asks: list[tuple[Place | None, float, list[str], list[str], float]] = [
        (None, 50_000.0, tags[:3], [], math.inf),
        (None, 50_000.0, [], [places[0]["id"], "no-such-listing"], math.inf),
    ]
    for i, row in enumerate(places):
        here = Place(row["lat"], row["lon"])
        also = [places[(i + 1) % len(places)]["id"], "no-such-listing"]
        asks += [
            (here, 5_000.0, tags[i : i + 5], also, 2_000.0),
            (here, 200_000.0, tags[-2:], [], math.inf),
            (here, 1_000.0, [], also, math.inf),
        ]
    compared = 0
    for near, radius_m, chosen, also, pickup_m in asks:
        expected = await reference(services, near, radius_m, chosen, also, now, pickup_m)
        for _ in range(2):  # the second time from the items the worker unpacked
            found = await services.pools.candidates(near, radius_m, chosen, also, now, pickup_m)
            assert list(found.items()) == list(expected.items())
        compared += len(expected)
    assert compared > 100


async def test_an_item_changed_within_a_generation_is_dealt_as_it_now_is(
    api: Api, services: Services
) -> None:
    """A write refreshes a listing in the current generation: a worker that unpacked it before
    must not keep its old facts (the generation alone does not say they changed)."""
    _, seller = await api.signup()
    lamp = await listing(api, seller, title="Brass lamp", tags=["lamps"])
    assert await services.pools.rebuild()
    gen = await services.pools.generation()
    near, now = Place(52.37, 4.89), now_ms()
    before = await services.pools.candidates(near, 10_000, ["lamps"], [], now)
    assert before[lamp["id"]].tags == ("lamps",)

    patch = {"tags": ["lamps", "brass"]}
    assert (await api.call("patch", f"/v1/products/{lamp['id']}", seller, json=patch)).status == 200
    assert await services.pools.generation() == gen
    after = await services.pools.candidates(near, 10_000, ["lamps"], [], now)
    assert after[lamp["id"]].tags == ("brass", "lamps")

    assert (await api.call("delete", f"/v1/products/{lamp['id']}", seller)).status == 204
    assert await services.pools.candidates(near, 10_000, ["lamps"], [lamp["id"]], now) == {}


async def test_a_new_generation_is_read_afresh_and_the_unpacked_items_stay_bounded(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, seller = await api.signup()
    made = [await listing(api, seller, title=f"Chair {i}", tags=["chairs"]) for i in range(4)]
    assert await services.pools.rebuild()
    near, now = Place(52.37, 4.89), now_ms()
    first = await services.pools.candidates(near, 10_000, ["chairs"], [], now)
    assert set(first) == {m["id"] for m in made}
    # the graph changes behind the pools' back (no write-through): only a rebuild sees it
    await services.store.run_text(
        "MATCH (p:Product {id: $id}) SET p.hype = 42.0 RETURN 1", {"id": made[0]["id"]}, write=True
    )
    assert (await services.pools.candidates(near, 10_000, [], [], now))[made[0]["id"]].hype != 42.0
    assert await services.pools.rebuild()
    monkeypatch.setattr(pools_module, "UNPACKED_MAX", 2)  # a worker's keeps no more than this
    second = await services.pools.candidates(near, 10_000, [], [], now)
    assert second[made[0]["id"]].hype == 42.0
    assert len(services.pools._unpacked) <= 2
    assert await services.pools.candidates(near, 10_000, ["chairs"], [], now) == second


# the two statements `feed.start` took the place of, as they were
PROFILE = """
MATCH (me:User {id: $user_id})
{{scope me}}
  MATCH (me)-[r:LIKED|SAVED]->(p:Product)
  WHERE ($before IS NULL OR r.at < $before) AND NOT p.id IN $hide
  WITH p, r.at AS at ORDER BY at DESC LIMIT 30
  RETURN collect({id: p.id, at: at, liked: true}) AS liked
}
{{scope me}}
  MATCH (me)-[r:VIEWED]->(p:Product)
  WHERE ($before IS NULL OR r.at < $before) AND NOT p.id IN $hide
  WITH p, r.at AS at ORDER BY at DESC LIMIT 30
  RETURN collect({id: p.id, at: at, liked: false}) AS viewed
}
UNWIND liked + viewed AS row
WITH row.id AS id, row.at AS at, row.liked AS liked
MATCH (p:Product {id: id})-[:TAGGED]->(t:Tag)
RETURN p.id AS id, p.title AS title, at, liked, collect(t.name) AS tags,
       p.place.latitude AS lat, p.place.longitude AS lon
ORDER BY at DESC
"""
INTERESTS = """
MATCH (me:User {id: $user_id})
OPTIONAL MATCH (me)-[i:INTERESTED_IN]->(t:Tag)
RETURN me.location AS location, collect({tag: t.name, weight: i.weight}) AS interests
"""


async def test_one_statement_reads_the_profile_and_interests_the_two_did(
    services: Services,
) -> None:
    await seed(services, users=40, products=200, interactions=3_000, seed=6)
    people = [r["id"] for r in await read(services, "MATCH (u:User) RETURN u.id AS id")]
    hidden = (await read(services, "MATCH (p:Product) RETURN p.id AS id LIMIT 3"))[0]["id"]
    dialect = services.store.dialect
    checked = 0
    for user_id in [*people, "no-such-person"]:
        for before, hide in ((None, []), (now_ms() - 86_400_000 * 3, [hidden])):
            params = {"user_id": user_id, "before": before, "hide": hide}
            got = await services.store.run(START, params)
            profile = await services.store.run_text(render(PROFILE, dialect), params, write=False)
            interests = await services.store.run_text(
                render(INTERESTS, dialect), {"user_id": user_id}, write=False
            )
            if not interests:
                assert got == []
                continue
            (row,) = got
            assert row["location"] == interests[0]["location"]
            assert row["interests"] == interests[0]["interests"]
            key = lambda r: (-r["at"], r["id"], r["liked"])  # noqa: E731 (ties in any order)
            assert sorted(row["profile"], key=key) == sorted(profile, key=key)
            checked += len(profile)
    assert checked > 500
