"""Marketplace money through the real app and the local provider, on both graph backends: a
card authorised at placement and captured at the seller's confirmation, the double-entry
ledger in the graph, seller payouts to connected accounts, partial refunds, disputes, voids.

Every amount is exact: an order of A pays the platform F = A * fee_bps // 10000 and the seller
A - F. Webhooks are taken off the local provider's queue and posted, signed, to the app
(`deliver`); time is never slept through (the hold is 0, a due timer is moved into the past).
After every test the ledger must check whole (`ledger_checked`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from graph.bootstrap import Services
from graph.payments import LocalProvider
from tests.conftest import Api, read
from tests.test_catalog_api import listing
from tests.test_deals_api import order, parties, stock
from tests.test_payments import deliver, payment_node

pytestmark = pytest.mark.usefixtures("ledger_checked")

FEE_BPS = 500
PRICE = 12_500  # the listings' default price (tests.test_catalog_api.listing)
MINIMUM = 100


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "order_payment": True,
        "platform_fee_bps": FEE_BPS,
        "payout_hold_seconds": 0,
        "payout_minimum": MINIMUM,
    }


def fee(amount: int) -> int:
    return amount * FEE_BPS // 10_000


def fee_part(total: int, amount: int = PRICE) -> int:
    """The platform's part of `total` refunded (or disputed) so far of an order of `amount`."""
    return fee(amount) * total // amount


NET = PRICE - fee(PRICE)  # the seller's share of an order at PRICE: 11_875


@dataclass
class Deal:
    """One order paid by card, its parties (tokens) and its payment."""

    seller: str
    seller_id: str
    buyer: str
    stranger: str
    order_id: str
    payment_id: str
    intent_id: str
    currency: str

    @property
    def owner(self) -> str:
        return f"seller:{self.seller_id}"


def provider(services: Services) -> LocalProvider:
    local = services.payments.provider
    assert isinstance(local, LocalProvider)
    return local


async def buckets(services: Services, owner: str, currency: str = "EUR") -> dict[str, int]:
    """An owner's non-zero ledger balances in one currency."""
    found = (await services.ledger.balances(owner)).get(currency, {})
    return {bucket: amount for bucket, amount in found.items() if amount}


async def entries(services: Services) -> list[str]:
    rows = await read(services, "MATCH (e:LedgerEntry) RETURN e.id AS id ORDER BY id")
    return [r["id"] for r in rows]


async def get(api: Api, url: str, token: str) -> dict[str, Any]:
    response = await api.call("get", url, token)
    assert response.status == 200, response.text
    return dict(response.json)


async def order_now(api: Api, deal: Deal) -> dict[str, Any]:
    return await get(api, f"/v1/orders/{deal.order_id}", deal.buyer)


async def authorise(
    api: Api, services: Services, tokens: tuple[str, str, str], product: dict[str, Any]
) -> Deal:
    """The buyer orders `product` and their card is authorised: the order is paid."""
    seller, buyer, stranger = tokens
    made = await order(api, buyer, product["id"])
    assert made.status == 201, made.text
    intent = (await payment_node(services, made.json["id"]))["intent_id"]
    assert await provider(services).complete(intent, succeed=True) == "requires_capture"
    [outcome] = await deliver(api, services)
    assert outcome["state"] == "applied", outcome
    ids = (made.json["id"], made.json["payment"]["id"], intent)
    deal = Deal(
        seller, product["seller"]["id"], buyer, stranger, *ids, product["price"]["currency"]
    )
    assert (await payment_node(services, deal.order_id))["status"] == "authorized"
    assert (await order_now(api, deal))["status"] == "paid"
    return deal


async def authorised(api: Api, services: Services, **product: Any) -> Deal:
    seller, buyer, stranger, made = await parties(api, **product)
    return await authorise(api, services, (seller, buyer, stranger), made)


async def confirm(api: Api, deal: Deal) -> Any:
    return await api.call("post", f"/v1/orders/{deal.order_id}/confirm", deal.seller)


async def capture(api: Api, services: Services, deal: Deal) -> None:
    """The seller confirms: the card is captured once the provider says so."""
    confirmed = await confirm(api, deal)
    assert confirmed.status == 200 and confirmed.json["status"] == "confirmed", confirmed.text
    assert (await payment_node(services, deal.order_id))["status"] == "capturing"
    [outcome] = await deliver(api, services)
    assert outcome["state"] == "applied", outcome
    assert (await payment_node(services, deal.order_id))["status"] == "succeeded"


async def captured(api: Api, services: Services, **product: Any) -> Deal:
    deal = await authorised(api, services, **product)
    await capture(api, services, deal)
    return deal


