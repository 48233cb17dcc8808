"""Browse on a seeded marketplace: every filter and sort against a brute-force reference,
paging that returns each match exactly once, and geo-radius equal to haversine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from api.app import create_app
from graph.bootstrap import Services, bootstrap, shutdown
from graph.catalog.browse import BrowseService
from graph.catalog.commands import Browse
from graph.catalog.planner import Planner
from graph.infra.geo import Place, haversine_m
from graph.infra.ids import now_ms
from graph.infra.settings import Settings
from seeds.generator import CITIES, TAXONOMY
from seeds.loader import seed
from tests.conftest import Api, make_settings

USERS, PRODUCTS, INTERACTIONS, SEED = 40, 400, 2000, 11


# the reference browse works from: a listing is found by its public place (graph.infra.geo)
REFERENCE = """
MATCH (s:User)-[:LISTED]->(p:Product)
RETURN p.id AS id, p.title AS title, p.description AS description, p.price AS price,
       p.currency AS currency, p.condition AS condition, p.status AS status,
       p.created_at AS created_at, p.expires_at AS expires_at, p.hype AS hype,
       p.place AS location, s.id AS seller_id, [(p)-[:TAGGED]->(t:Tag) | t.name] AS tags,
       p.local_pickup AND NOT coalesce(p.ships, false) AS pickup_only
