"""A deleted or suspended account's deals end through the deal machine, on both backends: each
open order is cancelled by its table's `cancel` row (units back, payment voided or refunded
through the local provider), each open offer withdrawn, with the Event, the room line and the
outbox record a cancel writes; nothing stays reserved; a crash between the account's statement
and its deals is finished by the deal scheduler; reinstating brings the listings back, not the
deals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from graph.accounts.ending import mark_params
from graph.accounts.lifecycle import DELETE_ACCOUNT
from graph.infra.ids import event
from tests.conftest import Api, read
from tests.test_catalog_api import listing
from tests.test_deals_api import offer, order, parties
from tests.test_payments import card, deliver, payment_node

PASSWORD = "correct horse battery"
OPEN = ["placed", "payment_pending", "paid", "confirmed"]


async def me(api: Api, token: str) -> str:
    return str((await api.call("get", "/v1/users/me", token)).json["id"])


async def held(services, product_id: str) -> tuple[int, str]:
    """The listing's units left and status, read in the graph (its owner may be gone)."""
    [row] = await read(
        services,
        "MATCH (p:Product {id: $id}) RETURN p.quantity AS q, p.status AS s",
        id=product_id,
    )
    return row["q"], row["s"]


async def nothing_held(services) -> None:
    """No order still holds units, no listing is reserved, no offer is open."""
    left = await read(
        services,
        "MATCH (o:Order) WHERE o.status IN $open RETURN o.id AS id, o.status AS status",
        open=OPEN,
    )
    assert left == []
    reserved = await read(services, "MATCH (p:Product {status: 'reserved'}) RETURN p.id AS id")
    assert reserved == []
    offers = await read(services, "MATCH (f:Offer {status: 'open'}) RETURN f.id AS id")
    assert offers == []


async def cancel_events(services, order_id: str) -> list[dict[str, Any]]:
    rows = await read(
        services,
        "MATCH (e:Event {subject_id: $id, type: 'order.cancelled'}) "
        "RETURN e.actor_id AS actor, e.data AS data",
        id=order_id,
    )
    return [{"actor": r["actor"], **json.loads(r["data"])["facts"]} for r in rows]


async def outbox_of(services, subject_id: str) -> list[list[str]]:
    rows = await read(
        services,
        "MATCH (ob:Outbox {subject_id: $id}) WHERE ob.text CONTAINS 'account' "
        "RETURN ob.recipients AS recipients",
        id=subject_id,
    )
    return [r["recipients"] for r in rows]


async def status(services, order_id: str) -> tuple[str, str | None]:
    """The order's status and who cancelled it, as the service reads it for anyone."""
    row = await services.orders.get(None, order_id)
    return row["status"], row["cancelled_by"]


async def due_now(services, user_id: str, **mark: Any) -> None:
    """A minute has passed since the account was marked (`mark`: the mark itself)."""
    sets = "".join(f", u.{k} = ${k}" for k in mark)
    await services.store.run_text(
        "MATCH (u:User {id: $id}) SET u.deals_end_due_at = 0" + sets,
        {"id": user_id, **mark},
        write=True,
    )


async def delete(api: Api, token: str) -> None:
    gone = await api.call("delete", "/v1/users/me", token, json={"password": PASSWORD})
    assert gone.status == 204, gone.text


async def suspend(api: Api, services, user_id: str) -> None:
    _, reporter = await api.signup(display_name="Reporter")
    filed = await api.call(
        "post", "/v1/reports", reporter, json={"target": "user", "id": user_id, "reason": "scam"}
    )
    assert filed.status == 201, filed.text
    decided = await services.moderation.resolve(filed.json["id"], "suspend", "mod_ann", "scam")
    assert decided["applied"] == 1


