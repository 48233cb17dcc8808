"""Rooms and messages through the real app: idempotent rooms, members only, unread counts."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from graph.notify import Notifier
from tests.conftest import Api, read
from tests.test_catalog_api import listing


async def deal(api: Api) -> tuple[dict, str, dict, str, dict]:
    seller, seller_token = await api.signup(display_name="Seller")
    product = await listing(api, seller_token)
    buyer, buyer_token = await api.signup(display_name="Buyer")
    return seller, seller_token, buyer, buyer_token, product


async def test_a_room_is_created_once_and_shows_both_sides(api: Api) -> None:
    seller, seller_token, buyer, buyer_token, product = await deal(api)
    first = await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    again = await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    assert (first.status, again.status) == (201, 200)
    assert first.json["id"] == again.json["id"]
    assert first.json["role"] == "buyer"
    assert first.json["other"]["id"] == seller["id"]
    assert first.json["product"]["id"] == product["id"]
    seller_rooms = await api.call("get", "/v1/rooms?role=seller", seller_token)
    assert [r["id"] for r in seller_rooms.json["items"]] == [first.json["id"]]
    assert seller_rooms.json["items"][0]["other"]["id"] == buyer["id"]
    assert (await api.call("get", "/v1/rooms?role=buyer", seller_token)).json["items"] == []


async def test_concurrent_room_opens_make_one_room(api: Api, services) -> None:
    _, _, _, buyer_token, product = await deal(api)
    responses = await asyncio.gather(
        *(
            api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
            for _ in range(12)
        )
    )
    assert {r.json["id"] for r in responses} == {responses[0].json["id"]}
    assert sorted(r.status for r in responses) == [200] * 11 + [201]
    rooms = await read(services, "MATCH (r:Room) RETURN count(r) AS n")
    members = await read(services, "MATCH (:User)-[m:MEMBER]->(:Room) RETURN count(m) AS n")
    assert (rooms[0]["n"], members[0]["n"]) == (1, 2)


async def test_no_room_on_your_own_listing_an_unknown_one_or_across_a_block(api: Api) -> None:
    seller, seller_token, _, buyer_token, product = await deal(api)
    own = await api.call("post", "/v1/rooms", seller_token, json={"product_id": product["id"]})
    assert own.status == 422
    unknown = await api.call("post", "/v1/rooms", buyer_token, json={"product_id": "nope"})
    assert unknown.status == 404
    await api.call("post", f"/v1/users/{seller['id']}/block", buyer_token)
    blocked = await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    assert blocked.status == 404


async def test_messages_unread_counts_and_read_marks(api: Api) -> None:
    _, seller_token, _, buyer_token, product = await deal(api)
    room = (
        await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    ).json
    url = f"/v1/rooms/{room['id']}/messages"
    for text in ("Is it still available?", "Could I pick it up tomorrow?"):
        sent = await api.call("post", url, buyer_token, json={"text": text})
        assert sent.status == 201
        assert sent.json["text"] == text
    inbox = (await api.call("get", "/v1/rooms", seller_token)).json["items"][0]
    assert inbox["unread"] == 2
    assert inbox["last_message"]["text"] == "Could I pick it up tomorrow?"
    assert (await api.call("get", "/v1/rooms", buyer_token)).json["items"][0]["unread"] == 0
    assert (await api.call("post", f"/v1/rooms/{room['id']}/read", seller_token)).status == 204
    assert (await api.call("get", "/v1/rooms", seller_token)).json["items"][0]["unread"] == 0
    await api.call("post", url, seller_token, json={"text": "Yes, after six"})
    assert (await api.call("get", "/v1/rooms", buyer_token)).json["items"][0]["unread"] == 1


async def test_message_history_pages_newest_first(api: Api) -> None:
    _, _, _, buyer_token, product = await deal(api)
    room = (
        await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    ).json
    url = f"/v1/rooms/{room['id']}/messages"
    for n in range(7):
        await api.call("post", url, buyer_token, json={"text": f"message {n}"})
    seen, next_url = [], url + "?limit=3"
    while next_url:
        page = (await api.call("get", next_url, buyer_token)).json
        seen += [m["text"] for m in page["items"]]
        next_url = f"{url}?limit=3&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == [f"message {n}" for n in reversed(range(7))]


async def test_a_third_user_sees_nothing_of_the_room(api: Api) -> None:
    _, _, _, buyer_token, product = await deal(api)
    room = (
        await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    ).json
    await api.call("post", f"/v1/rooms/{room['id']}/messages", buyer_token, json={"text": "hi"})
    _, stranger = await api.signup(display_name="Stranger")
    base = f"/v1/rooms/{room['id']}"
    assert (await api.call("get", base + "/messages", stranger)).status == 404
    assert (await api.call("post", base + "/messages", stranger, json={"text": "x"})).status == 404
    assert (await api.call("post", base + "/read", stranger)).status == 404
    assert (await api.call("get", "/v1/rooms", stranger)).json["items"] == []
    assert (await api.call("get", base + "/messages")).status == 401


async def test_bad_messages_are_422_and_not_stored(api: Api, services) -> None:
    _, _, _, buyer_token, product = await deal(api)
    room = (
        await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    ).json
    url = f"/v1/rooms/{room['id']}/messages"
    for body in (
        {"text": ""},
        {"text": "   "},
        {"text": "x" * 2001},
        {"text": "a\x00b"},
        {"text": 5},
        {"body": "wrong field"},
    ):
        assert (await api.call("post", url, buyer_token, json=body)).status == 422, body
    assert (await read(services, "MATCH (m:Message) RETURN count(m) AS n"))[0]["n"] == 0


async def test_blocking_stops_messages_both_ways(api: Api) -> None:
    seller, seller_token, _, buyer_token, product = await deal(api)
    room = (
        await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    ).json
    url = f"/v1/rooms/{room['id']}/messages"
    await api.call("post", f"/v1/users/{seller['id']}/block", buyer_token)
    assert (await api.call("post", url, buyer_token, json={"text": "hello?"})).status == 404
    assert (await api.call("post", url, seller_token, json={"text": "hello?"})).status == 404
    assert (await api.call("get", "/v1/rooms", seller_token)).json["items"] == []


async def test_a_send_succeeds_and_is_kept_when_pubsub_is_down(api: Api, services) -> None:
    _, seller_token, _, buyer_token, product = await deal(api)
    room = (
        await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    ).json
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    services.notifier = Notifier(dead, services.settings.redis_prefix)
    try:
        sent = await api.call(
            "post",
            f"/v1/rooms/{room['id']}/messages",
            buyer_token,
            json={"text": "still delivered"},
        )
        assert sent.status == 201
    finally:
        await dead.aclose()
    history = await api.call("get", f"/v1/rooms/{room['id']}/messages", seller_token)
    assert [m["text"] for m in history.json["items"]] == ["still delivered"]
    assert (await api.call("get", "/v1/rooms", seller_token)).json["items"][0]["unread"] == 1
