"""Offers and orders through the real app and a real embedded FalkorDB: a whole negotiation,
every refused move, stock that never oversells, and what the graph holds after each."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conftest import Api, read
from tests.test_catalog_api import listing


async def parties(api: Api, **product: Any) -> tuple[str, str, str, dict[str, Any]]:
    """A shop (seller), a buyer, a stranger and the shop's listing."""
    _, seller = await api.signup(display_name="Shop", kind="business", shop_name="Velo")
    _, buyer = await api.signup(display_name="Buyer")
    _, stranger = await api.signup(display_name="Stranger")
    return seller, buyer, stranger, await listing(api, seller, **product)


async def offer(api: Api, token: str, product_id: str, amount: int, **kw: Any) -> Any:
    return await api.call(
        "post", f"/v1/products/{product_id}/offers", token, json={"amount": amount, **kw}
    )


async def order(api: Api, token: str, product_id: str, quantity: int = 1) -> Any:
    return await api.call(
        "post", f"/v1/products/{product_id}/orders", token, json={"quantity": quantity}
    )


async def stock(api: Api, product_id: str, token: str) -> tuple[int, str]:
    product = (await api.call("get", f"/v1/products/{product_id}", token)).json
    return product["quantity"], product["status"]


async def test_a_whole_negotiation_ends_in_a_completed_order(api: Api, services) -> None:
    seller, buyer, _, product = await parties(api)
    pid = product["id"]
    first = await offer(api, buyer, pid, 9_000, message="Would you take 90?")
    assert first.status == 201, first.text
    assert first.json["status"] == "open" and first.json["made_by"] == "buyer"
    assert first.json["actions"] == ["withdraw"]  # the buyer waits for the seller
    seller_view = (await api.call("get", f"/v1/offers/{first.json['id']}", seller)).json
    assert seller_view["actions"] == ["accept", "counter", "decline"]

    countered = await api.call(
        "post", f"/v1/offers/{first.json['id']}/counter", seller, json={"amount": 11_500}
    )
    assert countered.status == 200, countered.text
    assert countered.json["made_by"] == "seller" and countered.json["round"] == 2
    back = await api.call(
        "post", f"/v1/offers/{countered.json['id']}/counter", buyer, json={"amount": 10_500}
    )
    assert back.json["round"] == 3
    accepted = await api.call("post", f"/v1/offers/{back.json['id']}/accept", seller)
    assert accepted.status == 200, accepted.text
    assert accepted.json["status"] == "accepted" and accepted.json["order_id"]

    thread = (await api.call("get", f"/v1/offers/{back.json['id']}", buyer)).json["thread"]
    assert [(s["amount"]["amount"], s["status"]) for s in thread] == [
        (9_000, "countered"),
        (11_500, "countered"),
        (10_500, "accepted"),
    ]
    order_id = accepted.json["order_id"]
    placed = (await api.call("get", f"/v1/orders/{order_id}", buyer)).json
    assert placed["status"] == "placed"
    assert placed["amount"] == {"amount": 10_500, "currency": "EUR"}  # the agreed price
    assert placed["offer_id"] == back.json["id"]
    assert await stock(api, pid, seller) == (0, "reserved")

    confirmed = await api.call("post", f"/v1/orders/{order_id}/confirm", seller)
    assert confirmed.json["status"] == "confirmed"
    assert confirmed.json["due"]["event"] == "auto_complete"
    done = await api.call("post", f"/v1/orders/{order_id}/complete", buyer)
    assert done.status == 200 and done.json["status"] == "completed"
    assert (await stock(api, pid, seller))[1] == "sold"

    room = (await api.call("get", f"/v1/rooms/{placed['room_id']}/messages", buyer)).json
    lines = [m["text"] for m in reversed(room["items"])]
    assert lines[0] == "Would you take 90?"
    assert [m["data"]["event"] for m in reversed(room["items"]) if m["kind"] == "system"] == [
        "offer.made",
        "offer.countered",
        "offer.countered",
        "offer.accepted",
        "order.confirmed",
        "order.completed",
    ]
    events = await read(
        services,
        "MATCH (e:Event) WHERE e.type STARTS WITH 'offer.' OR e.type STARTS WITH 'order.' "
        "RETURN e.type AS type ORDER BY e.id",
    )
    assert [e["type"] for e in events] == [
        "offer.made",
        "offer.countered",
        "offer.countered",
        "offer.accepted",
        "order.placed",
        "order.confirmed",
        "order.completed",
    ]
    counters = await read(services, "MATCH (:Offer)-[c:COUNTERS]->(:Offer) RETURN count(c) AS n")
    assert counters[0]["n"] == 2


