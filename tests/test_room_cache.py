"""Pages of a room's messages held per worker for a few seconds, changes pushed
(graph.accounts.tokens, `RoomPages`).

Two real `vendr serve` processes on one graph and one Redis: B answers a member's
`GET /v1/rooms/{id}/messages` from its memory (shown by a change written to the graph behind
the app's back, which its answer does not show), and after a change through A, or from a third
process (the moderators', a command line's), B answers it on the very next request: no retry,
no wait. The changes: a message sent (one, or several rooms' at once: the group commit), a
message a moderator hides, a deal's line (an offer, an order, a cart's checkout, an order moved
by another process), a block, the other member suspended, reinstated or deleted. A refusal is
never held. The cache alone: its keys, the pushes that forget a page, no fill across a push
naming it, trusted only while subscribed, bounded."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.routes import rooms_models
from graph.accounts.tokens import NAMED, PAGE_MAX_BYTES, RETRY_S, ProfileCache, RoomPages
from graph.bootstrap import Services
from tests.conftest import (
    BACKENDS,
    Api,
    png_bytes,
    read,
)
from tests.test_profile_cache import Person, signup
from tests.test_token_cache import PASSWORD, Nodes, bearer, third, two_nodes, until

# ---- the cache alone ------------------------------------------------------------------------


def trusted_pages(seconds: float = 5.0, size: int = 10) -> RoomPages:
    cache = RoomPages(seconds, size)
    cache.reset(trusted=True)
    return cache


def hold(cache: RoomPages, room: str, reader: str, other: str, cursor: str | None = None) -> str:
    key = cache.key(room, reader, cursor, 20)
    cache.put(key, f"{room}:{reader}".encode(), room, [reader, other], cache.generation)
    return key


def test_a_page_is_one_reader_s_at_one_cursor_and_limit() -> None:
    keys = {
        RoomPages.key("r1", "u1", None, 20),
        RoomPages.key("r1", "u2", None, 20),
        RoomPages.key("r1", "u1", "abc", 20),
        RoomPages.key("r1", "u1", None, 21),
        RoomPages.key("r2", "u1", None, 20),
    }
    assert len(keys) == 5
    assert RoomPages.key("r1", "u1", None, 20) == RoomPages.key("r1", "u1", "", 20)


def test_a_page_is_owned_by_its_room_and_by_both_members() -> None:
    assert RoomPages.owners("r1", ["u2", "u1", "u1"]) == ("r:r1", "u:u1", "m:u1", "u:u2", "m:u2")


def test_a_room_s_push_forgets_every_page_of_it_and_no_other() -> None:
    cache = trusted_pages()
    buyer = hold(cache, "r1", "u1", "u2")
    seller = hold(cache, "r1", "u2", "u1")
    older = hold(cache, "r1", "u1", "u2", cursor="abc")
    elsewhere = hold(cache, "r2", "u1", "u3")
    cache.forget(b"r:r1")
    assert [cache.get(k) for k in (buyer, seller, older)] == [None, None, None]
    assert cache.get(elsewhere) == b"r2:u1"


@pytest.mark.parametrize("push", ["u", "m"])
def test_a_member_s_push_forgets_every_page_of_their_rooms_whoever_reads_it(push: str) -> None:
    cache = trusted_pages()
    mine = hold(cache, "r1", "u1", "u2")  # u2 is the other member of the room u1 reads
    theirs = hold(cache, "r1", "u2", "u1")
    apart = hold(cache, "r2", "u1", "u3")
    cache.forget(f"{push}:u2")
    assert cache.get(mine) is None and cache.get(theirs) is None
    assert cache.get(apart) == b"r2:u1"


def test_pages_ignore_logouts_and_profiles_and_drop_everything_on_unknown_pushes() -> None:
    cache = trusted_pages()
    key = hold(cache, "r1", "u1", "u2")
    begun = cache.generation
    cache.forget(b"s:u1")
    cache.forget(b"p:u2")
    assert cache.get(key) == b"r1:u1" and cache.generation == begun
    cache.forget(b"everything, please")
    assert len(cache) == 0


def test_a_read_in_flight_across_a_push_naming_its_page_is_not_kept() -> None:
    for push in ("r:r1", "u:u2", "m:u1", "anything else"):
        cache = trusted_pages()
        begun = cache.generation
        cache.forget(push)  # arrives while the read is in flight
        cache.put(cache.key("r1", "u1", None, 20), b"old", "r1", ["u1", "u2"], begun)
        assert len(cache) == 0, push


def test_a_read_in_flight_across_other_rooms_pushes_is_kept() -> None:
    """Pushes come with every message sent anywhere: only those naming the page refuse it."""
    cache = trusted_pages()
    begun = cache.generation
    for n in range(50):
        cache.forget(f"r:other{n}")
        cache.forget(f"u:someone{n}")
    key = cache.key("r1", "u1", None, 20)
    cache.put(key, b"page", "r1", ["u1", "u2"], begun)
    assert cache.get(key) == b"page"


def test_past_the_pushes_it_remembers_a_read_begun_before_them_is_not_kept() -> None:
    cache = trusted_pages()
    begun = cache.generation
    cache.forget(b"r:r1")
    for n in range(NAMED):  # r:r1 is forgotten: the read cannot be told apart from it
        cache.forget(f"r:other{n}")
    cache.put(cache.key("r1", "u1", None, 20), b"old", "r1", ["u1", "u2"], begun)
    assert len(cache) == 0
    begun = cache.generation  # one begun after them is kept
    hold(cache, "r1", "u1", "u2")
    assert len(cache) == 1 and begun == cache.generation


def test_tokens_and_profiles_are_not_moved_by_rooms_pushes() -> None:
    profiles = ProfileCache(5.0, 10)
    profiles.reset(trusted=True)
    begun = profiles.generation
    profiles.forget(b"r:r1")
    profiles.forget(b"m:u1")
    profiles.put("u1", b"{}", begun)
    assert profiles.get("u1") == b"{}"


def test_pages_are_held_only_while_trusted_and_never_past_their_seconds() -> None:
    cache = RoomPages(0.1, 10)
    assert hold(cache, "r1", "u1", "u2") and len(cache) == 0  # no subscription: nothing held
    cache.reset(trusted=True)
    key = hold(cache, "r1", "u1", "u2")
    assert cache.get(key) == b"r1:u1"
    time.sleep(0.12)
    assert cache.get(key) is None and len(cache) == 0
    hold(cache, "r1", "u1", "u2")
    cache.reset(trusted=False)
    assert len(cache) == 0 and cache.get(key) is None


def test_the_least_recently_read_page_goes_first_and_its_pushes_with_it() -> None:
    cache = trusted_pages(size=2)
    first = hold(cache, "r1", "u1", "u2")
    second = hold(cache, "r2", "u1", "u3")
    assert cache.get(first) is not None  # r2's page is now the least recently read
    third_page = hold(cache, "r3", "u4", "u5")
    assert cache.get(second) is None and cache.get(first) and cache.get(third_page)
    cache.forget(b"m:u3")  # owned nothing any more: nothing else goes
    assert len(cache) == 2
    cache.forget(b"u:u1")
    assert cache.get(first) is None and cache.get(third_page) is not None


def test_a_page_too_large_is_not_held_and_zero_seconds_is_off() -> None:
    cache = trusted_pages()
    key = cache.key("r1", "u1", None, 100)
    cache.put(key, b"x" * (PAGE_MAX_BYTES + 1), "r1", ["u1", "u2"], cache.generation)
    assert cache.get(key) is None
    off = RoomPages(0.0, 10)
    off.reset(trusted=True)
    hold(off, "r1", "u1", "u2")
    assert not off.enabled and len(off) == 0


# ---- in the app: the same subscription as the tokens' ------------------------------------


async def room_of(api: Api, seller: str, buyer: str) -> str:
    image = await api.call(
        "post", "/v1/images", seller, files={"image": ("p.png", png_bytes(), "image/png")}
    )
    product = await api.call(
        "post", "/v1/products", seller, json=LISTING | {"image_ids": [image.json["id"]]}
    )
    assert product.status == 201, product.text
    room = await api.call("post", "/v1/rooms", buyer, json={"product_id": product.json["id"]})
    assert room.status == 201, room.text
    return str(room.json["id"])


async def test_a_broken_subscription_empties_the_pages_until_it_is_back(
    api: Api, services: Services
) -> None:
    pages = services.sessions.rooms
    await api.start()
    await until(pages.trusted, 5)
    _, seller = await api.signup(display_name="Seller")
    _, buyer = await api.signup(display_name="Buyer")
    room = await room_of(api, seller, buyer)
    url = f"/v1/rooms/{room}/messages"
    assert (await api.call("post", url, buyer, json={"text": "Hello"})).status == 201
    first = await api.call("get", url, buyer)
    assert first.status == 200 and len(pages) == 1
    assert await services.redis.client_kill_filter(_type="pubsub") >= 1
    await until(lambda: not pages.trusted(), 1)
    assert len(pages) == 0
    # changed behind the app's back while nobody listened: the graph answers
    await services.store.run_text(
        "MATCH (m:Message)-[:IN]->(:Room {id: $id}) SET m.body = 'quiet'", {"id": room}, write=True
    )
    assert (await api.call("get", url, buyer)).json["items"][0]["text"] == "quiet"
    await until(pages.trusted, RETRY_S + 5)


# ---- two processes: changes pushed ---------------------------------------------------------

LISTING: dict[str, Any] = {
    "title": "Oak dining table",
    "description": "Solid oak, seats six",
    "price": {"amount": 12_500, "currency": "EUR"},
    "condition": "used",
    "location": {"lat": 52.37, "lon": 4.89},
    "tags": ["furniture"],
}


@pytest.fixture(scope="module", params=BACKENDS)
def nodes(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Nodes]:
    """Two `vendr serve` (one HTTP worker each) on one graph and key prefix: A and B. Pages are
    held 30 s: an answer that is not pushed away stays wrong well past the test."""
    with two_nodes(request, data_dir, "rooms", VENDR_ROOM_CACHE_SECONDS="30") as pair:
        yield pair


@dataclass
class Room:
    id: str
    product_id: str
    seller: Person
    buyer: Person


async def listed(http: httpx.AsyncClient, base: str, seller: Person) -> str:
    image = await http.post(
        f"{base}/v1/images",
        headers=bearer(seller.token),
        files={"image": ("p.png", png_bytes(), "image/png")},
    )
    assert image.status_code == 201, image.text
    body = LISTING | {"image_ids": [image.json()["id"]]}
    product = await http.post(f"{base}/v1/products", headers=bearer(seller.token), json=body)
    assert product.status_code == 201, product.text
    return str(product.json()["id"])


async def opened(http: httpx.AsyncClient, base: str, seller: Person, buyer: Person) -> Room:
    """A room about a new listing of `seller`'s, with a line from each."""
    product_id = await listed(http, base, seller)
    room = await http.post(
        f"{base}/v1/rooms", headers=bearer(buyer.token), json={"product_id": product_id}
    )
    assert room.status_code == 201, room.text
    opened = Room(room.json()["id"], product_id, seller, buyer)
    await send(http, base, opened, buyer, "Is it still available?")
    await send(http, base, opened, seller, "It is")
    return opened