async def complete(api: Api, deal: Deal) -> None:
    done = await api.call("post", f"/v1/orders/{deal.order_id}/complete", deal.buyer)
    assert done.status == 200 and done.json["status"] == "completed", done.text


async def onboard(api: Api, services: Services, token: str) -> str:
    """The seller opens their payout account and fills in the provider's page (the local
    provider's development page, posted through the app)."""
    opened = await api.call("post", "/v1/users/me/payouts/onboarding", token)
    assert opened.status == 200 and opened.json["payouts_enabled"] is False, opened.text
    page = await api.call("post", urlsplit(opened.json["url"]).path, token)
    assert page.status == 204, page.text
    [outcome] = await deliver(api, services)  # the provider's account.updated
    assert outcome["state"] == "applied", outcome
    return str(opened.json["account_id"])


async def balance(api: Api, token: str) -> dict[str, Any]:
    return await get(api, "/v1/users/me/balance", token)


def row(currency: str = "EUR", **buckets: int) -> dict[str, Any]:
    """One currency's line of GET /v1/users/me/balance."""
    zero = dict.fromkeys(("pending", "available", "disputed", "in_transit", "paid"), 0)
    return {"currency": currency, **zero, **buckets}


async def payout(api: Api, token: str, currency: str = "EUR") -> Any:
    return await api.call("post", "/v1/users/me/payouts", token, json={"currency": currency})


async def refund(api: Api, token: str, deal: Deal, amount: int) -> Any:
    body = {"amount": amount, "reason": "The table top arrived scratched"}
    return await api.call("post", f"/v1/orders/{deal.order_id}/refunds", token, json=body)


async def test_the_card_is_captured_at_confirmation_not_before(api: Api, services) -> None:
    deal = await authorised(api, services)
    # authorised: the money is held on the card, nothing is taken or booked
    assert await entries(services) == []
    assert (await balance(api, deal.seller))["balances"] == []
    assert (await confirm(api, deal)).json["payment"]["status"] == "capturing"
    assert await entries(services) == []  # until the provider says it captured
    [outcome] = await deliver(api, services)
    assert outcome["state"] == "applied"
    assert await entries(services) == [f"charge:{deal.payment_id}"]
    assert await buckets(services, deal.owner) == {"pending": PRICE - fee(PRICE)}
    assert await buckets(services, "platform") == {"fees": fee(PRICE)}
    assert await buckets(services, "buyers") == {"cards": -PRICE}
    assert (await balance(api, deal.seller))["balances"] == [row(pending=NET)]
    now = await order_now(api, deal)
    assert (now["status"], now["payment"]["status"]) == ("confirmed", "succeeded")


async def test_a_completed_order_is_paid_out_to_the_onboarded_seller(api: Api, services) -> None:
    deal = await captured(api, services)
    early = await payout(api, deal.seller)
    assert early.status == 409 and early.json["errors"] == {"account": "none"}, early.text
    assert await services.payouts.release_due() == 0  # not completed: held
    await complete(api, deal)
    assert await services.payouts.release_due() == 1
    assert await buckets(services, deal.owner) == {"available": NET}
    assert await entries(services) == [f"charge:{deal.payment_id}", f"release:{deal.payment_id}"]

    opened = await api.call("post", "/v1/users/me/payouts/onboarding", deal.seller)
    unfinished = await payout(api, deal.seller)
    assert unfinished.status == 409 and unfinished.json["errors"] == {"account": "not onboarded"}
    account_id = await onboard(api, services, deal.seller)
    assert account_id == opened.json["account_id"]  # opened once
    assert (await balance(api, deal.seller))["payouts_enabled"] is True

    made = await payout(api, deal.seller)
    assert made.status == 201, made.text
    assert made.json["amount"] == {"amount": NET, "currency": "EUR"}
    assert (made.json["status"], made.json["trigger"]) == ("paid", "request")
    assert made.json["transfer_id"].startswith("tr_local_")
    assert await buckets(services, deal.owner) == {"paid": NET}
    mine = await balance(api, deal.seller)
    assert mine["balances"] == [row(paid=NET)] and mine["minimum"] == MINIMUM
    assert await provider(services).account_balance(account_id, "EUR") == NET
    assert (await get(api, "/v1/users/me/payouts", deal.seller))["items"] == [made.json]
    assert (await get(api, "/v1/users/me/payouts", deal.buyer))["items"] == []

    again = await payout(api, deal.seller)
    assert again.status == 409 and again.json["errors"] == {"amount": "below the minimum"}
    assert (again.json["available"], again.json["minimum"]) == (0, MINIMUM)
    assert await provider(services).account_balance(account_id, "EUR") == NET