async def test_bad_offers_are_refused_and_write_nothing(api: Api, services) -> None:
    seller, buyer, _, product = await parties(api)
    pid = product["id"]
    for body in (
        {"amount": 0},
        {"amount": -5},
        {"amount": 12_501},  # over the asking price
        {"amount": 100, "currency": "USD"},
        {"amount": "100"},
        {"amount": 100, "quantity": 0},
        {"amount": 100, "message": "x\x00y"},
    ):
        response = await api.call("post", f"/v1/products/{pid}/offers", buyer, json=body)
        assert response.status == 422, (body, response.text)
    assert (await offer(api, seller, pid, 100)).status == 422  # your own listing
    assert (await offer(api, buyer, "no-such-listing", 100)).status == 404
    assert (await read(services, "MATCH (o:Offer) RETURN count(o) AS n"))[0]["n"] == 0
    assert (await read(services, "MATCH (r:Room) RETURN count(r) AS n"))[0]["n"] == 0


async def test_one_open_negotiation_per_buyer_and_listing(api: Api, services) -> None:
    _, buyer, _, product = await parties(api)
    results = await asyncio.gather(*(offer(api, buyer, product["id"], 5_000) for _ in range(8)))
    assert sorted(r.status for r in results) == [201] + [409] * 7
    refused = next(r for r in results if r.status == 409)
    assert refused.json["offer_id"] == next(r for r in results if r.status == 201).json["id"]
    assert (await read(services, "MATCH (o:Offer) RETURN count(o) AS n"))[0]["n"] == 1


async def test_out_of_turn_closed_and_stranger_moves_are_refused(api: Api) -> None:
    seller, buyer, stranger, product = await parties(api)
    made = (await offer(api, buyer, product["id"], 8_000)).json
    url = f"/v1/offers/{made['id']}"
    own_turn = await api.call("post", url + "/accept", buyer)
    assert own_turn.status == 409 and own_turn.json["state"] == "open"
    assert "other party's turn" in own_turn.json["detail"]
    assert (await api.call("post", url + "/withdraw", seller)).status == 409  # buyers withdraw
    for action in ("accept", "decline", "withdraw"):
        assert (await api.call("post", f"{url}/{action}", stranger)).status == 404
    assert (await api.call("get", url, stranger)).status == 404
    assert (await api.call("get", url)).status == 401
    assert (await api.call("post", url + "/decline", seller)).json["status"] == "declined"
    again = await api.call("post", url + "/accept", seller)
    assert again.status == 409 and again.json["state"] == "declined"
    # a new negotiation may start once the last one ended
    assert (await offer(api, buyer, product["id"], 8_500)).status == 201


async def test_a_blocked_buyer_cannot_offer_or_order(api: Api) -> None:
    _, buyer, _, product = await parties(api)
    seller_id = product["seller"]["id"]
    await api.call("post", f"/v1/users/{seller_id}/block", buyer)
    assert (await offer(api, buyer, product["id"], 100)).status == 404
    assert (await order(api, buyer, product["id"])).status == 404