async def parties(http: httpx.AsyncClient, nodes: Nodes) -> Room:
    seller = await signup(http, nodes.a, display_name="Seller")
    buyer = await signup(http, nodes.a, display_name="Buyer")
    return await opened(http, nodes.a, seller, buyer)


async def send(http: httpx.AsyncClient, base: str, room: Room, who: Person, text: str) -> None:
    response = await http.post(
        f"{base}/v1/rooms/{room.id}/messages", headers=bearer(who.token), json={"text": text}
    )
    assert response.status_code == 201, response.text


async def answer(http: httpx.AsyncClient, base: str, room: Room) -> httpx.Response:
    """The buyer's first page of the room."""
    return await http.get(f"{base}/v1/rooms/{room.id}/messages", headers=bearer(room.buyer.token))


async def page(http: httpx.AsyncClient, base: str, room: Room) -> dict[str, Any]:
    response = await answer(http, base, room)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def truth(services: Services, room: Room) -> dict[str, Any]:
    """The page as the graph has it now (this process holds nothing: it follows no pushes)."""
    rows = await services.messaging.messages(room.buyer.id, room.id, None, 21)
    assert len(rows) <= 20
    return {"items": [rooms_models.message(r) for r in rows], "next_cursor": None}


async def behind_the_back(services: Services, room: Room) -> str:
    """Every text line of the room rewritten in the graph, no push: what a worker holds no
    longer shows it."""
    text = f"behind the app's back {uuid.uuid4().hex[:8]}"
    await services.store.run_text(
        "MATCH (m:Message)-[:IN]->(:Room {id: $id}) WHERE m.kind = 'text' SET m.body = $text",
        {"id": room.id, "text": text},
        write=True,
    )
    return text


