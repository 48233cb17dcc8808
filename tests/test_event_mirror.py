"""The streaming mirror: a stable sample of accounts' events reach a second graph as they happen,
with what they need (the listing a sampled buyer deals on, its seller's bare existence) and
the other party's moves on what the mirror holds; nobody else's life; stopped and started."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from graph.bootstrap import Services, make_store
from graph.eventlog import Mirror, make_mirror, mirror_settings, sampled
from graph.infra.settings import Settings
from graph.infra.store import GraphStore
from tests.conftest import Api
from tests.test_catalog_api import listing
from tests.test_deals_api import offer

PERCENT = 50.0


@pytest.fixture
def backend() -> str:
    return "falkordb"  # the mirror is a second graph beside the first


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "mirror_graph_url": "embedded",
        "mirror_graph_name": f"mirror_{uuid.uuid4().hex[:12]}",
        "mirror_sample_percent": PERCENT,
    }


@pytest.fixture
async def mirror(
    services: Services, settings: Settings
) -> AsyncIterator[tuple[Mirror, GraphStore]]:
    there = make_store(mirror_settings(settings))
    made = make_mirror(services)
    try:
        yield made, there
    finally:
        await there.drop_all()
        await there.close()
        await made.close()


async def person(api: Api, *, in_sample: bool) -> tuple[dict[str, Any], str]:
    """Someone in (or out of) the sample: people are signed up until the hash says so."""
    while True:
        user, token = await api.signup()
        if sampled(user["id"], PERCENT) == in_sample:
            return user, token


# the labels these checks read: the only names spliced into their Cypher
LABELS = frozenset({"User", "Product", "Offer", "Order"})


async def ids(store: GraphStore, label: str) -> set[str]:
    assert label in LABELS, label
    rows = await store.run_text(f"MATCH (n:{label}) RETURN n.id AS id", write=False)
    return {r["id"] for r in rows}


async def test_a_sampled_buyers_deal_reaches_the_mirror_and_nothing_else(
    api: Api, services: Services, mirror: tuple[Mirror, GraphStore]
) -> None:
    stream, there = mirror
    seller, seller_token = await person(api, in_sample=False)
    buyer, buyer_token = await person(api, in_sample=True)
    loner, loner_token = await person(api, in_sample=False)
    lamp = await listing(api, seller_token, title="Brass lamp")
    bike = await listing(api, loner_token, title="Unrelated bike")
    made = await offer(api, buyer_token, lamp["id"], 9_000, message="90?")
    assert made.status == 201, made.text
    countered = await api.call(
        "post", f"/v1/offers/{made.json['id']}/counter", seller_token, json={"amount": 11_000}
    )
    assert countered.status == 200, countered.text

    first = await stream.run_once()
    assert first.mirrored > 0 and first.fetched > 0 and first.diverged == 0
    users = await ids(there, "User")
    assert {buyer["id"], seller["id"]} <= users  # the seller: fetched, the buyer dealt with them
    # besides, only people in the sample (those `person` passed over on the way, too)
    assert all(sampled(u, PERCENT) for u in users - {seller["id"]})
    assert await ids(there, "Product") == {lamp["id"]}  # fetched: the buyer dealt on it
    assert await ids(there, "Offer") == {made.json["id"], countered.json["id"]}
    assert loner["id"] not in await ids(there, "User") and bike["id"] not in await ids(
        there, "Product"
    )

    # stopped: nothing more goes; started again: what happened meanwhile follows
    await stream.stop()
    accepted = await api.call("post", f"/v1/offers/{countered.json['id']}/accept", buyer_token)
    assert accepted.status == 200, accepted.text
    assert (await stream.run_once()).mirrored == 0
    assert (await stream.status())["running"] is False
    await stream.start()
    second = await stream.run_once()
    assert second.mirrored >= 1 and second.diverged == 0
    assert accepted.json["order_id"] in await ids(there, "Order")

    # the seller's own move on the mirrored listing follows; their other listing does not
    repriced = await api.call(
        "patch",
        f"/v1/products/{lamp['id']}",
        seller_token,
        json={"price": {"amount": 10_000, "currency": "EUR"}},
    )
    assert repriced.status == 200, repriced.text
    other = await listing(api, seller_token, title="Oak chair")
    await stream.run_once()
    rows = await there.run_text(
        "MATCH (p:Product {id: $id}) RETURN p.price AS price", {"id": lamp["id"]}, write=False
    )
    assert rows == [{"price": 10_000}]
    assert other["id"] not in await ids(there, "Product")
    assert (await stream.run_once()).read == 0  # the cursor: nothing is read twice


def test_the_sample_is_stable_and_near_its_share() -> None:
    people = [str(uuid.UUID(int=i)) for i in range(4000)]
    chosen = [p for p in people if sampled(p, 1.0)]
    assert chosen == [p for p in people if sampled(p, 1.0)]
    assert 20 <= len(chosen) <= 60  # 1% of 4000, give or take
