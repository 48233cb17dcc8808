"""Deal timers with sub-second periods: each fires when due, late or not, from any process;
one that lost its race to a person does nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from graph.bootstrap import bootstrap, shutdown
from graph.infra.ids import id_time_ms
from tests.conftest import Api, read
from tests.test_deals_api import offer, order, parties, stock

PERIOD_S = 0.4


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "offer_ttl_seconds": PERIOD_S,
        "order_confirm_seconds": PERIOD_S,
        "order_complete_seconds": PERIOD_S,
    }


async def due_soon() -> None:
    await asyncio.sleep(PERIOD_S + 0.2)


async def test_an_unanswered_offer_expires_and_a_new_one_may_follow(api: Api, services) -> None:
    _, buyer, _, product = await parties(api)
    made = (await offer(api, buyer, product["id"], 5_000)).json
    # not due when it was made (asked of that moment: the clock may have run on since, on a
    # busy machine or a Neo4j planning the statement for the first time)
    made_at = id_time_ms(made["id"])
    assert made_at is not None and await services.offers.due(made_at, 10) == []
    await due_soon()
    fired = await services.deal_timers.run_once()
    assert (fired["offers"], fired["lost"]) == (1, 0)
    expired = (await api.call("get", f"/v1/offers/{made['id']}", buyer)).json
    assert expired["status"] == "expired" and expired["expires_at"] is None
    assert (await offer(api, buyer, product["id"], 5_500)).status == 201
    events = await read(services, "MATCH (e:Event {type: 'offer.expired'}) RETURN e.actor_id AS a")
    assert events == [{"a": "system"}]


async def test_an_unconfirmed_order_is_cancelled_and_its_stock_comes_back(
    api: Api, services
) -> None:
    seller, buyer, _, product = await parties(api, quantity=3)
    placed = (await order(api, buyer, product["id"], 2)).json
    assert placed["due"]["event"] == "expire"
    assert await stock(api, product["id"], seller) == (1, "active")
    await due_soon()
    assert (await services.deal_timers.run_once())["orders"] == 1
    cancelled = (await api.call("get", f"/v1/orders/{placed['id']}", buyer)).json
    assert (cancelled["status"], cancelled["cancelled_by"]) == ("cancelled", "system")
    assert await stock(api, product["id"], seller) == (3, "active")


async def test_a_confirmed_order_completes_by_itself(api: Api, services) -> None:
    seller, buyer, _, product = await parties(api)
    placed = (await order(api, buyer, product["id"])).json
    await api.call("post", f"/v1/orders/{placed['id']}/confirm", seller)
    await due_soon()
    await services.deal_timers.run_once()
    done = (await api.call("get", f"/v1/orders/{placed['id']}", buyer)).json
    assert done["status"] == "completed" and done["due"] is None
    assert await stock(api, product["id"], seller) == (0, "sold")


async def test_a_timer_that_lost_its_race_to_a_person_does_nothing(api: Api, services) -> None:
    seller, buyer, _, product = await parties(api, quantity=2)
    made = (await offer(api, buyer, product["id"], 5_000)).json
    placed = (await order(api, buyer, product["id"])).json
    await due_soon()
    # the scheduler has read what is due ...
    due_offers = await services.offers.due(10**15, 10)
    due_orders = await services.orders.due(10**15, 10)
    assert [r["id"] for r in due_offers] == [made["id"]]
    assert [r["id"] for r in due_orders] == [placed["id"]]
    # ... when the people act first
    await api.call("post", f"/v1/offers/{made['id']}/decline", seller)
    await api.call("post", f"/v1/orders/{placed['id']}/confirm", seller)
    for row in due_offers:
        assert not await services.offers.fire(row["id"], row["status"], row["event"])
    for row in due_orders:
        assert not await services.orders.fire(row["id"], row["status"], row["event"])
    assert (await api.call("get", f"/v1/offers/{made['id']}", buyer)).json["status"] == "declined"
    kept = (await api.call("get", f"/v1/orders/{placed['id']}", buyer)).json
    assert kept["status"] == "confirmed"
    assert await stock(api, product["id"], seller) == (1, "active")  # nothing given back


async def test_deadlines_survive_a_restart_and_fire_from_another_process(
    api: Api, services, settings
) -> None:
    _, buyer, _, product = await parties(api)
    made = (await offer(api, buyer, product["id"], 5_000)).json
    await due_soon()
    other = await bootstrap(settings)  # a fresh worker: nothing in memory, only the graph
    try:
        assert (await other.deal_timers.run_once())["offers"] == 1
        assert (await services.deal_timers.run_once())["offers"] == 0  # fired once only
    finally:
        await shutdown(other)
    assert (await api.call("get", f"/v1/offers/{made['id']}", buyer)).json["status"] == "expired"
