"""Deals against a real `vendr serve` (two HTTP workers and the background worker): buyers
racing across processes, and both parties watching a negotiation over real WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from graph.bootstrap import bootstrap, shutdown
from graph.infra.ids import now_ms
from graph.infra.settings import Settings
from tests.conftest import BACKENDS, backend_settings, live_server, png_bytes

# the server's order confirmation period: long, so no step of a test races its timer on a
# loaded machine; the timer test makes its order due itself (`due_now`)
CONFIRM_S = 3600
# the graph each served base URL runs on, for the tests that read or write it directly
GRAPHS: dict[str, Settings] = {}


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[str]:
    """Two HTTP workers and the background worker, whose deal timers run every 0.3 s, on each
    backend: the races are the point, and Neo4j locks where FalkorDB runs one at a time."""
    graph = backend_settings(request, data_dir, request.param)
    with live_server(
        data_dir,
        "deals",
        graph,
        VENDR_WORKERS="2",
        VENDR_BACKGROUND="on",
        VENDR_JOBS_INTERVAL_SECONDS="0",
        VENDR_DEALS_INTERVAL_SECONDS="0.3",
        VENDR_ORDER_CONFIRM_SECONDS=str(CONFIRM_S),
    ) as base:
        GRAPHS[base] = graph
        yield base


async def due_now(base: str, order_id: str) -> None:
    """The order's confirmation period ends now, as if it had waited the whole of it."""
    services = await bootstrap(GRAPHS[base])
    try:
        await services.store.run_text(
            "MATCH (o:Order {id: $id}) SET o.due_at = $now",
            {"id": order_id, "now": now_ms()},
            write=True,
        )
    finally:
        await shutdown(services)


