"""The Stripe adapter on the official SDK, against a local HTTP stub that records what the SDK
sends (paths, amounts, currency, idempotency keys): no network. Orders are paid, voided and
refunded through it, and Stripe's webhooks are verified with the endpoint's secret."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import Api
from tests.test_deals_api import order, parties
from tests.test_payments import payment_node, post_webhook, stripe_header

pytestmark = pytest.mark.usefixtures("ledger_checked")

WEBHOOK_SECRET = "whsec_test_vendr"


@dataclass
class Stub:
    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with a 500 first
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    state = Stub()

    async def handle(request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.method == "POST" else {}
        state.calls.append(
            {
                "method": request.method,
                "path": request.path,
                "form": form,
                "key": request.headers.get("Idempotency-Key"),
                "auth": request.headers.get("Authorization"),
            }
        )
        if state.fail_next:
            state.fail_next -= 1
            error = {"error": {"type": "api_error", "message": "stub outage"}}
            return web.json_response(error, status=500)
        path = request.path
        if path == "/v1/payment_intents" and request.method == "POST":
            intent_id = f"pi_stub_{len(state.intents) + 1}"
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_stub",
            }
            state.intents[intent_id] = intent
            return web.json_response(intent)
        if path.startswith("/v1/payment_intents/") and path.endswith("/cancel"):
            intent = state.intents[path.split("/")[3]]
            if intent["status"] == "succeeded":
                error = {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "payment_intent_unexpected_state",
                        "message": "This PaymentIntent's status is succeeded.",
                    }
                }
                return web.json_response(error, status=400)
            intent["status"] = "canceled"
            return web.json_response(intent)
        if path.startswith("/v1/payment_intents/") and path.endswith("/capture"):
            intent = state.intents[path.split("/")[3]]
            intent["status"] = "succeeded"
            return web.json_response(intent)
        if path.startswith("/v1/payment_intents/"):
            return web.json_response(state.intents[path.split("/")[3]])
        if path == "/v1/accounts":
            account = {"id": "acct_stub_1", "object": "account", "payouts_enabled": False}
            return web.json_response(account)
        if path == "/v1/account_links":
            link = {"object": "account_link", "url": "https://connect.stripe.test/setup/s/x"}
            return web.json_response(link)
        if path == "/v1/transfers":
            transfer = {
                "id": f"tr_stub_{len(stub_transfers(state)) + 1}",
                "object": "transfer",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "destination": form["destination"],
            }
            return web.json_response(transfer)
        if path == "/v1/refunds":
            refund = {
                "id": "re_stub_1",
                "object": "refund",
                "amount": int(form["amount"]),
                "payment_intent": form["payment_intent"],
                "status": "succeeded",
            }
            return web.json_response(refund)
        return web.json_response({"error": {"type": "invalid_request_error"}}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


def stub_transfers(state: Stub) -> list[dict[str, Any]]:
    return [c for c in state.calls[:-1] if c["path"] == "/v1/transfers"]


@pytest.fixture
def settings_overrides(stub: Stub) -> dict[str, Any]:
    return {
        "order_payment": True,
        "stripe_secret_key": "sk_test_vendr",
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": stub.url,
        "payout_hold_seconds": 0,
    }


def succeeded(
    intent_id: str,
    amount: int,
    payment_id: str,
    event_id: str,
    kind: str = "payment_intent.succeeded",
) -> bytes:
    """A `payment_intent.succeeded` event as Stripe sends it (the fields Vendr reads); or
    another of a payment intent's (`amount_capturable_updated` once authorised)."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": 1_700_000_000,
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount,
                    "amount_capturable": amount,
                    "currency": "eur",
                    "status": "succeeded",
                    "metadata": {"vendr_payment_id": payment_id},
                }
            },
        }
    ).encode()