"""
PICKUP_M = Settings.model_fields["pickup_radius_km"].default * 1000


@pytest.fixture(scope="module")
async def seeded(data_dir: Path) -> AsyncIterator[tuple[Services, list[dict[str, Any]]]]:
    services = await bootstrap(make_settings(data_dir))
    await seed(services, users=USERS, products=PRODUCTS, interactions=INTERACTIONS, seed=SEED)
    rows = await services.store.run_text(REFERENCE, {}, write=False)
    yield services, rows
    await services.store.drop_all()
    await shutdown(services)


def expected(rows: list[dict[str, Any]], cmd: Browse) -> list[dict[str, Any]]:
    now = now_ms()
    out = []
    for r in rows:
        if r["status"] != "active" or r["expires_at"] <= now:
            continue
        if cmd.min_price is not None and r["price"] < cmd.min_price:
            continue
        if cmd.max_price is not None and r["price"] > cmd.max_price:
            continue
        if cmd.condition and r["condition"] != cmd.condition:
            continue
        if cmd.owner_id and r["seller_id"] != cmd.owner_id:
            continue
        if not set(cmd.tags) <= set(r["tags"]):
            continue
        if cmd.near:
            loc = r["location"]
            r = r | {
                "d": haversine_m(cmd.near.lat, cmd.near.lon, loc["latitude"], loc["longitude"])
            }
            if r["d"] > (cmd.radius_km or 25) * 1000:
                continue
            if r["pickup_only"] and r["d"] > PICKUP_M:  # nobody drives that far for it
                continue
        out.append(r)
    keys = {
        "newest": lambda r: (-r["created_at"], _neg(r["id"])),
        "price_asc": lambda r: (r["price"], r["id"]),
        "price_desc": lambda r: (-r["price"], _neg(r["id"])),
        "hype": lambda r: (-r["hype"], _neg(r["id"])),
        "distance": lambda r: (r["d"], r["id"]),
    }
    return sorted(out, key=keys[cmd.sort])


def _neg(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


async def page_through(browse: BrowseService, cmd: Browse) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(500):
        page, cursor = await browse.browse(Browse(**{**cmd.__dict__, "cursor": cursor}))
        assert len(page) <= cmd.limit
        seen.extend(page)
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def near_boundary(rows: list[dict[str, Any]], cmd: Browse) -> set[str]:
    """Listings within 0.1 % of the radius: float32 coordinates may put them either side."""
    if not cmd.near:
        return set()
    radius = (cmd.radius_km or 25) * 1000
    return {
        r["id"]
        for r in rows
        for edge in (radius, PICKUP_M)
        if abs(
            haversine_m(
                cmd.near.lat, cmd.near.lon, r["location"]["latitude"], r["location"]["longitude"]
            )
            - edge
        )
        < edge * 0.001
    }


async def check(
    seeded: tuple[Services, list[dict[str, Any]]], cmd: Browse, browse: BrowseService | None = None
) -> list[dict]:
    services, rows = seeded
    got = await page_through(browse or services.browse, cmd)
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids)), "a listing came twice"
    want = [r["id"] for r in expected(rows, cmd)]
    fuzzy = near_boundary(rows, cmd)
    if cmd.sort == "distance":
        distances = [r["distance_m"] for r in got]
        assert distances == sorted(distances)
        assert set(ids) - fuzzy == set(want) - fuzzy
    else:
        assert [i for i in ids if i not in fuzzy] == [i for i in want if i not in fuzzy]
    return got


AMSTERDAM = Place(CITIES[0][1], CITIES[0][2])
SORTS = ["newest", "price_asc", "price_desc", "hype"]


@pytest.mark.parametrize("sort", SORTS)
async def test_every_active_listing_pages_exactly_once_in_order(seeded, sort: str) -> None:
    got = await check(seeded, Browse(sort=sort, limit=17))  # type: ignore[arg-type]
    assert len(got) > PRODUCTS * 0.9


@pytest.mark.parametrize("sort", [*SORTS, "distance"])
async def test_geo_radius_equals_brute_force_haversine(seeded, sort: str) -> None:
    cmd = Browse(near=AMSTERDAM, radius_km=12, sort=sort, limit=9)  # type: ignore[arg-type]
    got = await check(seeded, cmd)
    assert got, "the seed puts listings around Amsterdam"
    for row in got:
        loc = row["place"]
        d = haversine_m(AMSTERDAM.lat, AMSTERDAM.lon, loc["latitude"], loc["longitude"])
        assert row["distance_m"] == pytest.approx(d, rel=1e-3, abs=2)


@pytest.mark.parametrize(
    "cmd",
    [
        Browse(tags=("vintage",), limit=5),
        Browse(tags=("furniture", "vintage"), sort="price_asc", limit=5),
        Browse(min_price=2_000, max_price=9_000, sort="price_desc", limit=11),
        Browse(condition="new", limit=6),
        Browse(tags=("bikes",), near=AMSTERDAM, radius_km=60, sort="distance", limit=4),
        Browse(tags=("clothing",), min_price=1_000, condition="used", sort="hype", limit=3),
        Browse(near=Place(48.8566, 2.3522), radius_km=8, min_price=500, limit=7),
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.__dict__.items() if v not in (None, ())),
)
async def test_filters_combine_and_match_the_reference(seeded, cmd: Browse) -> None:
    got = await check(seeded, cmd)
    assert got, "each case matches something in the seed"


async def test_owner_filter(seeded) -> None:
    _, rows = seeded
    owner = max(
        {r["seller_id"] for r in rows}, key=lambda s: sum(r["seller_id"] == s for r in rows)
    )
    got = await check(seeded, Browse(owner_id=owner, sort="price_asc", limit=2))
    assert {r["seller_id"] for r in got} == {owner}


async def test_full_text_finds_title_words_and_prefixes(seeded) -> None:
    services, rows = seeded
    for query, word in (("bike", "bike"), ("vinyl rec", "record"), ("BIKE!!", "bike")):
        got = await page_through(services.browse, Browse(q=query, limit=50))
        assert got, query
        for r in got:
            assert word in (r["title"] + " " + r["description"]).lower()
        titled = {r["id"] for r in expected(rows, Browse()) if f" {word}" in r["title"].lower()}
        assert titled <= {r["id"] for r in got}


async def test_paging_stays_exact_while_listings_are_added(seeded) -> None:
    services, rows = seeded
    cmd = Browse(sort="newest", limit=25)
    before = [r["id"] for r in expected(rows, cmd)]
    seen: list[str] = []
    cursor = None
    owner = rows[0]["seller_id"]
    added = []
    while True:
        page, cursor = await services.browse.browse(Browse(sort="newest", limit=25, cursor=cursor))
        seen += [r["id"] for r in page]
        new_id = f"added-{uuid.uuid4().hex[:8]}"
        added.append(new_id)
        await services.store.run_text(
            "MATCH (s:User {id: $owner}) CREATE (s)-[:LISTED]->(:Product {id: $id, title: 'New', "
            "price: 100, currency: 'EUR', condition: 'new', status: 'active', created_at: $now, "
            "expires_at: $now + 86400000, hype: 0.0, seller_id: $owner, "
            "location: point({latitude: 52.0, longitude: 4.0})}) RETURN 1 AS ok",
            {"owner": owner, "id": new_id, "now": now_ms()},
            write=True,
        )
        await services.cache.bump("catalog")  # as every write through the services does
        if cursor is None:
            break
    assert seen == before
    await services.store.run_text(
        "MATCH (p:Product) WHERE p.id IN $ids DETACH DELETE p", {"ids": added}, write=True
    )
    await services.cache.bump("catalog")


@pytest.fixture(scope="module")
def sync_seeded(data_dir: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Services, list]]:
    loop = asyncio.new_event_loop()
    services = loop.run_until_complete(bootstrap(make_settings(data_dir)))
    loop.run_until_complete(seed(services, users=30, products=250, interactions=500, seed=5))
    rows = loop.run_until_complete(services.store.run_text(REFERENCE, {}, write=False))
    yield loop, services, rows
    loop.run_until_complete(services.store.drop_all())
    loop.run_until_complete(shutdown(services))
    loop.close()


CATEGORY_TAGS = sorted({t for c in TAXONOMY for t in (c.name, *c.tags)})
browses = st.builds(
    Browse,
    near=st.one_of(st.none(), st.sampled_from([Place(c[1], c[2]) for c in CITIES])),
    radius_km=st.one_of(st.none(), st.sampled_from([3.0, 10.0, 40.0, 200.0])),
    tags=st.lists(st.sampled_from(CATEGORY_TAGS), max_size=2, unique=True).map(tuple),
    min_price=st.one_of(st.none(), st.integers(0, 20_000)),
    max_price=st.one_of(st.none(), st.integers(20_000, 200_000)),
    condition=st.one_of(st.none(), st.sampled_from(["new", "used", "not_specified"])),
    sort=st.sampled_from(["newest", "price_asc", "price_desc", "hype"]),
    limit=st.integers(1, 40),
)


class Forced(Planner):
    """Always the given way in, where the query allows it: to check every plan gives the same
    pages as the reference."""

    def __init__(self, store: Any, cache: Any, way: str) -> None:
        super().__init__(store, cache)
        self.way = way

    async def entry(self, cmd: Browse, tags: list[str], limit: int) -> str:
        chosen = await super().entry(cmd, tags, limit)
        if chosen in ("owner", "text") or (cmd.near and cmd.sort == "distance"):
            return chosen
        allowed = {"tags": bool(tags), "near": bool(cmd.near), "all": True}
        return self.way if allowed[self.way] else chosen


@given(cmd=browses, way=st.sampled_from(["planned", "tags", "near", "all"]))
@hsettings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_filter_combination_pages_every_match_exactly_once(
    sync_seeded, cmd: Browse, way: str
) -> None:
    """Whichever way in the planner picks, the pages are the same."""
    loop, services, rows = sync_seeded
    planner = None if way == "planned" else Forced(services.store, services.cache, way)
    browse = BrowseService(services.store, services.cache, services.cursors, planner)
    loop.run_until_complete(check((services, rows), cmd, browse))


async def test_browse_through_http_pages_with_opaque_cursors(seeded, settings) -> None:
    services, rows = seeded
    app = create_app(settings, name=f"vendr_{uuid.uuid4().hex[:8]}")
    app.ctx.services = services
    async with Api(app) as api:
        want = [r["id"] for r in expected(rows, Browse(sort="price_asc", tags=("books",)))]
        seen, url = [], "/v1/products?sort=price_asc&tags=books&limit=8"
        while url:
            response = await api.call("get", url)
            assert response.status == 200, response.text
            seen += [p["id"] for p in response.json["items"]]
            cursor = response.json["next_cursor"]
            url = (
                f"/v1/products?sort=price_asc&tags=books&limit=8&cursor={cursor}" if cursor else ""
            )
        assert seen == want
        wrong = await api.call(
            "get", f"/v1/products?sort=newest&cursor={cursor or 'WyJwcmljZV9hc2MiLDEsIngiXQ'}"
        )
        assert wrong.status == 422