async def held(http: httpx.AsyncClient, base: str, room: Room, services: Services) -> None:
    """The worker at `base` answers the buyer's page from its memory. Its subscription may come
    up just after it answers its first request (until then every answer is read from the
    graph): tried again for a few seconds. Leaves the graph ahead of what the worker holds."""
    deadline = time.monotonic() + 10
    while True:
        before = await page(http, base, room)
        text = await behind_the_back(services, room)
        after = await page(http, base, room)
        if after == before:
            return
        assert after["items"][0]["text"] == text
        assert time.monotonic() < deadline, "the page was read from the graph every time"
        await asyncio.sleep(0.05)


async def sent(http: httpx.AsyncClient, nodes: Nodes, _: Services, room: Room) -> None:
    await send(http, nodes.a, room, room.seller, "After six, then")


async def hidden(http: httpx.AsyncClient, nodes: Nodes, services: Services, room: Room) -> None:
    """The buyer reports the seller's line; a moderator (a third process) hides it."""
    rows = await services.messaging.messages(room.buyer.id, room.id, None, 20)
    line = next(r["id"] for r in rows if r["sender_id"] == room.seller.id)
    filed = await http.post(
        f"{nodes.a}/v1/reports",
        headers=bearer(room.buyer.token),
        json={"target": "message", "id": line, "reason": "harassment"},
    )
    assert filed.status_code == 201, filed.text
    await services.moderation.resolve(filed.json()["id"], "hide", "mod_r1", "rude")