async def test_orders_lifecycle_refusals(api: Api) -> None:
    seller, buyer, stranger, product = await parties(api, quantity=4)
    pid = product["id"]
    too_many = await order(api, buyer, pid, 5)
    assert too_many.status == 409 and too_many.json["available"] == 4
    placed = await order(api, buyer, pid, 3)
    assert placed.status == 201, placed.text
    assert placed.json["amount"] == {"amount": 37_500, "currency": "EUR"}
    assert placed.json["actions"] == ["cancel"]
    oid = placed.json["id"]
    assert await stock(api, pid, seller) == (1, "active")
    assert (await api.call("get", f"/v1/orders/{oid}", stranger)).status == 404
    assert (await api.call("post", f"/v1/orders/{oid}/cancel", stranger)).status == 404
    assert (await api.call("post", f"/v1/orders/{oid}/confirm", buyer)).status == 409
    assert (await api.call("post", f"/v1/orders/{oid}/complete", buyer)).status == 409
    assert (await api.call("post", f"/v1/orders/{oid}/confirm", seller)).status == 200
    late = await api.call("post", f"/v1/orders/{oid}/cancel", buyer)
    assert late.status == 409 and late.json["state"] == "confirmed"
    assert (await api.call("post", f"/v1/orders/{oid}/complete", buyer)).status == 200
    final = await api.call("post", f"/v1/orders/{oid}/cancel", seller)
    assert final.status == 409 and final.json["state"] == "completed"
    assert await stock(api, pid, seller) == (1, "active")
    listed = (await api.call("get", "/v1/orders?role=seller", seller)).json["items"]
    assert [o["id"] for o in listed] == [oid]
    assert (await api.call("get", "/v1/orders?role=seller", buyer)).json["items"] == []
    assert (await api.call("get", "/v1/orders?status=bogus", buyer)).status == 422


async def test_cancelling_gives_the_stock_back_exactly(api: Api) -> None:
    seller, buyer, _, product = await parties(api, quantity=5)
    pid = product["id"]
    first = (await order(api, buyer, pid, 2)).json
    second = (await order(api, buyer, pid, 3)).json
    assert await stock(api, pid, seller) == (0, "reserved")
    await api.call("post", f"/v1/orders/{first['id']}/cancel", buyer)
    assert await stock(api, pid, seller) == (2, "active")
    await api.call("post", f"/v1/orders/{second['id']}/confirm", seller)
    await api.call("post", f"/v1/orders/{second['id']}/cancel", seller)
    assert await stock(api, pid, seller) == (5, "active")
    twice = await api.call("post", f"/v1/orders/{second['id']}/cancel", seller)
    assert twice.status == 409
    assert await stock(api, pid, seller) == (5, "active")


async def test_a_person_listing_is_reserved_then_back_on_cancel(api: Api) -> None:
    _, seller = await api.signup(display_name="Person")
    _, buyer = await api.signup(display_name="Buyer")
    product = await listing(api, seller)
    placed = (await order(api, buyer, product["id"])).json
    assert await stock(api, product["id"], seller) == (0, "reserved")
    browse = (await api.call("get", "/v1/products", buyer)).json["items"]
    assert product["id"] not in [p["id"] for p in browse]
    await api.call("post", f"/v1/orders/{placed['id']}/cancel", seller)
    assert await stock(api, product["id"], seller) == (1, "active")


async def test_offers_and_messages_raise_a_listings_hype(api: Api, services) -> None:
    seller, buyer, _, product = await parties(api)
    pid = product["id"]
    made = (await offer(api, buyer, pid, 9_000)).json
    await services.jobs.rescore()
    after_offer = (await api.call("get", f"/v1/products/{pid}", seller)).json["hype"]
    assert after_offer > 4.9  # an offer weighs 5 (a view 1), decaying over days
    room = f"/v1/rooms/{made['room_id']}/messages"
    await api.call("post", room, buyer, json={"text": "Still there?"})
    await services.jobs.rescore()
    after_message = (await api.call("get", f"/v1/products/{pid}", seller)).json["hype"]
    # the message counts; the system lines deals write into the room do not
    assert 1.9 < after_message - after_offer < 2.1


