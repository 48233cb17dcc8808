"""GraphQL subscriptions against a real `vendr serve` (one HTTP worker and the background
worker), spoken over `graphql-transport-ws` by hand: the same pushes as the REST socket, the
same rules (a room's parties only, a revoked session closes the socket with 4401).

A subscription has no "ready" frame in this protocol, so a test that needs one listening
triggers what it waits for again until it is heard (each wait has a timeout; nothing sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import BACKENDS, backend_settings, live_server, png_bytes

T = TypeVar("T")
PROTOCOL = Subprotocol("graphql-transport-ws")

MESSAGES = """subscription ($room: ID!) {
  roomMessages(roomId: $room) { id roomId senderId kind text data sentAt }
}"""
OFFERS = """subscription {
  offerUpdated { id status amount { amount currency } madeBy buyerId sellerId roomId orderId
                 product { id title } actions }
}"""
ORDERS = """subscription {
  orderUpdated { id status amount { amount currency } quantity offerId roomId
                 buyer { id handle } seller { id } lines { productId quantity } actions }
}"""
NOTIFICATIONS = """subscription {
  notificationCreated { id kind type title body link data createdAt readAt }
}"""


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[str]:
    """One HTTP worker, and the background worker (it delivers in-app notifications)."""
    with live_server(
        data_dir,
        "gqlsub",
        backend_settings(request, data_dir, request.param),
        VENDR_BACKGROUND="on",
        VENDR_JOBS_INTERVAL_SECONDS="0",
    ) as base:
        yield base


# ---- REST, to make things happen ----------------------------------------------------------


class Rest:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.c = client

    async def call(self, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"}
        return await self.c.request(method, path, headers=headers, **kw)

    async def signup(self, name: str) -> tuple[dict[str, Any], str, str]:
        """The user, a token, and the email (to log in again)."""
        email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"
        body = {"email": email, "password": "long enough", "display_name": name}
        response = await self.c.post("/v1/auth/signup", json=body)
        assert response.status_code == 201, response.text
        return response.json()["user"], response.json()["token"], email

    async def listing(self, token: str, price: int = 10_000) -> str:
        files = {"image": ("p.png", png_bytes(color="navy"), "image/png")}
        image = await self.call("POST", "/v1/images", token, files=files)
        assert image.status_code == 201, image.text
        body = {
            "title": "Record player",
            "price": {"amount": price, "currency": "EUR"},
            "location": {"lat": 52.37, "lon": 4.89},
            "image_ids": [image.json()["id"]],
        }
        product = await self.call("POST", "/v1/products", token, json=body)
        assert product.status_code == 201, product.text
        return str(product.json()["id"])

    async def room(self, buyer_token: str, product_id: str) -> str:
        room = await self.call("POST", "/v1/rooms", buyer_token, json={"product_id": product_id})
        assert room.status_code in (200, 201), room.text
        return str(room.json()["id"])

    async def say(self, token: str, room_id: str, text: str) -> dict[str, Any]:
        sent = await self.call("POST", f"/v1/rooms/{room_id}/messages", token, json={"text": text})
        assert sent.status_code == 201, sent.text
        return dict(sent.json())


@contextlib.asynccontextmanager
async def rest(base: str) -> AsyncIterator[Rest]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        yield Rest(c)


# ---- graphql-transport-ws, by hand ----------------------------------------------------------


class Socket:
    """One graphql-transport-ws connection: frames for each operation id, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)

    async def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        return await self._read(5.0)

    async def subscribe(self, op: str, query: str, **variables: Any) -> None:
        payload = {"query": query, "variables": variables}
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))

    async def complete(self, op: str) -> None:
        await self.ws.send(json.dumps({"id": op, "type": "complete"}))

    async def _read(self, wait: float) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), wait))
            if frame["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if frame["type"] == "pong":
                continue
            return dict(frame)

    async def frame(self, op: str, wait: float = 5.0) -> dict[str, Any]:
        """The next frame (`next`, `error`, `complete`) for `op`; TimeoutError past `wait`."""
        async with asyncio.timeout(wait):
            while not self.frames[op]:
                frame = await self._read(wait)
                self.frames[frame.get("id", "")].append(frame)
            return self.frames[op].pop(0)

    async def data(
        self, op: str, field: str, wait: float = 5.0, where: Callable[[Any], bool] | None = None
    ) -> dict[str, Any]:
        """The next `next` payload's `field` for `op` that `where` accepts."""
        async with asyncio.timeout(wait):
            while True:
                frame = await self.frame(op, wait)
                assert frame["type"] == "next", frame
                assert "errors" not in frame["payload"], frame
                value = frame["payload"]["data"][field]
                if where is None or where(value):
                    return dict(value)


@contextlib.asynccontextmanager
async def socket(base: str, token: str | None = None, **init: Any) -> AsyncIterator[Socket]:
    url = base.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL]) as ws:
        assert ws.subprotocol == PROTOCOL
        s = Socket(ws)
        if token is not None or init:
            ack = await s.init(init or {"token": token})
            assert ack["type"] == "connection_ack", ack
        yield s