async def test_a_deleted_buyers_order_gives_its_stock_back_and_the_seller_is_told(
    api: Api, services
) -> None:
    seller, buyer, stranger, chair = await parties(api, title="One-off chair")
    _, _, _, lamp = await parties(api, title="Lamp", quantity=3)
    buyer_id, seller_id = await me(api, buyer), await me(api, seller)
    placed = (await order(api, buyer, chair["id"])).json
    two = (await order(api, buyer, lamp["id"], 2)).json
    lamp_seller = (await api.call("get", f"/v1/products/{lamp['id']}")).json["seller"]["id"]
    assert two["status"] == "placed"
    assert await held(services, chair["id"]) == (0, "reserved")
    assert await held(services, lamp["id"]) == (1, "active")
    table = await parties(api, title="Table")
    made = (await offer(api, buyer, table[3]["id"], 9_000)).json
    assert made["status"] == "open"

    await delete(api, buyer)

    # cancelled through the machine: cancelled_by says why, the units are back
    for o in (placed, two):
        assert await status(services, o["id"]) == ("cancelled", "deleted")
        [ev] = await cancel_events(services, o["id"])
        assert (ev["actor"], ev["event"], ev["role"], ev["source"], ev["cancelled_by"]) == (
            buyer_id,
            "cancel",
            "buyer",
            "placed",
            "deleted",
        )
    assert await held(services, chair["id"]) == (1, "active")
    assert await held(services, lamp["id"]) == (3, "active")
    # the listing can be bought again
    again = await order(api, stranger, chair["id"])
    assert again.status == 201, again.text
    # the offer is withdrawn and its room is free for a new one
    withdrawn = (await api.call("get", f"/v1/offers/{made['id']}", table[0])).json
    assert withdrawn["status"] == "withdrawn"
    # only the sellers are told (the room line and the outbox record); the buyer is gone
    assert await outbox_of(services, placed["id"]) == [[seller_id]]
    assert await outbox_of(services, two["id"]) == [[lamp_seller]]
    room = await api.call("get", f"/v1/rooms/{placed['room_id']}/messages", seller)
    texts = [m["text"] for m in room.json["items"]]
    assert "Order cancelled: the buyer closed their account" in texts
    marks = await read(
        services,
        "MATCH (u:User {id: $id}) RETURN u.deals_end_at AS at, u.status AS status",
        id=buyer_id,
    )
    assert marks == [{"at": None, "status": "deleted"}]  # every deal ended: the mark is gone
    await api.call("post", f"/v1/orders/{again.json['id']}/cancel", stranger)
    await nothing_held(services)


async def test_a_deletion_interrupted_before_its_deals_is_finished_by_the_worker(
    api: Api, services
) -> None:
    _, buyer, _, chair = await parties(api, title="One-off chair")
    buyer_id = await me(api, buyer)
    placed = (await order(api, buyer, chair["id"])).json
    # the process dies right after the account's statement: the mark is all there is
    params = {"user_id": buyer_id, "tombstone": "deleted_crash"}
    assert await services.store.run(DELETE_ACCOUNT, params | event() | mark_params("deleted"))
    assert await held(services, chair["id"]) == (0, "reserved")
    # within the grace the request's own ending is left alone
    assert (await services.deal_timers.run_once())["endings"] == 0
    await due_now(services, buyer_id)
    fired = await services.deal_timers.run_once()
    assert (fired["endings"], fired["lost"]) == (1, 0)
    assert await status(services, placed["id"]) == ("cancelled", "deleted")
    assert await held(services, chair["id"]) == (1, "active")
    # done once: the mark is cleared and nothing fires again
    assert (await services.deal_timers.run_once())["endings"] == 0
    assert len(await cancel_events(services, placed["id"])) == 1
    await nothing_held(services)


