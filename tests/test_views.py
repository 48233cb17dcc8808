"""Views counted off the request path: opening a listing queues the view in Redis, the worker's
round writes the queue a batch per statement (each view its Event, at the time it was seen),
never loses one when the graph refuses the write, never counts one twice, and writes none for an
account deleted in between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.bootstrap import Services
from graph.feed import views
from graph.infra.errors import Unavailable
from tests.conftest import Api, read
from tests.test_catalog_api import listing
from tests.test_impressions import Counted, gone

COUNTS = """
MATCH (u:User)-[v:VIEWED]->(p:Product)
RETURN u.id AS user, p.id AS product, v.count AS n, v.at AS at ORDER BY user, product
"""
EVENTS = """
MATCH (e:Event {type: 'product.viewed'})
RETURN e.actor_id AS user, e.subject_id AS product, e.at AS at, e.data AS data
ORDER BY at, user
"""


async def open_listings(api: Api, token: str, products: list[dict]) -> None:
    for product in products:
        assert (await api.call("get", f"/v1/products/{product['id']}", token)).status == 200


async def test_views_are_queued_and_a_round_counts_them_in_one_statement(
    api: Api, services: Services
) -> None:
    prefix = services.settings.redis_prefix
    _, seller = await api.signup(display_name="Seller")
    ann, ann_token = await api.signup(display_name="Ann")
    bob, bob_token = await api.signup(display_name="Bob")
    products = [await listing(api, seller, title=f"Lamp {n}") for n in range(3)]
    await open_listings(api, ann_token, products)
    await open_listings(api, bob_token, products[:2])
    await open_listings(api, seller, products)  # a seller's own look is not a view
    assert await views.queued(services.redis, prefix) == 5
    assert await read(services, COUNTS) == []  # opening a listing wrote nothing to the graph
    queued = [json.loads(r) for r in await services.redis.lrange(views.key(prefix), 0, -1)]

    store = Counted(services.store)
    assert await views.flush(store, services.redis, services.pools, prefix) == 5  # type: ignore[arg-type]
    assert store.runs == ["feed.views"]  # five views: one statement
    counted = await read(services, COUNTS)
    assert sorted((c["user"], c["product"], c["n"]) for c in counted) == sorted(
        [(ann["id"], p["id"], 1) for p in products]
        + [(bob["id"], p["id"], 1) for p in products[:2]]
    )
    # each view its Event, at the time it was seen (not the time it was written)
    events = await read(services, EVENTS)
    assert sorted((e["user"], e["product"], e["at"]) for e in events) == sorted(
        (q["user_id"], q["product_id"], q["at"]) for q in queued
    )
    assert {json.loads(e["data"])["via"] for e in events} == {"feed.views"}
    # the listings viewed are marked for the round's hype
    assert set(await services.pools.take_engaged(10)) == {p["id"] for p in products}


async def test_the_workers_round_counts_them_and_hype_follows(api: Api, services: Services) -> None:
    _, seller = await api.signup(display_name="Seller")
    _, viewer = await api.signup(display_name="Viewer")
    product = await listing(api, seller)
    await open_listings(api, viewer, [product])
    report = await services.jobs.run_once()
    assert report.views == 1 and report.rescored == 1
    hype = await read(services, "MATCH (p:Product {id: $id}) RETURN p.hype AS h", id=product["id"])
    assert hype[0]["h"] > 0


async def test_a_failed_write_puts_every_view_back_in_order(
    api: Api, services: Services, tmp_path: Path
) -> None:
    prefix = services.settings.redis_prefix
    _, seller = await api.signup(display_name="Seller")
    _, viewer = await api.signup(display_name="Viewer")
    products = [await listing(api, seller, title=f"Chair {n}") for n in range(4)]
    await open_listings(api, viewer, products)
    before = await services.redis.lrange(views.key(prefix), 0, -1)
    async with gone(services, tmp_path / "gone") as store:
        with pytest.raises(Unavailable):
            await views.flush(store, services.redis, services.pools, prefix, batch=3)
    assert await services.redis.lrange(views.key(prefix), 0, -1) == before
    assert await read(services, COUNTS) == []
    # the next round counts them all, nothing lost, nothing twice
    store = Counted(services.store)
    assert await views.flush_all(store, services.redis, services.pools, prefix, batch=3) == 4  # type: ignore[arg-type]
    assert store.runs == ["feed.views"] * 2
    assert [c["n"] for c in await read(services, COUNTS)] == [1, 1, 1, 1]


async def test_a_batch_written_again_counts_nothing_twice(api: Api, services: Services) -> None:
    prefix = services.settings.redis_prefix
    _, seller = await api.signup(display_name="Seller")
    _, viewer = await api.signup(display_name="Viewer")
    product = await listing(api, seller)
    await open_listings(api, viewer, [product])
    raw = await services.redis.lrange(views.key(prefix), 0, -1)
    assert await services.jobs.flush_views() == 1
    # as if the write had landed but its answer was lost: the records come back
    await services.redis.rpush(views.key(prefix), *raw)
    assert await services.jobs.flush_views() == 0
    assert [c["n"] for c in await read(services, COUNTS)] == [1]
    assert len(await read(services, EVENTS)) == 1


async def test_views_of_an_account_deleted_before_the_round_are_not_written(
    api: Api, services: Services
) -> None:
    _, seller = await api.signup(display_name="Seller")
    _, viewer = await api.signup(display_name="Viewer")
    product = await listing(api, seller)
    await open_listings(api, viewer, [product])
    deleted = await api.call(
        "delete", "/v1/users/me", viewer, json={"password": "correct horse battery"}
    )
    assert deleted.status == 204
    assert await services.jobs.flush_views() == 0
    assert await read(services, COUNTS) == [] and await read(services, EVENTS) == []


async def test_a_malformed_record_is_dropped_and_the_rest_counted(
    api: Api, services: Services
) -> None:
    prefix = services.settings.redis_prefix
    _, seller = await api.signup(display_name="Seller")
    _, viewer = await api.signup(display_name="Viewer")
    product = await listing(api, seller)
    await services.redis.rpush(views.key(prefix), b"not json", b'{"user_id": "x"}')
    await open_listings(api, viewer, [product])
    assert await services.jobs.flush_views() == 1
    assert await views.queued(services.redis, prefix) == 0
    assert [c["n"] for c in await read(services, COUNTS)] == [1]