async def heard(attempt: Callable[[], Awaitable[T]], tries: int = 5) -> T:
    """`attempt` (which makes something happen and waits, with a timeout, to hear of it) again
    until it succeeds: a subscription is listening once it has heard something."""
    for _ in range(tries - 1):
        with contextlib.suppress(TimeoutError):
            return await attempt()
    return await attempt()


async def listening_to_room(s: Socket, ops: list[str], r: Rest, token: str, room: str) -> None:
    """Messages into `room` until every one of `ops` has heard the same one. Each op waits for
    the last message sent and passes over the ones before it, so none is left unread for the
    test's next `data` (an op that heard an earlier attempt's message hears this one too)."""

    async def attempt() -> None:
        sent = await r.say(token, room, "are you there?")
        for op in ops:
            await s.data(op, "roomMessages", 2.0, where=lambda m: m["id"] == sent["id"])

    await heard(attempt)


async def parties(r: Rest) -> dict[str, Any]:
    seller, seller_token, _ = await r.signup("seller")
    buyer, buyer_token, buyer_email = await r.signup("buyer")
    product = await r.listing(seller_token)
    room = await r.room(buyer_token, product)
    return {
        "seller": seller,
        "seller_token": seller_token,
        "buyer": buyer,
        "buyer_token": buyer_token,
        "buyer_email": buyer_email,
        "product": product,
        "room": room,
    }


# ---- the tests --------------------------------------------------------------------------------


async def test_a_message_sent_over_rest_reaches_the_other_partys_subscriptions(
    served: str,
) -> None:
    async with rest(served) as r:
        p = await parties(r)
        async with socket(served, p["seller_token"]) as s:
            # two subscriptions on one socket: both hear every line
            await s.subscribe("one", MESSAGES, room=p["room"])
            await s.subscribe("two", MESSAGES, room=p["room"])
            await listening_to_room(s, ["one", "two"], r, p["buyer_token"], p["room"])
            sent = await r.say(p["buyer_token"], p["room"], "Still available?")
            expected = {
                "id": sent["id"],
                "roomId": p["room"],
                "senderId": p["buyer"]["id"],
                "kind": "text",
                "text": "Still available?",
                "data": None,
                "sentAt": sent["sent_at"],
            }
            assert await s.data("one", "roomMessages") == expected
            assert await s.data("two", "roomMessages") == expected
            # one completed by the client, the other goes on
            await s.complete("one")
            again = await r.say(p["buyer_token"], p["room"], "Hello?")
            assert (await s.data("two", "roomMessages"))["id"] == again["id"]


async def test_a_stranger_is_refused_a_room_and_hears_nothing(served: str) -> None:
    async with rest(served) as r:
        p = await parties(r)
        _, stranger_token, _ = await r.signup("stranger")
        async with socket(served, stranger_token) as s:
            await s.subscribe("peek", MESSAGES, room=p["room"])
            refused = await s.frame("peek")
            assert refused["type"] == "error", refused
            assert refused["payload"][0]["extensions"]["code"] == "NOT_FOUND"
            await s.subscribe("none", MESSAGES, room="no-such-room")
            assert (await s.frame("none"))["type"] == "error"
            # and nothing follows the refusal: the room's lines are not for the stranger
            await r.say(p["buyer_token"], p["room"], "secret")
            with pytest.raises(TimeoutError):
                await s.frame("peek", wait=1.0)


