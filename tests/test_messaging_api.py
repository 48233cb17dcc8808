"""Rooms and messages through the real app: idempotent rooms, members only, unread counts."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from graph.eventlog import differences, dump, export, replay
from graph.infra.errors import NotFound
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


async def test_messages_sent_at_once_are_written_together_each_answered_on_its_own(
    api: Api, services
) -> None:
    """Group commit: messages a worker is asked to send while it writes are written together
    (one statement, so one time), at most one per room, the room's next in the write after;
    each caller gets its own message or its own 404; the log holds messaging.send's Event for
    each, and replays to the same graph."""
    seller, seller_token, buyer, buyer_token, product = await deal(api)
    other_product = await listing(api, seller_token)
    stranger, _ = await api.signup(display_name="Stranger")
    room, other_room = [
        (await api.call("post", "/v1/rooms", buyer_token, json={"product_id": p["id"]})).json["id"]
        for p in (product, other_product)
    ]
    send = services.messaging.send
    one, two, three, intruder, lost = await asyncio.gather(
        send(buyer["id"], room, "one"),
        send(buyer["id"], other_room, "two"),
        send(seller["id"], room, "three"),  # the same room: the write after
        send(stranger["id"], room, "not a member"),
        send(buyer["id"], "no-such-room", "lost"),
        return_exceptions=True,
    )
    assert [r["body"] for r in (one, two, three)] == ["one", "two", "three"]
    assert isinstance(intruder, NotFound) and isinstance(lost, NotFound)
    assert one["sent_at"] == two["sent_at"]  # one statement
    assert one["id"] < three["id"] and one["recipient_id"] == seller["id"]
    assert three["recipient_id"] == buyer["id"]

    history = await api.call("get", f"/v1/rooms/{room}/messages", buyer_token)
    assert [m["text"] for m in history.json["items"]] == ["three", "one"]
    unread = {}
    for token in (buyer_token, seller_token):
        rooms = (await api.call("get", "/v1/rooms", token)).json["items"]
        unread[token] = {r["id"]: r["unread"] for r in rooms}
    assert unread == {buyer_token: {room: 1, other_room: 0}, seller_token: {room: 0, other_room: 1}}

    log = [e async for e in export.events(services.store, 0, ["message.sent"])]
    assert sorted((e["via"], e["data"]["id"], e["data"]["body"]) for e in log) == sorted(
        ("messaging.send", m["id"], m["body"]) for m in (one, two, three)
    )
    before = await dump(services.store)
    everything = [e async for e in export.events(services.store, 0, None)]
    await services.store.drop_all()
    await services.store.ensure_schema()
    done = await replay(services.store, _each(everything))
    assert done.diverged == [], done.summary()
    assert differences(before, await dump(services.store)) == []


async def _each(rows: list[dict]):  # type: ignore[no-untyped-def]
    for row in rows:
        yield row