async def test_a_refund_after_the_payout_claws_the_sellers_part_back(api: Api, services) -> None:
    deal = await captured(api, services)
    await complete(api, deal)
    await services.payouts.release_due()
    account_id = await onboard(api, services, deal.seller)
    assert (await payout(api, deal.seller)).status == 201

    # the seller gives 2_000 back: their part out of an available balance that is now empty
    asked = await refund(api, deal.seller, deal, 2_000)
    assert asked.status == 200, asked.text
    await deliver(api, services)
    seller_part = 2_000 - fee_part(2_000)
    assert await buckets(services, deal.owner) == {"available": -seller_part, "paid": NET}
    assert await buckets(services, "platform") == {"fees": fee(PRICE) - fee_part(2_000)}
    assert await buckets(services, "buyers") == {"cards": -PRICE + 2_000}

    # the rest refunded from the provider's dashboard: all the seller was paid is owed back
    await provider(services).dashboard_refund(deal.intent_id, PRICE - 2_000)
    [outcome] = await deliver(api, services)
    assert outcome["state"] == "applied"
    assert await buckets(services, deal.owner) == {"available": -NET, "paid": NET}
    assert await buckets(services, "platform") == {}
    assert await buckets(services, "buyers") == {}
    assert (await payment_node(services, deal.order_id))["status"] == "refunded"
    assert (await order_now(api, deal))["status"] == "completed"
    assert (await balance(api, deal.seller))["balances"] == [row(available=-NET, paid=NET)]
    # a negative balance is not paid out, and what went to the seller's account stays there
    assert (await payout(api, deal.seller)).status == 409
    assert await provider(services).account_balance(account_id, "EUR") == NET


async def test_partial_refunds_before_release_come_out_of_pending(api: Api, services) -> None:
    deal = await captured(api, services)
    assert (await refund(api, deal.buyer, deal, 1_000)).status == 403
    assert (await refund(api, deal.stranger, deal, 1_000)).status == 404
    for total, amount in ((1_000, 1_000), (3_000, 2_000)):
        asked = await refund(api, deal.seller, deal, amount)
        assert asked.status == 200, asked.text
        [outcome] = await deliver(api, services)
        assert outcome["state"] == "applied", outcome
        assert await buckets(services, deal.owner) == {"pending": NET - (total - fee_part(total))}
        assert await buckets(services, "platform") == {"fees": fee(PRICE) - fee_part(total)}
        assert await buckets(services, "buyers") == {"cards": -PRICE + total}
    now = await order_now(api, deal)
    assert (now["status"], now["payment"]["status"]) == ("confirmed", "succeeded")
    assert now["payment"]["refunded"] == {"amount": 3_000, "currency": "EUR"}
    booked = await entries(services)
    assert booked == sorted(
        [f"charge:{deal.payment_id}"] + [f"refund:{deal.payment_id}:{t}" for t in (1_000, 3_000)]
    )

    # more than is left: refused, and nothing moves
    before = {o: await buckets(services, o) for o in (deal.owner, "platform", "buyers")}
    too_much = await refund(api, deal.seller, deal, PRICE - 3_000 + 1)
    assert too_much.status == 422, too_much.text
    assert too_much.json["errors"] == {"amount": f"1 to {PRICE - 3_000}"}
    for bad in (0, -5):
        assert (await refund(api, deal.seller, deal, bad)).status == 422
    assert await provider(services).take() == []  # nothing asked of the provider
    assert await entries(services) == booked
    assert {o: await buckets(services, o) for o in before} == before
    [node] = await read(
        services,
        "MATCH (p:Payment {id: $id}) RETURN p.refund_asked AS asked, p.owed AS owed",
        id=deal.payment_id,
    )
    assert node == {"asked": 3_000, "owed": None}


async def test_refunding_an_order_not_captured_is_a_conflict(api: Api, services) -> None:
    """As the route, `refund_part` and `ask_refund` document it: 409, nothing captured."""
    deal = await authorised(api, services)
    early = await refund(api, deal.seller, deal, 1_000)
    assert await provider(services).take() == [] and await entries(services) == []
    assert early.status == 409, early.text