@contextlib.asynccontextmanager
async def client(base: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:
        yield c


async def signup(c: httpx.AsyncClient, name: str, **extra: Any) -> str:
    body = {
        "email": f"{uuid.uuid4().hex[:10]}@example.org",
        "password": "long enough",
        "display_name": name,
        **extra,
    }
    response = await c.post("/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def shop_listing(c: httpx.AsyncClient, quantity: int, price: int = 2_000) -> tuple[str, str]:
    seller = await signup(c, "Shop", kind="business", shop_name=f"Shop {uuid.uuid4().hex[:4]}")
    files = {"image": ("p.png", png_bytes(color="navy"), "image/png")}
    image = (await c.post("/v1/images", headers=auth(seller), files=files)).json()["id"]
    body = {
        "title": "Hot item",
        "price": {"amount": price, "currency": "EUR"},
        "location": {"lat": 52.37, "lon": 4.89},
        "image_ids": [image],
        "quantity": quantity,
    }
    product = await c.post("/v1/products", headers=auth(seller), json=body)
    assert product.status_code == 201, product.text
    return seller, product.json()["id"]


async def test_fifty_buyers_racing_across_workers_get_exactly_five_orders(served: str) -> None:
    async with client(served) as c:
        seller, pid = await shop_listing(c, quantity=5)
        buyers = await asyncio.gather(*(signup(c, f"Buyer {n}") for n in range(50)))

        async def buy(token: str) -> httpx.Response:
            # a loaded server may answer 503 (busy: nothing written, try again), as a
            # client would be told to: it asks again
            while True:
                r = await c.post(
                    f"/v1/products/{pid}/orders", headers=auth(token), json={"quantity": 1}
                )
                if r.status_code != 503:
                    return r
                await asyncio.sleep(0.2)

        results = await asyncio.gather(*(buy(t) for t in buyers))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201] * 5 + [409] * 45
        assert {r.json()["available"] for r in results if r.status_code == 409} == {0}
        product = (await c.get(f"/v1/products/{pid}", headers=auth(seller))).json()
        assert (product["quantity"], product["status"]) == (0, "reserved")
        sold = await c.get("/v1/orders?role=seller&limit=100", headers=auth(seller))
        assert len(sold.json()["items"]) == 5


async def test_two_carts_racing_for_the_last_units_one_wins_whole(served: str) -> None:
    async with client(served) as c:
        for _ in range(4):  # a few rounds: the race lands differently each time
            seller, first = await shop_listing(c, quantity=3)
            _, second = await shop_listing(c, quantity=2)
            carts = [await signup(c, "Cart A"), await signup(c, "Cart B")]
            for token in carts:
                for pid, quantity in ((first, 2), (second, 2)):
                    put = await c.put(
                        f"/v1/cart/items/{pid}", headers=auth(token), json={"quantity": quantity}
                    )
                    assert put.status_code == 204
            results = await asyncio.gather(
                *(c.post("/v1/cart/checkout", headers=auth(t)) for t in carts)
            )
            assert sorted(r.status_code for r in results) == [201, 409]
            winner = next(r for r in results if r.status_code == 201).json()
            assert sum(o["quantity"] for o in winner["orders"]) == 4
            left = [
                (await c.get(f"/v1/products/{pid}", headers=auth(seller))).json()["quantity"]
                for pid in (first, second)
            ]
            assert left == [1, 0]  # the loser reserved nothing


async def pushes(ws: Any, kind: str, count: int) -> list[dict[str, Any]]:
    """The next `count` pushes of `kind`, skipping the others."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] == kind:
            found.append(frame)
    return found


async def test_both_parties_watch_a_negotiation_over_their_sockets(served: str) -> None:
    ws_base = served.replace("http://", "ws://")
    async with client(served) as c:
        seller, pid = await shop_listing(c, quantity=1, price=10_000)
        buyer = await signup(c, "Buyer")
        async with (
            connect(f"{ws_base}/v1/ws?token={buyer}") as buyer_ws,
            connect(f"{ws_base}/v1/ws?token={seller}") as seller_ws,
        ):
            for ws in (buyer_ws, seller_ws):
                assert json.loads(await ws.recv())["type"] == "ready"
            sockets = (buyer_ws, seller_ws)

            async def both(kind: str) -> list[dict[str, Any]]:
                return [(await pushes(ws, kind, 1))[0] for ws in sockets]

            made = await c.post(
                f"/v1/products/{pid}/offers", headers=auth(buyer), json={"amount": 8_000}
            )
            seen = await both("offer.updated")
            assert {p["offer"]["id"] for p in seen} == {made.json()["id"]}
            offer_id = made.json()["id"]
            steps = [(seller, 9_500), (buyer, 9_000)]
            for token, amount in steps:
                answer = await c.post(
                    f"/v1/offers/{offer_id}/counter", headers=auth(token), json={"amount": amount}
                )
                assert answer.status_code == 200, answer.text
                offer_id = answer.json()["id"]
                seen = await both("offer.updated")
                assert {(p["offer"]["status"], p["offer"]["amount"]["amount"]) for p in seen} == {
                    ("open", amount)
                }
            accepted = await c.post(f"/v1/offers/{offer_id}/accept", headers=auth(seller))
            order_id = accepted.json()["order_id"]
            assert [p["order"]["status"] for p in await both("order.updated")] == ["placed"] * 2
            for token, action, status in (
                (seller, "confirm", "confirmed"),
                (buyer, "complete", "completed"),
            ):
                moved = await c.post(f"/v1/orders/{order_id}/{action}", headers=auth(token))
                assert moved.status_code == 200
                seen = await both("order.updated")
                assert [p["order"]["status"] for p in seen] == [status, status]


async def test_the_background_worker_cancels_an_unconfirmed_order_and_says_so(
    served: str,
) -> None:
    ws_base = served.replace("http://", "ws://")
    async with client(served) as c:
        seller, pid = await shop_listing(c, quantity=2)
        buyer = await signup(c, "Buyer")
        async with connect(f"{ws_base}/v1/ws?token={buyer}") as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            placed = await c.post(
                f"/v1/products/{pid}/orders", headers=auth(buyer), json={"quantity": 2}
            )
            assert placed.status_code == 201
            first = (await pushes(ws, "order.updated", 1))[0]
            assert first["order"]["status"] == "placed"
            assert first["order"]["due"]["event"] == "expire"
            # nobody confirms in time: the worker process fires the timer, the push reaches us
            await due_now(served, placed.json()["id"])
            later = json.loads(await asyncio.wait_for(_next_order(ws), 30))
            assert later["order"]["status"] == "cancelled"
            assert later["order"]["cancelled_by"] == "system"
        product = (await c.get(f"/v1/products/{pid}", headers=auth(seller))).json()
        assert (product["quantity"], product["status"]) == (2, "active")


async def _next_order(ws: Any) -> str:
    while True:
        raw = await ws.recv()
        if json.loads(raw)["type"] == "order.updated":
            return str(raw)