async def test_offers_and_orders_reach_both_subscriptions_on_one_socket(served: str) -> None:
    async with rest(served) as r:
        seller, seller_token, _ = await r.signup("seller")
        buyer, buyer_token, _ = await r.signup("buyer")
        async with socket(served, buyer_token) as s:
            await s.subscribe("offers", OFFERS)
            await s.subscribe("orders", ORDERS)

            async def deal() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
                """A listing, the buyer's offer, the seller's yes: what the buyer hears."""
                product = await r.listing(seller_token)
                made = await r.call(
                    "POST", f"/v1/products/{product}/offers", buyer_token, json={"amount": 8_000}
                )
                assert made.status_code == 201, made.text
                offer_id = made.json()["id"]
                accepted = await r.call("POST", f"/v1/offers/{offer_id}/accept", seller_token)
                assert accepted.status_code == 200, accepted.text
                order_id = accepted.json()["order_id"]
                offer = await s.data(
                    "offers",
                    "offerUpdated",
                    3.0,
                    where=lambda o: o["id"] == offer_id and o["status"] == "accepted",
                )
                order = await s.data(
                    "orders", "orderUpdated", 3.0, where=lambda o: o["id"] == order_id
                )
                return accepted.json(), offer, order

            _, offer, order = await heard(deal)
            assert offer["amount"] == {"amount": 8_000, "currency": "EUR"}
            assert (offer["buyerId"], offer["sellerId"]) == (buyer["id"], seller["id"])
            assert offer["madeBy"] == "BUYER" and offer["orderId"] == order["id"]
            assert order["status"] == "placed" and order["offerId"] == offer["id"]
            assert order["buyer"]["id"] == buyer["id"] and order["seller"]["id"] == seller["id"]
            assert order["amount"] == {"amount": 8_000, "currency": "EUR"}
            # what the buyer may do, as REST tells the buyer
            as_rest = await r.call("GET", f"/v1/orders/{order['id']}", buyer_token)
            assert order["actions"] == as_rest.json()["actions"]
            as_rest = await r.call("GET", f"/v1/offers/{offer['id']}", buyer_token)
            assert offer["actions"] == as_rest.json()["actions"]

            # now both are known to listen: every later move arrives
            product = await r.listing(seller_token)
            made = await r.call(
                "POST", f"/v1/products/{product}/offers", buyer_token, json={"amount": 9_000}
            )
            fresh = await s.data("offers", "offerUpdated")
            assert (fresh["id"], fresh["status"]) == (made.json()["id"], "open")
            assert fresh["amount"]["amount"] == 9_000 and fresh["product"]["id"] == product
            moved = await r.call("POST", f"/v1/orders/{order['id']}/cancel", buyer_token)
            assert moved.status_code == 200, moved.text
            cancelled = await s.data("orders", "orderUpdated")
            assert (cancelled["id"], cancelled["status"]) == (order["id"], "cancelled")


async def test_an_in_app_notification_arrives(served: str) -> None:
    async with rest(served) as r:
        _, seller_token, _ = await r.signup("seller")
        _, buyer_token, _ = await r.signup("buyer")
        async with socket(served, seller_token) as s:
            await s.subscribe("inbox", NOTIFICATIONS)

            async def order() -> dict[str, Any]:
                product = await r.listing(seller_token)
                placed = await r.call(
                    "POST", f"/v1/products/{product}/orders", buyer_token, json={"quantity": 1}
                )
                assert placed.status_code == 201, placed.text
                # the background worker delivers the seller's in-app notification
                return await s.data(
                    "inbox",
                    "notificationCreated",
                    10.0,
                    where=lambda n: n["type"] == "order.placed",
                )

            note = await heard(order, tries=3)
            assert note["kind"] == "order" and note["readAt"] is None
            inbox = (await r.call("GET", "/v1/notifications", seller_token)).json()
            assert note["id"] in {item["id"] for item in inbox["items"]}