async def test_a_won_dispute_freezes_then_gives_back_and_holds_the_release(
    api: Api, services
) -> None:
    deal = await captured(api, services)
    dispute_id = await provider(services).dispute(deal.intent_id, 5_000)
    [opened] = await deliver(api, services)
    assert opened["state"] == "applied", opened
    frozen = 5_000 - fee_part(5_000)
    assert await buckets(services, deal.owner) == {"pending": NET - frozen, "disputed": frozen}
    assert await buckets(services, "platform") == {"fees": fee(PRICE)}  # fees wait too
    assert (await order_now(api, deal))["payment"]["dispute"] == "open"
    blocked = await refund(api, deal.seller, deal, 1_000)  # no refund while the bank decides
    assert blocked.status == 409, blocked.text
    await complete(api, deal)
    assert await services.payouts.release_due() == 0  # not while the dispute is open
    assert await buckets(services, deal.owner) == {"pending": NET - frozen, "disputed": frozen}

    await provider(services).close_dispute(dispute_id, won=True)
    [closed] = await deliver(api, services)
    assert closed["state"] == "applied", closed
    assert await buckets(services, deal.owner) == {"pending": NET}
    assert await services.payouts.release_due() == 1
    assert await buckets(services, deal.owner) == {"available": NET}
    assert await buckets(services, "platform") == {"fees": fee(PRICE)}
    assert await buckets(services, "buyers") == {"cards": -PRICE}
    assert (await order_now(api, deal))["payment"]["dispute"] == "won"


async def test_a_lost_dispute_pays_the_card_holder_from_the_seller_and_fee(
    api: Api, services
) -> None:
    deal = await captured(api, services)
    await complete(api, deal)
    await services.payouts.release_due()
    dispute_id = await provider(services).dispute(deal.intent_id, 5_000)
    await deliver(api, services)
    frozen = 5_000 - fee_part(5_000)
    assert await buckets(services, deal.owner) == {"available": NET - frozen, "disputed": frozen}
    await provider(services).close_dispute(dispute_id, won=False)
    [closed] = await deliver(api, services)
    assert closed["state"] == "applied", closed
    assert await buckets(services, deal.owner) == {"available": NET - frozen}
    assert await buckets(services, "platform") == {"fees": fee(PRICE) - fee_part(5_000)}
    assert await buckets(services, "buyers") == {"cards": -PRICE + 5_000}
    assert (await order_now(api, deal))["payment"]["dispute"] == "lost"


async def test_no_refund_gives_back_what_a_lost_dispute_already_returned(
    api: Api, services
) -> None:
    """The card holder's bank took the whole charge back: a refund on top of it would pay the
    buyer twice (Stripe itself refuses to refund a disputed charge)."""
    deal = await captured(api, services)
    dispute_id = await provider(services).dispute(deal.intent_id, PRICE)
    await deliver(api, services)
    await provider(services).close_dispute(dispute_id, won=False)
    await deliver(api, services)
    assert await buckets(services, "buyers") == {}  # the buyer has all their money back
    again = await refund(api, deal.seller, deal, PRICE)
    await deliver(api, services)
    assert await buckets(services, "buyers") == {}, "the buyer was paid back twice"
    assert again.status in (409, 422), again.text


async def test_a_paid_order_not_confirmed_in_time_is_voided(api: Api, services) -> None:
    deal = await authorised(api, services)
    product_id = (await order_now(api, deal))["lines"][0]["product_id"]
    assert await stock(api, product_id, deal.seller) == (0, "reserved")
    # the seller's confirmation window ends (its deadline moved into the past, not slept to)
    await services.store.run_text(
        "MATCH (o:Order {id: $id}) SET o.due_at = o.due_at - $shift",
        {"id": deal.order_id, "shift": 49 * 3600 * 1000},
        write=True,
    )
    fired = await services.deal_timers.run_once()
    assert fired["orders"] == 1
    now = await order_now(api, deal)
    assert (now["status"], now["cancelled_by"]) == ("cancelled", "system")
    node = await payment_node(services, deal.order_id)
    assert (node["status"], node["owed"], node["refund_id"]) == ("cancelled", None, None)
    assert await stock(api, product_id, deal.seller) == (1, "active")
    [voided] = await deliver(api, services)  # the provider's payment_intent.canceled
    assert voided["state"] == "stale"
    assert await entries(services) == []  # nothing was ever taken
    assert await provider(services).take() == []  # and nothing refunded
    assert (await confirm(api, deal)).status == 409


async def test_a_lapsed_authorisation_cancels_the_order(api: Api, services) -> None:
    deal = await authorised(api, services)
    product_id = (await order_now(api, deal))["lines"][0]["product_id"]
    await provider(services).expire(deal.intent_id)
    [outcome] = await deliver(api, services)
    assert outcome["state"] == "applied", outcome
    now = await order_now(api, deal)
    assert (now["status"], now["cancelled_by"]) == ("cancelled", "provider")
    assert (await payment_node(services, deal.order_id))["status"] == "cancelled"
    assert await stock(api, product_id, deal.seller) == (1, "active")
    assert await entries(services) == []
    assert (await confirm(api, deal)).status == 409


