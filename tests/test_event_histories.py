"""Random histories, replayed: a Hypothesis state machine drives the real app with commands in
any order (sign-ups, listings and their edits, saves, swipes, chat, offers, counters, orders,
cancellations, blocks), refusals included; at the end of each history its log, replayed into
the emptied graph, dumps to the same facts."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test

from api.app import create_app
from graph.bootstrap import Services, bootstrap, shutdown
from graph.eventlog import differences, dump, export, replay
from tests.conftest import Api, Neo4jServer, make_settings

PLACES = [{"lat": 52.37, "lon": 4.89}, {"lat": 48.85, "lon": 2.35}]
TAGS = ["lamp", "oak", "vintage", "bike"]


@pytest.fixture
def running(
    data_dir: Path, backend: str, neo4j: Neo4jServer | None
) -> Iterator[tuple[asyncio.AbstractEventLoop, Services, Api]]:
    """The app on a loop of its own: Hypothesis' state machines call it synchronously."""
    loop = asyncio.new_event_loop()
    services = loop.run_until_complete(bootstrap(make_settings(data_dir, backend, neo4j)))
    app = create_app(services.settings, name=f"vendr_{uuid.uuid4().hex[:8]}")
    app.ctx.services = services
    api = Api(app)
    loop.run_until_complete(api.start())
    yield loop, services, api
    loop.run_until_complete(api.close())
    loop.run_until_complete(services.store.drop_all())
    loop.run_until_complete(shutdown(services))
    loop.close()


def machine(loop: asyncio.AbstractEventLoop, services: Services, api: Api) -> type:
    def call(method: str, url: str, token: str | None = None, **kw: Any) -> Any:
        response = loop.run_until_complete(api.call(method, url, token, **kw))
        assert response.status < 500, response.text  # refused or done, never broken
        return response

    class History(RuleBasedStateMachine):
        people = Bundle("people")
        listings = Bundle("listings")
        offers = Bundle("offers")
        orders = Bundle("orders")

        def __init__(self) -> None:
            super().__init__()
            loop.run_until_complete(services.store.drop_all())
            loop.run_until_complete(services.store.ensure_schema())

        @rule(target=people, shop=st.booleans())
        def sign_up(self, shop: bool) -> tuple[str, str]:
            body = {
                "email": f"{uuid.uuid4().hex[:10]}@example.org",
                "password": "correct horse battery",
                "display_name": "Shop" if shop else "Person",
            } | ({"kind": "business", "shop_name": "The Shop"} if shop else {})
            made = call("post", "/v1/auth/signup", json=body)
            assert made.status == 201, made.text
            return made.json["token"], made.json["user"]["id"]

        @rule(
            target=listings,
            who=people,
            price=st.integers(100, 50_000),
            quantity=st.integers(1, 3),
            tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
            place=st.sampled_from(PLACES),
        )
        def list_item(
            self, who: tuple[str, str], price: int, quantity: int, tags: list[str], place: Any
        ) -> tuple[str, str]:
            body = {
                "title": "Something good",
                "description": "Worth having",
                "price": {"amount": price, "currency": "EUR"},
                "condition": "used",
                "location": place,
                "tags": tags,
                "quantity": quantity,
            }
            made = call("post", "/v1/products", who[0], json=body)
            return who[0], made.json["id"] if made.status == 201 else "01" + "0" * 24

        @rule(item=listings, price=st.integers(100, 50_000))
        def reprice(self, item: tuple[str, str], price: int) -> None:
            call(
                "patch",
                f"/v1/products/{item[1]}",
                item[0],
                json={"price": {"amount": price, "currency": "EUR"}},
            )

        @rule(item=listings)
        def delete(self, item: tuple[str, str]) -> None:
            call("delete", f"/v1/products/{item[1]}", item[0])

        @rule(who=people, item=listings, way=st.sampled_from(["left", "right"]))
        def swipe(self, who: tuple[str, str], item: tuple[str, str], way: str) -> None:
            call("post", f"/v1/products/{item[1]}/swipe", who[0], json={"dir": way})

        @rule(who=people, item=listings)
        def save(self, who: tuple[str, str], item: tuple[str, str]) -> None:
            call("put", f"/v1/users/me/saved/{item[1]}", who[0])

        @rule(who=people, item=listings, text=st.sampled_from(["Hi", "Still there?", "ok"]))
        def chat(self, who: tuple[str, str], item: tuple[str, str], text: str) -> None:
            room = call("post", "/v1/rooms", who[0], json={"product_id": item[1]})
            if room.status in (200, 201):
                room_id = room.json["id"]
                call("post", f"/v1/rooms/{room_id}/messages", who[0], json={"text": text})

        @rule(target=offers, who=people, item=listings, amount=st.integers(100, 50_000))
        def offer(self, who: tuple[str, str], item: tuple[str, str], amount: int) -> Any:
            made = call("post", f"/v1/products/{item[1]}/offers", who[0], json={"amount": amount})
            offer_id = made.json["id"] if made.status == 201 else "01" + "0" * 24
            return who[0], item[0], offer_id

        @rule(
            deal=offers,
            move=st.sampled_from(["accept", "decline", "counter", "withdraw"]),
            by_seller=st.booleans(),
            amount=st.integers(100, 50_000),
        )
        def answer(self, deal: Any, move: str, by_seller: bool, amount: int) -> None:
            buyer, seller, offer_id = deal
            body = {"amount": amount} if move == "counter" else None
            call("post", f"/v1/offers/{offer_id}/{move}", seller if by_seller else buyer, json=body)

        @rule(target=orders, who=people, item=listings, quantity=st.integers(1, 2))
        def order(self, who: tuple[str, str], item: tuple[str, str], quantity: int) -> Any:
            made = call(
                "post", f"/v1/products/{item[1]}/orders", who[0], json={"quantity": quantity}
            )
            return who[0], item[0], made.json["id"] if made.status == 201 else "01" + "0" * 24

        @rule(
            deal=orders,
            move=st.sampled_from(["confirm", "cancel", "complete"]),
            by_seller=st.booleans(),
        )
        def progress(self, deal: Any, move: str, by_seller: bool) -> None:
            buyer, seller, order_id = deal
            call("post", f"/v1/orders/{order_id}/{move}", seller if by_seller else buyer)

        @rule(a=people, b=people, block=st.booleans())
        def block(self, a: tuple[str, str], b: tuple[str, str], block: bool) -> None:
            call("post" if block else "delete", f"/v1/users/{b[1]}/block", a[0])

        def teardown(self) -> None:
            loop.run_until_complete(self.replayed())

        async def replayed(self) -> None:
            before = await dump(services.store)
            log = [json.loads(json.dumps(e)) async for e in export.events(services.store, 0, None)]
            await services.store.drop_all()

            async def each() -> Any:
                for event in log:
                    yield event

            done = await replay(services.store, each())
            assert done.diverged == [], done.summary()
            diff = differences(before, await dump(services.store))
            assert diff == [], "\n".join(diff)

    return History


def test_any_history_replays_to_the_same_marketplace(running: Any) -> None:
    History = machine(*running)
    run_state_machine_as_test(
        History,
        settings=hsettings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
