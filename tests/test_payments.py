"""Payments through the real app, the local provider and a real embedded FalkorDB: orders paid
by card, webhooks refused unless signed and recent, each event applied once whatever the order
or repetition of deliveries, unpaid orders cancelled with their stock back, refunds with keys
derived from the purpose. The graph is read after each step."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from tests.conftest import Api, read
from tests.test_deals_api import order, parties, stock

pytestmark = pytest.mark.usefixtures("ledger_checked")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # timers fire only when a test runs the scheduler, so a short one is safe elsewhere
    return {"order_payment": True, "order_payment_seconds": 1.0}


def stripe_header(body: bytes, secret: str, at: int | None = None) -> str:
    """Signed as Stripe documents it, independently of the code under test."""
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


async def post_webhook(api: Api, body: bytes, header: str | None) -> Any:
    headers = {"content-type": "application/json"}
    if header is not None:
        headers["stripe-signature"] = header
    return await api.call("post", "/v1/payments/webhook", content=body, headers=headers)


async def queued(services) -> list[bytes]:
    """What the local provider has to post, taken off its queue."""
    return [body.encode() for body in await services.payments.provider.take()]


async def deliver(api: Api, services, bodies: list[bytes] | None = None) -> list[Any]:
    """Post the provider's webhooks to the app, signed now, as its worker would."""
    secret = services.payments.provider.secret
    out = []
    for body in bodies if bodies is not None else await queued(services):
        response = await post_webhook(api, body, stripe_header(body, secret))
        assert response.status == 200, response.text
        out.append(response.json)
    return out


async def card(api: Api, token: str, payment_id: str, outcome: str = "succeed") -> Any:
    return await api.call("post", f"/v1/dev/payments/{payment_id}/{outcome}", token)


async def payment_node(services, order_id: str) -> dict[str, Any]:
    rows = await read(
        services,
        "MATCH (pay:Payment)-[:FOR]->(:Order {id: $id}) "
        "RETURN pay.status AS status, pay.amount AS amount, pay.owed AS owed, "
        "pay.refund_id AS refund_id, pay.intent_id AS intent_id, pay.key AS key",
        id=order_id,
    )
    assert len(rows) == 1, rows
    return rows[0]


async def events(services, *types: str) -> dict[str, int]:
    rows = await read(
        services,
        "MATCH (e:Event) WHERE e.type IN $types RETURN e.type AS type, count(e) AS n",
        types=list(types),
    )
    return {r["type"]: r["n"] for r in rows}


async def placed(api: Api, **product: Any) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    seller, buyer, _, listing = await parties(api, **product)
    response = await order(api, buyer, listing["id"])
    assert response.status == 201, response.text
    return seller, buyer, listing, response.json