async def test_orders_are_paid_and_refunded_through_stripe(api: Api, services, stub: Stub) -> None:
    seller, buyer, _, listing = await parties(api)
    made = (await order(api, buyer, listing["id"])).json
    assert made["payment"]["provider"] == "stripe"
    assert made["payment"]["client_secret"] == "pi_stub_1_secret_stub"
    [create] = stub.calls
    assert (create["method"], create["path"]) == ("POST", "/v1/payment_intents")
    assert create["auth"] == "Bearer sk_test_vendr"
    assert create["key"] == f"order:{made['id']}:create"
    assert create["form"]["amount"] == "12500" and create["form"]["currency"] == "eur"
    assert create["form"]["metadata[vendr_payment_id]"] == made["payment"]["id"]
    assert create["form"]["metadata[purpose]"] == "order"
    assert create["form"]["automatic_payment_methods[enabled]"] == "true"
    # no development card terminal with Stripe
    dev = await api.call("post", f"/v1/dev/payments/{made['payment']['id']}/succeed", buyer)
    assert dev.status == 404

    body = succeeded("pi_stub_1", 12_500, made["payment"]["id"], "evt_stripe_1")
    local = services.payments.provider  # Stripe's secret only
    assert (await post_webhook(api, body, stripe_header(body, "whsec_local_x"))).status == 400
    ok = await post_webhook(api, body, stripe_header(body, WEBHOOK_SECRET))
    assert ok.status == 200 and ok.json["state"] == "applied", ok.text
    assert local.name == "stripe"
    assert (await api.call("get", f"/v1/orders/{made['id']}", buyer)).json["status"] == "paid"

    cancelled = await api.call("post", f"/v1/orders/{made['id']}/cancel", seller)
    assert cancelled.json["payment"]["status"] == "refunding"
    refund = stub.calls[-1]
    assert (refund["method"], refund["path"]) == ("POST", "/v1/refunds")
    assert refund["key"] == f"order:{made['id']}:refund"
    assert refund["form"] == {"payment_intent": "pi_stub_1", "amount": "12500"}
    node = await payment_node(services, made["id"])
    assert (node["refund_id"], node["owed"]) == ("re_stub_1", None)


async def test_a_cancelled_unpaid_order_voids_its_intent(api: Api, services, stub: Stub) -> None:
    _, buyer, _, listing = await parties(api)
    made = (await order(api, buyer, listing["id"])).json
    await api.call("post", f"/v1/orders/{made['id']}/cancel", buyer)
    void = stub.calls[-1]
    assert (void["method"], void["path"]) == ("POST", "/v1/payment_intents/pi_stub_1/cancel")
    assert void["key"] == f"order:{made['id']}:void"
    assert (await payment_node(services, made["id"]))["status"] == "cancelled"

    # the customer had paid a moment before the void: Stripe refuses it, the success's
    # webhook then finds the order gone and refunds
    other = (await order(api, buyer, listing["id"])).json
    stub.intents["pi_stub_2"]["status"] = "succeeded"
    await api.call("post", f"/v1/orders/{other['id']}/cancel", buyer)
    assert [c["path"] for c in stub.calls[-2:]] == [
        "/v1/payment_intents/pi_stub_2/cancel",
        "/v1/payment_intents/pi_stub_2",
    ]
    body = succeeded("pi_stub_2", 12_500, other["payment"]["id"], "evt_stripe_2")
    late = await post_webhook(api, body, stripe_header(body, WEBHOOK_SECRET))
    assert late.json["state"] == "applied" and "refunded" in late.json["outcome"]
    assert stub.calls[-1]["path"] == "/v1/refunds"
    assert stub.calls[-1]["key"] == f"order:{other['id']}:refund"


async def test_a_provider_outage_leaves_the_call_owed_and_a_retry_uses_the_same_key(
    api: Api, services, stub: Stub
) -> None:
    stub.fail_next = 3  # the SDK's own two retries fail too
    _, buyer, _, listing = await parties(api)
    made = (await order(api, buyer, listing["id"])).json
    assert made["status"] == "payment_pending"
    assert made["payment"]["status"] == "new" and made["payment"]["client_secret"] is None
    keys = {c["key"] for c in stub.calls}
    assert keys == {f"order:{made['id']}:create"} and len(stub.calls) == 3
    node = await payment_node(services, made["id"])
    assert node["owed"] == "create"
    # the worker's retry (forced now), with the same key: one intent
    assert await services.payments.settle(made["payment"]["id"])
    assert stub.calls[-1]["key"] == f"order:{made['id']}:create"
    again = (await api.call("get", f"/v1/orders/{made['id']}", buyer)).json
    assert again["payment"]["status"] == "pending"
    assert again["payment"]["client_secret"] == "pi_stub_1_secret_stub"
    assert (await payment_node(services, made["id"]))["owed"] is None