@pytest.mark.usefixtures("ledger_checked")
class TestPaidOrders:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"order_payment": True, "order_payment_seconds": 600.0}

    async def paid(self, api: Api, services, buyer: str, product_id: str) -> dict[str, Any]:
        made = (await order(api, buyer, product_id)).json
        assert (await card(api, buyer, made["payment"]["id"])).status == 200
        await deliver(api, services)
        assert (await payment_node(services, made["id"]))["status"] == "authorized"
        return made

    async def captured(
        self, api: Api, services, seller: str, buyer: str, product_id: str
    ) -> dict[str, Any]:
        """Authorised, confirmed by the seller, captured: the buyer's money is taken."""
        made = await self.paid(api, services, buyer, product_id)
        done = await api.call("post", f"/v1/orders/{made['id']}/confirm", seller)
        assert done.json["status"] == "confirmed"
        await deliver(api, services)
        assert (await payment_node(services, made["id"]))["status"] == "succeeded"
        return made

    async def refunded(self, api: Api, services, order_id: str) -> None:
        node = await payment_node(services, order_id)
        assert node["status"] == "refunding" and node["refund_id"].startswith("re_local_")
        assert node["owed"] is None  # the provider took the refund, keyed by the purpose
        await deliver(api, services)  # the provider's refund webhook
        assert (await payment_node(services, order_id))["status"] == "refunded"

    async def test_a_paid_order_to_a_deleted_seller_is_refunded(self, api: Api, services) -> None:
        seller, buyer, _, chair = await parties(api, title="One-off chair")
        _, _, _, lamp = await parties(api, title="Lamp")
        vase = await listing(api, seller, title="Vase")
        paid = await self.captured(api, services, seller, buyer, chair["id"])
        held_only = await self.paid(api, services, buyer, vase["id"])  # authorised, not taken
        pending = (await order(api, buyer, lamp["id"])).json  # another seller: untouched
        await delete(api, seller)

        assert await status(services, paid["id"]) == ("cancelled", "deleted")
        await self.refunded(api, services, paid["id"])
        [ev] = await cancel_events(services, paid["id"])
        assert (ev["role"], ev["source"], ev["cancelled_by"]) == ("seller", "confirmed", "deleted")
        # the order only authorised is voided: nothing was taken, nothing to refund
        assert await status(services, held_only["id"]) == ("cancelled", "deleted")
        voided = await payment_node(services, held_only["id"])
        assert (voided["status"], voided["refund_id"]) == ("cancelled", None)
        assert await held(services, chair["id"]) == (1, "deleted")  # back, on a removed listing
        # the buyer is told, the seller is not
        assert await outbox_of(services, paid["id"]) == [[await me(api, buyer)]]
        assert await status(services, pending["id"]) == ("payment_pending", None)
        await api.call("post", f"/v1/orders/{pending['id']}/cancel", buyer)
        await nothing_held(services)

    async def test_a_suspended_sellers_orders_are_cancelled_and_refunded_and_offers_withdrawn(
        self, api: Api, services
    ) -> None:
        seller, buyer, stranger, chair = await parties(api, title="One-off chair")
        seller_id = await me(api, seller)
        lamp = (await parties(api, title="Lamp"))[3]  # someone else's, for contrast
        vase = await listing(api, seller, title="Vase", quantity=5)
        stool = await listing(api, seller, title="Stool")
        confirmed = await self.captured(api, services, seller, buyer, chair["id"])
        pending = (await order(api, stranger, vase["id"], 2)).json  # not paid yet
        bid = (await offer(api, buyer, stool["id"], 5_000)).json
        countered = await api.call(
            "post", f"/v1/offers/{bid['id']}/counter", seller, json={"amount": 6_000}
        )
        assert countered.json["made_by"] == "seller"  # the seller's own offer on the table
        assert await held(services, vase["id"]) == (3, "active")

        await suspend(api, services, seller_id)

        assert await status(services, confirmed["id"]) == ("cancelled", "suspended")
        [ev] = await cancel_events(services, confirmed["id"])
        assert (ev["role"], ev["source"], ev["cancelled_by"]) == (
            "seller",
            "confirmed",
            "suspended",
        )
        await self.refunded(api, services, confirmed["id"])
        assert await status(services, pending["id"]) == ("cancelled", "suspended")
        assert (await payment_node(services, pending["id"]))["status"] == "cancelled"
        withdrawn = (await api.call("get", f"/v1/offers/{countered.json['id']}", buyer)).json
        assert withdrawn["status"] == "withdrawn"
        assert await held(services, chair["id"]) == (1, "active")
        assert await held(services, vase["id"]) == (5, "active")
        await nothing_held(services)
        room = await api.call("get", f"/v1/rooms/{confirmed['room_id']}/messages", buyer)
        assert room.status == 404  # hidden with the suspended account, as before

        # reinstated: the listings are back with their units, the deals stay cancelled
        await services.moderation.reinstate(seller_id, "mod_ann", "appeal upheld")
        browse = (await api.call("get", "/v1/products?limit=50")).json["items"]
        assert {chair["id"], vase["id"], stool["id"], lamp["id"]} <= {p["id"] for p in browse}
        for o in (confirmed, pending):
            assert await status(services, o["id"]) == ("cancelled", "suspended")
        fresh = await order(api, buyer, chair["id"])
        assert fresh.status == 201, fresh.text
        # a deal made after the reinstatement is none of the suspension's business, even
        # when its ending is finished late (a crash left the mark)
        before = int((await services.orders.get(None, fresh.json["id"]))["created_at"]) - 1
        await due_now(services, seller_id, deals_end_reason="suspended", deals_end_at=before)
        assert (await services.deal_timers.run_once())["endings"] == 1
        assert await status(services, fresh.json["id"]) == ("payment_pending", None)