async def test_a_shop_restocks_a_sold_out_listing_and_a_person_cannot_sell_twice(
    api: Api,
) -> None:
    seller, buyer, _, product = await parties(api, quantity=1)
    pid = product["id"]
    done = (await order(api, buyer, pid)).json
    await api.call("post", f"/v1/orders/{done['id']}/confirm", seller)
    await api.call("post", f"/v1/orders/{done['id']}/complete", buyer)
    assert await stock(api, pid, seller) == (0, "sold")
    restocked = await api.call("patch", f"/v1/products/{pid}", seller, json={"quantity": 4})
    assert restocked.status == 200, restocked.text
    assert (restocked.json["quantity"], restocked.json["status"]) == (4, "active")
    assert (await order(api, buyer, pid, 4)).status == 201

    _, person = await api.signup(display_name="Person")
    one_off = await listing(api, person)
    held = (await order(api, buyer, one_off["id"])).json
    url = f"/v1/products/{one_off['id']}"
    assert (await api.call("patch", url, person, json={"quantity": 1})).status == 200
    assert await stock(api, one_off["id"], person) == (0, "reserved")  # still held
    back = await api.call("patch", url, person, json={"status": "active"})
    assert back.status == 409
    _, other = await api.signup(display_name="Other")
    assert (await order(api, other, one_off["id"])).status == 409
    refused = await offer(api, other, one_off["id"], 5_000)  # never on an inactive listing
    assert refused.status == 409 and refused.json["state"] == "reserved"
    still = (await api.call("get", f"/v1/orders/{held['id']}", buyer)).json
    assert still["status"] == "placed"


async def test_negotiations_and_orders_list_by_role_and_status_page_by_page(api: Api) -> None:
    seller, buyer, _, product = await parties(api, quantity=20)
    others = [await listing(api, seller, title=f"Lamp {n}") for n in range(4)]
    made = [(await offer(api, buyer, p["id"], 1_000 + n)).json for n, p in enumerate(others)]
    countered = await api.call(
        "post", f"/v1/offers/{made[0]['id']}/counter", seller, json={"amount": 1_500}
    )
    await api.call("post", f"/v1/offers/{made[1]['id']}/decline", seller)
    seen, url = [], "/v1/offers?role=buyer&limit=2"
    while url:
        page = (await api.call("get", url, buyer)).json
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        url = f"/v1/offers?role=buyer&limit=2&cursor={cursor}" if cursor else ""
    # the head of each thread, newest first: the counter replaced the offer it answered
    assert seen == [countered.json["id"], made[3]["id"], made[2]["id"], made[1]["id"]]
    open_ = (await api.call("get", "/v1/offers?status=open", seller)).json["items"]
    assert {o["id"] for o in open_} == {countered.json["id"], made[2]["id"], made[3]["id"]}
    assert (await api.call("get", "/v1/offers?role=seller", buyer)).json["items"] == []
    for _ in range(3):
        await order(api, buyer, product["id"])
    first = (await api.call("get", "/v1/orders?limit=2", buyer)).json
    rest = await api.call("get", f"/v1/orders?limit=2&cursor={first['next_cursor']}", buyer)
    ids = [o["id"] for o in first["items"] + rest.json["items"]]
    assert len(ids) == len(set(ids)) == 3 and rest.json["next_cursor"] is None
    mismatched = await api.call("get", f"/v1/offers?cursor={first['next_cursor']}", buyer)
    assert mismatched.status == 422  # an orders cursor is not an offers cursor


async def test_the_pushed_room_line_is_shaped_as_the_one_history_returns(
    api: Api, services
) -> None:
    seller, buyer, _, product = await parties(api)
    me = (await api.call("get", "/v1/users/me", seller)).json
    pubsub = services.redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(services.notifier.channel(me["id"]))
    try:
        made = (await offer(api, buyer, product["id"], 9_000)).json
        pushed = None
        for _ in range(50):
            frame = await pubsub.get_message(timeout=1.0)
            if frame and json.loads(frame["data"])["type"] == "message.created":
                pushed = json.loads(frame["data"])["message"]
                break
    finally:
        await pubsub.aclose()
    history = await api.call("get", f"/v1/rooms/{made['room_id']}/messages", seller)
    assert pushed == history.json["items"][0]
    assert pushed["data"] == {"event": "offer.made", "offer_id": made["id"], "amount": 9_000}