async def test_an_order_paid_by_card_is_paid_once_the_webhook_says_so(api: Api, services) -> None:
    seller, buyer, listing, made = await placed(api)
    assert made["status"] == "payment_pending"
    assert made["due"]["event"] == "unpaid"
    payment = made["payment"]
    assert payment["status"] == "pending" and payment["provider"] == "local"
    assert payment["amount"] == {"amount": 12_500, "currency": "EUR"}  # the server's price
    assert payment["client_secret"].startswith("pi_local_")
    assert made["actions"] == ["cancel"]
    seen_by_seller = (await api.call("get", f"/v1/orders/{made['id']}", seller)).json
    assert seen_by_seller["payment"]["status"] == "pending"
    assert seen_by_seller["payment"]["client_secret"] is None  # only the payer gets it
    assert await stock(api, listing["id"], seller) == (0, "reserved")

    # the seller cannot pay, a stranger cannot even see it
    assert (await card(api, seller, payment["id"])).status == 404
    assert (await api.call("post", f"/v1/orders/{made['id']}/confirm", seller)).status == 409

    me = (await api.call("get", "/v1/users/me", buyer)).json
    pubsub = services.redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(services.notifier.channel(me["id"]))
    try:
        paid = await card(api, buyer, payment["id"])
        # the card is authorised: the money is held, taken when the seller confirms
        assert paid.status == 200 and paid.json["intent_status"] == "requires_capture"
        # nothing changes until the provider's webhook arrives
        assert (await payment_node(services, made["id"]))["status"] == "pending"
        [outcome] = await deliver(api, services)
        assert outcome["state"] == "applied" and not outcome["duplicate"]
        pushed = []
        for _ in range(50):
            frame = await pubsub.get_message(timeout=0.5)
            if frame and json.loads(frame["data"])["type"] == "order.updated":
                pushed.append(json.loads(frame["data"])["order"])
                if pushed[-1]["status"] == "paid":
                    break
    finally:
        await pubsub.aclose()
    assert pushed[-1]["status"] == "paid" and pushed[-1]["payment"]["status"] == "authorized"
    assert pushed[-1]["payment"]["client_secret"] is None  # pushes go to both parties

    now = (await api.call("get", f"/v1/orders/{made['id']}", buyer)).json
    assert now["status"] == "paid" and now["due"]["event"] == "expire"
    assert (await payment_node(services, made["id"]))["status"] == "authorized"
    assert await events(services, "payment.created", "payment.authorized", "order.paid") == {
        "payment.created": 1,
        "payment.authorized": 1,
        "order.paid": 1,
    }
    confirmed = await api.call("post", f"/v1/orders/{made['id']}/confirm", seller)
    assert confirmed.status == 200 and confirmed.json["status"] == "confirmed"
    # the confirmation captures the card; the provider's word makes it succeeded
    assert confirmed.json["payment"]["status"] == "capturing"
    [captured] = await deliver(api, services)
    assert captured["outcome"] == "payment capturing -> succeeded", captured
    assert (await payment_node(services, made["id"]))["status"] == "succeeded"
    done = await api.call("post", f"/v1/orders/{made['id']}/complete", buyer)
    assert done.json["status"] == "completed"
    assert (await stock(api, listing["id"], seller))[1] == "sold"


async def test_webhooks_not_signed_by_the_provider_or_not_recent_are_refused(
    api: Api, services
) -> None:
    _, buyer, _, made = await placed(api)
    assert (await card(api, buyer, made["payment"]["id"])).status == 200
    [body] = await queued(services)
    secret = services.payments.provider.secret
    kind = b'"payment_intent.amount_capturable_updated"'
    forged = body.replace(kind, kind + b" ")
    now = int(time.time())
    refused = {
        "no signature": (body, None),
        "forged body": (forged, stripe_header(body, secret)),
        "wrong secret": (body, stripe_header(body, "whsec_not_ours")),
        "stale": (body, stripe_header(body, secret, now - 310)),
        "future": (body, stripe_header(body, secret, now + 330)),
        "no v1": (body, f"t={now},v0=abc"),
        "garbage": (body, "t=,v1"),
        "not utf-8": (b"\xff" + body, stripe_header(b"x", secret)),
    }
    for name, (raw, header) in refused.items():
        response = await post_webhook(api, raw, header)
        assert response.status == 400, (name, response.text)
        assert response.json["errors"] == {"stripe-signature": "not verified"}, name
    # nothing was recorded or changed
    assert await read(services, "MATCH (w:WebhookEvent) RETURN w.id AS id") == []
    assert (await payment_node(services, made["id"]))["status"] == "pending"
    assert (await api.call("get", f"/v1/orders/{made['id']}", buyer)).json["status"] == (
        "payment_pending"
    )
    # the genuine one, just inside the tolerance, goes through
    ok = await post_webhook(api, body, stripe_header(body, secret, now - 290))
    assert ok.status == 200 and ok.json["state"] == "applied"


async def test_a_replayed_or_duplicated_event_is_applied_once(api: Api, services) -> None:
    _, buyer, _, made = await placed(api)
    await card(api, buyer, made["payment"]["id"])
    [body] = await queued(services)
    first, again = await deliver(api, services, [body, body])
    assert (first["state"], first["duplicate"]) == ("applied", False)
    assert (again["state"], again["duplicate"]) == ("applied", True)
    # two deliveries at once: one applies, the other finds it done or in hand (409: retried)
    await card(api, buyer, made["payment"]["id"], "fail")  # refused: it succeeded already
    secret = services.payments.provider.secret
    racing = await asyncio.gather(
        *(post_webhook(api, body, stripe_header(body, secret)) for _ in range(3))
    )
    assert all(r.status in (200, 409) for r in racing), [r.text for r in racing]
    assert await events(services, "payment.authorized", "order.paid") == {
        "payment.authorized": 1,
        "order.paid": 1,
    }
    [recorded] = await read(
        services, "MATCH (w:WebhookEvent) RETURN w.state AS state, w.payment_id AS payment"
    )
    assert recorded == {"state": "applied", "payment": made["payment"]["id"]}