async def test_the_schedule_pays_out_every_onboarded_seller_with_enough(api: Api, services) -> None:
    ready = await captured(api, services)
    waiting = await captured(api, services)  # not onboarded
    small = await captured(api, services, price={"amount": 100, "currency": "EUR"})
    small_net = 100 - fee(100)
    assert small_net < MINIMUM
    for deal in (ready, waiting, small):
        await complete(api, deal)
    assert await services.payouts.release_due() == 3
    ready_account = await onboard(api, services, ready.seller)
    small_account = await onboard(api, services, small.seller)

    assert await services.payouts.pay_out_due() == 1
    assert await buckets(services, ready.owner) == {"paid": NET}
    assert await buckets(services, waiting.owner) == {"available": NET}
    assert await buckets(services, small.owner) == {"available": small_net}
    assert await provider(services).account_balance(ready_account, "EUR") == NET
    assert await provider(services).account_balance(small_account, "EUR") == 0
    [scheduled] = (await get(api, "/v1/users/me/payouts", ready.seller))["items"]
    assert (scheduled["trigger"], scheduled["status"]) == ("schedule", "paid")

    await onboard(api, services, waiting.seller)
    assert await services.payouts.pay_out_due() == 1
    assert await buckets(services, waiting.owner) == {"paid": NET}
    assert await services.payouts.pay_out_due() == 0


async def test_sellers_never_onboarded_do_not_starve_the_schedule(api: Api, services) -> None:
    """The schedule reads a batch of due accounts at a time: a seller who never finishes
    onboarding stays due for ever, and must not keep one who did from being paid."""
    deals = sorted([await captured(api, services) for _ in range(2)], key=lambda d: d.owner)
    for deal in deals:
        await complete(api, deal)
    await services.payouts.release_due()
    await onboard(api, services, deals[1].seller)  # the first in the accounts' order is not
    assert await services.payouts.pay_out_due(batch=1) == 1
    assert await buckets(services, deals[1].owner) == {"paid": NET}


async def test_balances_are_per_currency_and_a_payout_moves_one(api: Api, services) -> None:
    seller, buyer, stranger, table = await parties(api)
    lamp = await listing(
        api, seller, title="Brass lamp", price={"amount": 20_000, "currency": "USD"}
    )
    deals = [await authorise(api, services, (seller, buyer, stranger), p) for p in (table, lamp)]
    for deal in deals:
        await capture(api, services, deal)
        await complete(api, deal)
    assert deals[1].currency == "USD"
    assert await services.payouts.release_due() == 2
    usd_net = 20_000 - fee(20_000)
    assert (await balance(api, seller))["balances"] == [
        row("EUR", available=NET),
        row("USD", available=usd_net),
    ]
    assert await buckets(services, "platform", "USD") == {"fees": fee(20_000)}
    account_id = await onboard(api, services, seller)

    made = await payout(api, seller, "EUR")
    assert made.status == 201 and made.json["amount"] == {"amount": NET, "currency": "EUR"}
    assert (await balance(api, seller))["balances"] == [
        row("EUR", paid=NET),
        row("USD", available=usd_net),
    ]
    assert await provider(services).account_balance(account_id, "USD") == 0
    dollars = await payout(api, seller, "USD")
    assert dollars.status == 201, dollars.text
    assert dollars.json["amount"] == {"amount": usd_net, "currency": "USD"}
    assert await provider(services).account_balance(account_id, "EUR") == NET
    assert await provider(services).account_balance(account_id, "USD") == usd_net
    report = await services.ledger.check()
    assert {c["currency"]: c["total"] for c in report["currencies"]} == {"EUR": 0, "USD": 0}


async def test_the_check_catches_a_balance_that_drifted_from_its_postings(
    api: Api, services
) -> None:
    deal = await captured(api, services)
    assert (await services.ledger.check())["ok"] is True
    key = f"{deal.owner}/pending/EUR"
    nudge = "MATCH (a:Account {key: $key}) SET a.balance = a.balance + $by"
    await services.store.run_text(nudge, {"key": key, "by": 1}, write=True)
    report = await services.ledger.check()
    assert report["ok"] is False
    assert report["drifted"] == [{"key": key, "balance": NET + 1, "posted": NET}]
    assert report["unbalanced"] == [] and report["mismatched"] == []
    assert report["currencies"][0]["total"] == 1
    await services.store.run_text(nudge, {"key": key, "by": -1}, write=True)  # restored
    assert (await services.ledger.check())["ok"] is True