async def test_logging_out_closes_the_socket_with_4401_and_only_that_sessions(
    served: str,
) -> None:
    async with rest(served) as r:
        p = await parties(r)
        login = await r.c.post(
            "/v1/auth/login", json={"email": p["buyer_email"], "password": "long enough"}
        )
        assert login.status_code == 200, login.text
        other_token = login.json()["token"]
        async with socket(served, Authorization=f"Bearer {p['buyer_token']}") as s:
            await s.subscribe("room", MESSAGES, room=p["room"])
            await s.subscribe("offers", OFFERS)
            await listening_to_room(s, ["room"], r, p["seller_token"], p["room"])
            # another session of the same account ends: this socket stays (the push saying so
            # comes before the next line, which still arrives)
            assert (await r.call("POST", "/v1/auth/logout", other_token)).status_code == 204
            later = await r.say(p["seller_token"], p["room"], "still here")
            assert (await s.data("room", "roomMessages"))["id"] == later["id"]
            # this one ends: the socket closes as REST's does
            assert (await r.call("POST", "/v1/auth/logout", p["buyer_token"])).status_code == 204
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await s.frame("room", wait=5.0)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "session revoked")


async def test_a_subscription_on_a_revoked_token_closes_the_socket(served: str) -> None:
    """The socket authenticated at `connection_init`; a subscription started after the token
    was revoked closes it too."""
    async with rest(served) as r:
        _, token, _ = await r.signup("late")
        async with socket(served, token) as s:
            assert (await r.call("POST", "/v1/auth/logout", token)).status_code == 204
            await s.subscribe("inbox", NOTIFICATIONS)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await s.frame("inbox")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_bad_token_is_refused_with_4403(served: str) -> None:
    for init in ({"token": "not-a-token"}, {"Authorization": "Bearer nope"}, {}):
        async with socket(served) as s:
            with pytest.raises(ConnectionClosed) as closed:
                await s.init(init)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_an_account_holds_no_more_sockets_than_the_rest_socket_allows(served: str) -> None:
    """The same per-person cap as `/v1/ws` (api/realtime.py SocketCaps): past it, the next
    socket is refused at `connection_init`; closing one makes room again."""
    from api.realtime import SocketCaps

    per_user = SocketCaps().per_user
    async with rest(served) as r:
        _, token, _ = await r.signup("manysockets")
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(socket(served, token)) for _ in range(per_user)]
        async with socket(served) as extra:
            with pytest.raises(ConnectionClosed) as closed:
                await extra.init({"token": token})
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        assert closed.value.rcvd.reason == "too many sockets for this account"
        await held[0].ws.close()
        await held[0].ws.wait_closed()
        for _ in range(50):  # the server lets go of a socket once it has seen it close
            try:
                async with socket(served, token):
                    break
            except (AssertionError, ConnectionClosed):
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("a closed socket's place was never given back")


async def test_a_block_ends_the_room_subscription(served: str) -> None:
    """REST hides a room from both parties once a block stands between them; the subscription
    ends (NOT_FOUND) with the room's next line instead of delivering it."""
    async with rest(served) as r:
        p = await parties(r)
        async with socket(served, p["seller_token"]) as s:
            await s.subscribe("room", MESSAGES, room=p["room"])
            await listening_to_room(s, ["room"], r, p["buyer_token"], p["room"])
            made = await r.call(
                "POST",
                f"/v1/products/{p['product']}/offers",
                p["buyer_token"],
                json={"amount": 8_000},
            )
            assert made.status_code == 201, made.text
            line = await s.data("room", "roomMessages")  # the offer's system line
            assert line["kind"] == "system" and line["senderId"] == "system"
            blocked = await r.call("POST", f"/v1/users/{p['seller']['id']}/block", p["buyer_token"])
            assert blocked.status_code in (200, 201, 204), blocked.text
            room = f"/v1/rooms/{p['room']}/messages"
            assert (await r.call("GET", room, p["seller_token"])).status_code == 404
            # a deal still moves between them, and writes its line in the room
            decline = f"/v1/offers/{made.json()['id']}/decline"
            declined = await r.call("POST", decline, p["seller_token"])
            assert declined.status_code == 200, declined.text
            ended = await s.frame("room")
            assert ended["type"] == "next" and ended["payload"]["data"] is None
            assert ended["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
            assert (await s.frame("room"))["type"] == "complete"


async def test_queries_still_work_over_http_on_the_same_path(served: str) -> None:
    async with rest(served) as r:
        me, token, _ = await r.signup("http")
        got = await r.call("GET", "/graphql", token, params={"query": "{ me { id } }"})
        assert got.status_code == 200, got.text
        assert got.json() == {"data": {"me": {"id": me["id"]}}}