async def test_events_out_of_order_end_in_the_state_of_the_latest(api: Api, services) -> None:
    _, buyer, _, made = await placed(api)
    payment_id = made["payment"]["id"]
    declined = await card(api, buyer, payment_id, "fail")
    assert declined.json["intent_status"] == "requires_payment_method"
    await card(api, buyer, payment_id)  # another card: paid
    failure, success = await queued(services)
    assert b"payment_failed" in failure and b"amount_capturable_updated" in success
    # the success arrives first, the earlier failure after it
    applied, stale = await deliver(api, services, [success, failure])
    assert applied["state"] == "applied"
    assert stale["state"] == "stale" and "failed" not in stale["outcome"].split()[-2:]
    assert (await payment_node(services, made["id"]))["status"] == "authorized"
    assert (await api.call("get", f"/v1/orders/{made['id']}", buyer)).json["status"] == "paid"
    assert await events(services, "payment.failed") == {}

    # in order, a decline shows on the order and a later success still pays it
    _, buyer2, _, other = await placed(api)
    await card(api, buyer2, other["payment"]["id"], "fail")
    await deliver(api, services)
    failed = (await api.call("get", f"/v1/orders/{other['id']}", buyer2)).json
    assert failed["status"] == "payment_pending" and failed["payment"]["status"] == "failed"
    assert failed["payment"]["client_secret"]  # they may try again
    await card(api, buyer2, other["payment"]["id"])
    await deliver(api, services)
    assert (await api.call("get", f"/v1/orders/{other['id']}", buyer2)).json["status"] == "paid"


async def test_an_unpaid_order_is_cancelled_in_time_and_its_stock_comes_back(
    api: Api, services
) -> None:
    seller, buyer, listing, made = await placed(api, quantity=3)
    second = (await order(api, buyer, listing["id"], 2)).json
    assert await stock(api, listing["id"], seller) == (0, "reserved")
    await asyncio.sleep(1.1)  # VENDR_ORDER_PAYMENT_SECONDS=1 here
    fired = await services.deal_timers.run_once()
    assert fired["orders"] == 2
    for o in (made, second):
        now = (await api.call("get", f"/v1/orders/{o['id']}", buyer)).json
        assert (now["status"], now["cancelled_by"]) == ("cancelled", "system")
        node = await payment_node(services, o["id"])
        assert (node["status"], node["owed"]) == ("cancelled", None)  # voided at the provider
    assert await stock(api, listing["id"], seller) == (3, "active")
    # the provider says so too, and that changes nothing more
    outcomes = await deliver(api, services)
    assert [o["state"] for o in outcomes] == ["stale", "stale"]
    # a card can no longer pay it
    assert (await card(api, buyer, made["payment"]["id"])).status == 409


async def captured(api: Api, services, seller: str, buyer: str, made: dict[str, Any]) -> None:
    """The buyer's card authorised, the seller confirms: the payment captured."""
    await card(api, buyer, made["payment"]["id"])
    await deliver(api, services)
    confirmed = await api.call("post", f"/v1/orders/{made['id']}/confirm", seller)
    assert confirmed.status == 200, confirmed.text
    await deliver(api, services)
    assert (await payment_node(services, made["id"]))["status"] == "succeeded"