async def offered(http: httpx.AsyncClient, nodes: Nodes, _: Services, room: Room) -> None:
    response = await http.post(
        f"{nodes.a}/v1/products/{room.product_id}/offers",
        headers=bearer(room.buyer.token),
        json={"amount": 10_000, "message": "Would you take 100?"},
    )
    assert response.status_code == 201, response.text


async def ordered(http: httpx.AsyncClient, nodes: Nodes, _: Services, room: Room) -> None:
    response = await http.post(
        f"{nodes.a}/v1/products/{room.product_id}/orders",
        headers=bearer(room.buyer.token),
        json={"quantity": 1},
    )
    assert response.status_code == 201, response.text


async def checked_out(http: httpx.AsyncClient, nodes: Nodes, _: Services, room: Room) -> None:
    headers = bearer(room.buyer.token)
    put = await http.put(
        f"{nodes.a}/v1/cart/items/{room.product_id}", headers=headers, json={"quantity": 1}
    )
    assert put.status_code in (200, 204), put.text
    response = await http.post(f"{nodes.a}/v1/cart/checkout", headers=headers)
    assert response.status_code in (200, 201), response.text


async def confirmed_elsewhere(
    http: httpx.AsyncClient, nodes: Nodes, services: Services, room: Room
) -> None:
    """An order placed through B before the page is held; confirmed by the seller through
    another process (as GraphQL's, a timer's or a webhook's would be)."""
    rows = await read(services, "MATCH (o:Order {room_id: $id}) RETURN o.id AS id", id=room.id)
    await services.orders.act(room.seller.id, rows[0]["id"], "confirm")


async def deleted(http: httpx.AsyncClient, nodes: Nodes, _: Services, room: Room) -> None:
    response = await http.request(
        "DELETE",
        f"{nodes.a}/v1/users/me",
        headers=bearer(room.seller.token),
        json={"password": PASSWORD},
    )
    assert response.status_code == 204, response.text


Change = Callable[[httpx.AsyncClient, Nodes, Services, Room], Awaitable[None]]
CHANGES: dict[str, Change] = {
    "a message sent": sent,
    "a message hidden by a moderator": hidden,
    "an offer made": offered,
    "an order placed": ordered,
    "a cart checked out": checked_out,
    "an order confirmed by another process": confirmed_elsewhere,
    "the other member deleted": deleted,
}