def stripe_event(event_id: str, kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": kind, "created": 1, "data": {"object": obj}}
    ).encode()


async def test_cards_are_captured_at_confirmation_and_sellers_paid_through_connect(
    api: Api, services, stub: Stub
) -> None:
    seller, buyer, _, listing = await parties(api)
    made = (await order(api, buyer, listing["id"])).json
    create = stub.calls[0]
    assert create["form"]["capture_method"] == "manual"  # authorised now, captured later
    payment_id = made["payment"]["id"]
    authorised = succeeded(
        "pi_stub_1", 12_500, payment_id, "evt_a", "payment_intent.amount_capturable_updated"
    )
    ok = await post_webhook(api, authorised, stripe_header(authorised, WEBHOOK_SECRET))
    assert ok.json["outcome"] == "payment pending -> authorized", ok.text
    confirmed = await api.call("post", f"/v1/orders/{made['id']}/confirm", seller)
    assert confirmed.json["payment"]["status"] == "capturing"
    capture = stub.calls[-1]
    assert capture["path"] == "/v1/payment_intents/pi_stub_1/capture"
    assert capture["key"] == f"order:{made['id']}:capture"
    body = succeeded("pi_stub_1", 12_500, payment_id, "evt_c")
    assert (await post_webhook(api, body, stripe_header(body, WEBHOOK_SECRET))).status == 200
    await api.call("post", f"/v1/orders/{made['id']}/complete", buyer)
    assert await services.payouts.release_due() == 1

    # the seller's connected account: opened once, onboarding link, then Stripe's word
    started = await api.call("post", "/v1/users/me/payouts/onboarding", seller)
    assert started.status == 200, started.text
    assert started.json["account_id"] == "acct_stub_1"
    assert started.json["url"].startswith("https://connect.stripe.test/")
    seller_id = (await api.call("get", "/v1/users/me", seller)).json["id"]
    opened = next(c for c in stub.calls if c["path"] == "/v1/accounts")
    assert opened["key"] == f"user:{seller_id}:account"
    assert opened["form"]["type"] == "express"
    early = await api.call("post", "/v1/users/me/payouts", seller, json={"currency": "EUR"})
    assert early.status == 409  # Stripe has not said the account can be paid yet
    enabled = stripe_event(
        "evt_acct",
        "account.updated",
        {"id": "acct_stub_1", "object": "account", "payouts_enabled": True},
    )
    applied = await post_webhook(api, enabled, stripe_header(enabled, WEBHOOK_SECRET))
    assert applied.json["outcome"] == "payouts enabled", applied.text

    paid = await api.call("post", "/v1/users/me/payouts", seller, json={"currency": "EUR"})
    assert paid.status == 201, paid.text
    fee = 12_500 * services.settings.platform_fee_bps // 10_000
    assert paid.json["amount"] == {"amount": 12_500 - fee, "currency": "EUR"}
    assert (paid.json["status"], paid.json["transfer_id"]) == ("paid", "tr_stub_1")
    [transfer] = [c for c in stub.calls if c["path"] == "/v1/transfers"]
    assert transfer["key"] == f"payout:{paid.json['id']}"
    assert transfer["form"]["destination"] == "acct_stub_1"
    assert transfer["form"]["amount"] == str(12_500 - fee)
    assert transfer["form"]["currency"] == "eur"
    balance = (await api.call("get", "/v1/users/me/balance", seller)).json
    [eur] = balance["balances"]
    assert (eur["pending"], eur["available"], eur["paid"]) == (0, 0, 12_500 - fee)
    assert (await services.ledger.check())["ok"]