async def test_cancelling_a_paid_order_voids_its_authorisation_and_takes_nothing(
    api: Api, services
) -> None:
    seller, buyer, listing, made = await placed(api)
    await card(api, buyer, made["payment"]["id"])
    await deliver(api, services)
    cancelled = await api.call("post", f"/v1/orders/{made['id']}/cancel", buyer)
    assert cancelled.json["status"] == "cancelled"
    assert cancelled.json["payment"]["status"] == "cancelled"
    node = await payment_node(services, made["id"])
    assert node["owed"] is None and node["refund_id"] is None  # voided, nothing refunded
    prefix = services.settings.redis_prefix
    assert await services.redis.get(f"{prefix}pay:local:idem:order:{made['id']}:void")
    assert await services.redis.get(f"{prefix}pay:local:idem:order:{made['id']}:refund") is None
    [voided] = await deliver(api, services)  # the provider's word: stale, it changed nothing
    assert voided["state"] == "stale"
    assert await stock(api, listing["id"], seller) == (1, "active")
    assert await read(services, "MATCH (e:LedgerEntry) RETURN e.id AS id") == []


async def test_cancelling_a_captured_order_refunds_it_once_with_a_derived_key(
    api: Api, services
) -> None:
    seller, buyer, listing, made = await placed(api)
    await captured(api, services, seller, buyer, made)
    cancelled = await api.call("post", f"/v1/orders/{made['id']}/cancel", seller)
    assert cancelled.status == 200, cancelled.text
    assert cancelled.json["status"] == "cancelled"
    assert cancelled.json["payment"]["status"] == "refunding"
    node = await payment_node(services, made["id"])
    assert node["owed"] is None and node["refund_id"].startswith("re_local_")
    prefix = services.settings.redis_prefix
    key = await services.redis.get(f"{prefix}pay:local:idem:order:{made['id']}:refund")
    assert json.loads(key)["request"] == {
        "op": "refund",
        "intent": node["intent_id"],
        "amount": 12_500,
    }
    # asking again (a retry after a timeout) gives the same refund, not a second one
    again = await services.payments.provider.refund(
        node["intent_id"], amount=12_500, key=f"order:{made['id']}:refund"
    )
    assert again == node["refund_id"]
    [refunded] = await deliver(api, services)
    assert refunded["state"] == "applied"
    assert (await payment_node(services, made["id"]))["status"] == "refunded"
    assert await stock(api, listing["id"], seller) == (1, "active")
    assert await events(
        services, "payment.refunding", "payment.refund_sent", "payment.refunded"
    ) == {
        "payment.refunding": 1,
        "payment.refund_sent": 1,
        "payment.refunded": 1,
    }


async def test_an_authorisation_for_an_order_cancelled_meanwhile_is_voided(
    api: Api, services
) -> None:
    seller, buyer, listing, made = await placed(api)
    await card(api, buyer, made["payment"]["id"])  # authorised at the provider, webhook in flight
    authorised = await queued(services)
    cancelled = await api.call("post", f"/v1/orders/{made['id']}/cancel", buyer)
    assert cancelled.json["status"] == "cancelled"
    node = await payment_node(services, made["id"])
    assert node["status"] == "cancelled"
    # the void reached the provider: the card's hold is released, nothing was ever taken
    intent = await services.redis.hget(
        f"{services.settings.redis_prefix}pay:local:pi:{node['intent_id']}", "status"
    )
    assert intent == b"canceled"
    [late] = await deliver(api, services, authorised)
    assert late["state"] == "stale"
    assert await deliver(api, services)  # the provider's cancellation, stale as well
    order_now = (await api.call("get", f"/v1/orders/{made['id']}", buyer)).json
    assert order_now["status"] == "cancelled" and order_now["payment"]["status"] == "cancelled"
    assert await stock(api, listing["id"], seller) == (1, "active")


async def test_a_refund_made_at_the_provider_cancels_a_confirmed_order(api: Api, services) -> None:
    seller, buyer, listing, made = await placed(api)
    await captured(api, services, seller, buyer, made)
    node = await payment_node(services, made["id"])
    # refunded from the provider's dashboard, not through Vendr
    await services.payments.provider.refund(node["intent_id"], amount=12_500, key="dashboard-1")
    [outcome] = await deliver(api, services)
    assert outcome["state"] == "applied"
    order_now = (await api.call("get", f"/v1/orders/{made['id']}", seller)).json
    assert order_now["status"] == "cancelled" and order_now["payment"]["status"] == "refunded"
    assert order_now["payment"]["refunded"] == {"amount": 12_500, "currency": "EUR"}
    assert await stock(api, listing["id"], seller) == (1, "active")