@pytest.mark.parametrize("kind", list(CHANGES))
async def test_a_change_through_one_process_is_read_at_once_from_the_other(
    nodes: Nodes, kind: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        room = await parties(http, nodes)
        if kind == "an order confirmed by another process":
            await ordered(http, Nodes(nodes.b, nodes.a, nodes.graph), services, room)
        await held(http, nodes.b, room, services)
        stale = await page(http, nodes.b, room)
        await CHANGES[kind](http, nodes, services, room)
        now = await truth(services, room)
        assert now != stale
        assert await page(http, nodes.b, room) == now  # the next request, no retry
        assert await page(http, nodes.a, room) == now


async def test_a_message_sent_through_the_same_process_is_read_at_once(nodes: Nodes) -> None:
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        room = await parties(http, nodes)
        await held(http, nodes.b, room, services)
        await send(http, nodes.b, room, room.seller, "Said through B")
        assert await page(http, nodes.b, room) == await truth(services, room)


async def test_messages_sent_together_to_several_rooms_are_each_read_at_once(
    nodes: Nodes,
) -> None:
    """Sends that arrive together are written together (graph.messaging.sends): one push per
    room of the batch, each room's pages forgotten."""
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        seller = await signup(http, nodes.a, display_name="Seller")
        buyer = await signup(http, nodes.a, display_name="Buyer")
        rooms = [await opened(http, nodes.a, seller, buyer) for _ in range(4)]
        for room in rooms:
            await held(http, nodes.b, room, services)
        await asyncio.gather(
            *(send(http, nodes.a, room, seller, f"Reply {n}") for n, room in enumerate(rooms))
        )
        for room in rooms:
            assert await page(http, nodes.b, room) == await truth(services, room)


async def blocked(http: httpx.AsyncClient, nodes: Nodes, _: Services, room: Room) -> None:
    response = await http.post(
        f"{nodes.a}/v1/users/{room.buyer.id}/block", headers=bearer(room.seller.token)
    )
    assert response.status_code == 204, response.text


async def suspended(http: httpx.AsyncClient, nodes: Nodes, services: Services, room: Room) -> None:
    reporter = await signup(http, nodes.a)
    filed = await http.post(
        f"{nodes.a}/v1/reports",
        headers=bearer(reporter.token),
        json={"target": "user", "id": room.seller.id, "reason": "scam"},
    )
    assert filed.status_code == 201, filed.text
    await services.moderation.resolve(filed.json()["id"], "suspend", "mod_r2", "scam")


HIDINGS: dict[str, Change] = {"a block": blocked, "the other member suspended": suspended}


@pytest.mark.parametrize("kind", list(HIDINGS))
async def test_a_room_hidden_from_its_member_is_refused_at_once(nodes: Nodes, kind: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        room = await parties(http, nodes)
        await held(http, nodes.b, room, services)
        await HIDINGS[kind](http, nodes, services, room)
        assert (await answer(http, nodes.b, room)).status_code == 404


async def test_a_reinstated_member_s_room_shows_again(nodes: Nodes) -> None:
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        room = await parties(http, nodes)
        await held(http, nodes.b, room, services)
        await suspended(http, nodes, services, room)
        assert (await answer(http, nodes.b, room)).status_code == 404
        await services.moderation.reinstate(room.seller.id, "mod_r3", "appeal upheld")
        assert await page(http, nodes.b, room) == await truth(services, room)


async def test_a_refusal_is_never_held(nodes: Nodes) -> None:
    """A room hidden behind the app's back (a block written without a push) is refused; shown
    again the same way, it is answered on the next request: the refusal was not kept."""
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        room = await parties(http, nodes)
        ids = {"a": room.seller.id, "b": room.buyer.id}
        await services.store.run_text(
            "MATCH (a:User {id: $a}), (b:User {id: $b}) CREATE (a)-[:BLOCKED {at: 0}]->(b)",
            ids,
            write=True,
        )
        for _ in range(3):
            assert (await answer(http, nodes.b, room)).status_code == 404
        await services.store.run_text(
            "MATCH (:User {id: $a})-[x:BLOCKED]->(:User {id: $b}) DELETE x", ids, write=True
        )
        assert await page(http, nodes.b, room) == await truth(services, room)
        stranger = await signup(http, nodes.a)
        for _ in range(2):
            refused = await http.get(
                f"{nodes.b}/v1/rooms/{room.id}/messages", headers=bearer(stranger.token)
            )
            assert refused.status_code == 404