async def test_unknown_events_and_wrong_amounts_change_nothing(api: Api, services) -> None:
    _, _, _, made = await placed(api)
    secret = services.payments.provider.secret
    unknown = json.dumps(
        {
            "id": "evt_x1",
            "object": "event",
            "type": "customer.created",
            "created": 1,
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        }
    ).encode()
    response = await post_webhook(api, unknown, stripe_header(unknown, secret))
    assert response.status == 200 and response.json["state"] == "ignored"
    node = await payment_node(services, made["id"])
    short = json.dumps(
        {
            "id": "evt_x2",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": 1,
            "data": {
                "object": {
                    "id": node["intent_id"],
                    "object": "payment_intent",
                    "amount": 100,
                    "amount_received": 100,
                    "currency": "eur",
                    "metadata": {"vendr_payment_id": made["payment"]["id"]},
                }
            },
        }
    ).encode()
    response = await post_webhook(api, short, stripe_header(short, secret))
    assert response.status == 200 and response.json["state"] == "rejected"
    assert (await payment_node(services, made["id"]))["status"] == "pending"
    states = await read(
        services, "MATCH (w:WebhookEvent) RETURN w.id AS id, w.state AS state ORDER BY id"
    )
    assert states == [{"id": "evt_x1", "state": "ignored"}, {"id": "evt_x2", "state": "rejected"}]


async def test_an_order_from_an_accepted_offer_or_the_cart_waits_for_its_payment(
    api: Api, services
) -> None:
    seller, buyer, _, listing = await parties(api, quantity=2)
    made = await api.call(
        "post", f"/v1/products/{listing['id']}/offers", buyer, json={"amount": 10_000}
    )
    accepted = await api.call("post", f"/v1/offers/{made.json['id']}/accept", seller)
    from_offer = (await api.call("get", f"/v1/orders/{accepted.json['order_id']}", buyer)).json
    assert from_offer["status"] == "payment_pending"
    assert from_offer["payment"]["amount"] == {"amount": 10_000, "currency": "EUR"}
    await api.call("put", f"/v1/cart/items/{listing['id']}", buyer, json={"quantity": 1})
    checkout = await api.call("post", "/v1/cart/checkout", buyer)
    assert checkout.status == 201, checkout.text
    [from_cart] = checkout.json["orders"]
    assert from_cart["status"] == "payment_pending"
    assert from_cart["payment"]["amount"] == {"amount": 12_500, "currency": "EUR"}
    # asking to pay again returns the same payment
    again = await api.call("post", f"/v1/orders/{from_cart['id']}/payment", buyer)
    assert again.status == 200 and again.json["payment"]["id"] == from_cart["payment"]["id"]
    assert (await api.call("post", f"/v1/orders/{from_cart['id']}/payment", seller)).status == 404


async def test_a_listing_stays_reserved_while_a_paid_order_holds_its_last_unit(
    api: Api, services
) -> None:
    """Completing one order must not call the listing sold while another, paid but not yet
    confirmed, still holds a unit: cancelling that one later gives the unit back to a
    listing that can sell it again."""
    seller, buyer, listing, first = await placed(api, quantity=2)
    _, other = await api.signup(display_name="Second buyer")
    second = await order(api, other, listing["id"])
    assert second.status == 201, second.text
    await card(api, buyer, first["payment"]["id"])
    await card(api, other, second.json["payment"]["id"])
    await deliver(api, services)
    assert (await api.call("post", f"/v1/orders/{first['id']}/confirm", seller)).status == 200
    done = await api.call("post", f"/v1/orders/{first['id']}/complete", buyer)
    assert done.status == 200, done.text
    assert await stock(api, listing["id"], seller) == (0, "reserved")
    cancelled = await api.call("post", f"/v1/orders/{second.json['id']}/cancel", other)
    assert cancelled.status == 200, cancelled.text
    assert await stock(api, listing["id"], seller) == (1, "active")
