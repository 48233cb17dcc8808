"""Orders: placed with their stock taken in the same statement, moved through the ORDER table
by one compare-and-set statement, timers fired by the scheduler, both parties told.

Stock: `Product.quantity` is what is still available. Placing decrements it only if enough is
left; cancelling gives the order's units back; a listing with nothing left is `reserved`
while orders hold it, and `sold` once they are completed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from graph.catalog import Changed
from graph.deals import shapes
from graph.deals.common import Pushes, Why, announce, both_sides, due_timers, ended_text
from graph.deals.machine import ORDER, ORDER_PAYMENT_INITIAL
from graph.infra.errors import Conflict, Forbidden, Invalid, NotFound
from graph.infra.ids import event, new_id, now_ms
from graph.infra.machine import Timers, Transition, allowed, open_events, refused
from graph.infra.money import money_text
from graph.infra.store import GraphStore, Statement, statement
from graph.messaging import (
    ROOM_MERGE,
    room_params,
    system_params,
)
from graph.notify import SAVERS_OUTBOX, savers
from graph.payments import PaymentService, owe_params, owe_payment

Role = Literal["buyer", "seller"]
MAX_QUANTITY = 1000

# Where a listing stands, to explain a refused offer or order precisely.
LISTING_STATE = statement(
    "deals.listing_state",
    """
    OPTIONAL MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
    OPTIONAL MATCH (buyer:User {id: $buyer_id})
    WITH p, seller, buyer,
         CASE WHEN buyer IS NULL OR seller IS NULL THEN 0
              ELSE size([(buyer)-[b:BLOCKED]-(seller) | b]) END AS blocks
    RETURN p IS NOT NULL AND p.status <> 'deleted' AND seller.status = 'active'
             AND blocks = 0 AS visible,
           seller.id AS seller_id, p.status AS status, p.quantity AS quantity,
           p.price AS price, p.currency AS currency, p.expires_at AS expires_at,
           p.title AS title,
           buyer IS NOT NULL AND buyer.status = 'active' AS buyer_active
    """,
)


def order_create(event_id: str, event_data: str) -> str:
    """Creates order `o` for `$quantity` of `p` at `unit` (bound), from `buyer` to `seller` in
    room `r`, taking the units, with its 'order.placed' Event (`event_id`, `event_data`: the
    statement's own, or a by-product's); the caller has checked there are enough after taking
    the lock."""
    return (
        """
WITH buyer, seller, p, r, unit, p.quantity - $quantity AS left
SET p.quantity = left, p.updated_at = $now,
    p.status = CASE WHEN left = 0 THEN 'reserved' ELSE p.status END
CREATE (buyer)-[:PLACED]->(o:Order {id: $order_id, status: $order_status, quantity: $quantity,
                                    amount: unit * $quantity, currency: p.currency,
                                    buyer_id: buyer.id, seller_id: seller.id, room_id: r.id,
                                    offer_id: $offer_id, created_at: $now, updated_at: $now,
                                    due_at: $due_at, due_event: $due_event})
CREATE (o)-[:OF {quantity: $quantity, unit_price: unit}]->(p)
CREATE (:Event {id: """
        + event_id
        + """, type: 'order.placed', at: $now, actor_id: buyer.id,
                subject_id: $order_id, data: """
        + event_data
        + """})
"""
    )


PLACE = statement(
    "orders.place",
    """
    MATCH (buyer:User {id: $buyer_id}) WHERE buyer.status = 'active'
    MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
    WHERE seller.status = 'active' AND seller.id <> buyer.id AND NOT (buyer)-[:BLOCKED]-(seller)
    // write before reading the stock: on Neo4j this takes the listing's write lock, so orders
    // racing for the last units queue up here and each reads what the one before it left
    // (FalkorDB runs one write at a time anyway)
    SET p.stock_checked_at = $now
    WITH buyer, seller, p
    WHERE p.status = 'active' AND p.expires_at > $now AND p.quantity >= $quantity
    WITH buyer, seller, p
    """
    + ROOM_MERGE
    + "WITH buyer, seller, p, r, p.price AS unit\n"
    + order_create("$event_id", "$event_data")
    + announce(),
    write=True,
)

ENDED = sorted(ORDER.terminal)

MOVE = statement(
    "orders.move",
    """
    MATCH (o:Order {id: $id})
    SET o.locked_at = $now
    WITH o
    WHERE o.status = $source
      AND (($role = 'buyer' AND o.buyer_id = $actor_id)
           OR ($role = 'seller' AND o.seller_id = $actor_id)
           OR ($role = 'system' AND o.due_event = $event AND o.due_at <= $now)
           OR $role = 'provider')
    SET o.status = $target, o.updated_at = $now, o.due_at = $due_at, o.due_event = $due_event,
        o.confirmed_at = CASE WHEN $target = 'confirmed' THEN $now ELSE o.confirmed_at END,
        o.completed_at = CASE WHEN $target = 'completed' THEN $now ELSE o.completed_at END,
        o.cancelled_at = CASE WHEN $target = 'cancelled' THEN $now ELSE o.cancelled_at END,
        o.cancelled_by = CASE WHEN $target = 'cancelled' THEN coalesce($cancelled_by, $role)
                              ELSE o.cancelled_by END
    WITH o
    MATCH (o)-[line:OF]->(p:Product)
    WITH o, line, p,
         size([(p)<-[:OF]-(other:Order) WHERE NOT other.status IN $ended | other]) AS holding
    FOREACH (_ IN CASE WHEN $restock THEN [1] ELSE [] END |
      SET p.quantity = p.quantity + line.quantity, p.updated_at = $now,
          p.status = CASE WHEN p.status = 'reserved' THEN 'active' ELSE p.status END)
    // done: a listing with nothing left and no other order holding it is sold
    FOREACH (_ IN CASE WHEN $complete AND p.quantity = 0 AND p.status = 'reserved'
                        AND holding = 0 THEN [1] ELSE [] END |
      SET p.status = 'sold', p.sold_at = $now, p.updated_at = $now
      // the people who saved it hear it is sold
    """
    + SAVERS_OUTBOX
    + """)
    WITH o, collect(p.id) AS products
    """
    + owe_payment("products")
    + """
    MATCH (r:Room) WHERE r.id = o.room_id
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: $actor_id,
                    subject_id: o.id, data: $event_data})
    """
    + announce("products, owed_payment"),
    write=True,
)

# The order as either party sees it; expects `o`.
ORDER_VIEW = """
MATCH (b:User)-[:PLACED]->(o)-[line:OF]->(p:Product)<-[:LISTED]-(s:User)
WITH o, b, s, collect({product_id: p.id, title: p.title, quantity: line.quantity,
                       unit_price: line.unit_price}) AS lines
OPTIONAL MATCH (pay:Payment)-[:FOR]->(o)
WITH o, b, s, lines, pay
RETURN o.id AS id, o.status AS status, o.amount AS amount, o.currency AS currency,
       o.quantity AS quantity, o.room_id AS room_id, o.offer_id AS offer_id,
       o.created_at AS created_at, o.updated_at AS updated_at,
       o.confirmed_at AS confirmed_at, o.completed_at AS completed_at,
       o.cancelled_at AS cancelled_at, o.cancelled_by AS cancelled_by,
       o.due_at AS due_at, o.due_event AS due_event,
       b.id AS buyer_id, b.handle AS buyer_handle, b.display_name AS buyer_name,
       s.id AS seller_id, s.handle AS seller_handle, s.display_name AS seller_name, lines,
       pay.id AS payment_id, pay.status AS payment_status, pay.provider AS payment_provider,
       pay.client_secret AS payment_secret,
       pay.refunded_amount AS payment_refunded, pay.dispute_status AS payment_dispute
"""

GET = statement(
    "orders.get",
    """
    MATCH (o:Order {id: $id})
    WHERE o.buyer_id = $user_id OR o.seller_id = $user_id OR $user_id IS NULL
    WITH o
    """
    + ORDER_VIEW,
)


def _listing(field: str) -> Statement:
    return statement(
        f"orders.list_{field.removesuffix('_id')}",
        """
        MATCH (o:Order)
        WHERE o."""
        + field
        + """ = $user_id AND ($status IS NULL OR o.status = $status)
          AND ($after_id IS NULL OR o.created_at < $after
               OR (o.created_at = $after AND o.id < $after_id))
        WITH o ORDER BY o.created_at DESC, o.id DESC LIMIT $limit
        """
        + ORDER_VIEW
        + "ORDER BY created_at DESC, id DESC",
    )


# one statement per side: each reads its own index (fields from this fixed pair only)
LIST = {"buyer": _listing("buyer_id"), "seller": _listing("seller_id")}


DUE = due_timers("Order")

_TEXT = {
    "placed": "Order placed: {quantity} × {title} for {amount}",
    "confirmed": "The seller confirmed the order",
    "completed": "Order completed",
    "cancelled": "Order cancelled by the {who}",
    "paid": "Payment received: the order is paid",
}
_EVENT_TEXT = {
    "expire": "Order cancelled: the seller did not confirm it in time",
    "unpaid": "Order cancelled: it was not paid in time",
    "refunded": "Order cancelled: the payment was refunded",
}


class OrderService:
    def __init__(
        self,
        store: GraphStore,
        timers: Timers,
        pushes: Pushes,
        changed: Changed,
        payments: PaymentService,
    ) -> None:
        self._store = store
        self._timers = timers
        self._pushes = pushes
        self._changed = changed
        self._payments = payments
        payments.register("order", self)

    def opening(self) -> dict[str, Any]:
        """Where a new order starts, and its timer: `payment_pending` when orders are paid by
        card (`VENDR_ORDER_PAYMENT`), else `placed`."""
        state = ORDER_PAYMENT_INITIAL if self._timers.settings.order_payment else ORDER.initial
        due_at, due_event = self._timers.due(ORDER, state)
        return {"order_status": state, "due_at": due_at, "due_event": due_event}

    async def place(self, buyer_id: str, product_id: str, quantity: int) -> dict[str, Any]:
        if not 1 <= quantity <= MAX_QUANTITY:
            raise Invalid(
                f"quantity is 1 to {MAX_QUANTITY}", errors={"quantity": f"1 to {MAX_QUANTITY}"}
            )
        state = await self.listing_state(buyer_id, product_id)
        order_id = new_id()
        text = _TEXT["placed"].format(
            quantity=quantity,
            title=state["title"],
            amount=money_text(int(state["price"]) * quantity, state["currency"]),
        )
        params = {
            "buyer_id": buyer_id,
            "product_id": product_id,
            "quantity": quantity,
            "order_id": order_id,
            "offer_id": None,
            **self.opening(),
            "actor_id": buyer_id,
            **room_params(buyer_id, product_id),
            **system_params(text, {"event": "order.placed", "order_id": order_id}),
            **event(),
        }
        rows = await self._store.run(PLACE, params)
        if not rows:
            await self.explain_refusal(buyer_id, product_id, quantity)
        await self._pushes.room_changed(rows[0]["room_id"])
        return await self.tell(rows[0], [product_id])

    async def listing_state(self, buyer_id: str, product_id: str) -> dict[str, Any]:
        """The listing as a deal sees it; 404 when it is gone, hidden, or the buyer's own."""
        rows = await self._store.run(
            LISTING_STATE, {"product_id": product_id, "buyer_id": buyer_id}
        )
        state = rows[0] if rows else {}
        if not state.get("visible") or not state.get("buyer_active"):
            raise NotFound("no such listing")
        if state["seller_id"] == buyer_id:
            raise Invalid("this is your own listing", errors={"product_id": "your own"})
        return state

    async def explain_refusal(self, buyer_id: str, product_id: str, quantity: int) -> None:
        """Why a deal on this listing did not go through, read after the fact."""
        state = await self.listing_state(buyer_id, product_id)
        left = int(state["quantity"] or 0)
        if state["status"] != "active" or int(state["expires_at"] or 0) <= now_ms():
            status = state["status"] if state["status"] != "active" else "expired"
            raise Conflict(
                f"the listing is {status}",
                errors={"product_id": status},
                extra={"state": status, "available": 0},
            )
        if left < quantity:
            raise Conflict(
                f"only {left} left",
                errors={"quantity": f"{left} left"},
                extra={"state": "active", "available": left},
            )
        raise Conflict("the listing changed while the order was placed; try again")

    async def act(self, user_id: str, order_id: str, name: str) -> dict[str, Any]:
        """A party fires `name` (confirm, complete, cancel): 404 for strangers, 409 when the
        order's state does not allow it or the other party moved first."""
        order = await self.get(user_id, order_id)
        role: Role = "buyer" if order["buyer_id"] == user_id else "seller"
        transition = ORDER.find(order["status"], name)
        if transition is None or not allowed(transition, role=role):
            raise self._refused(order, name, role)
        moved = await self._move(order, transition, actor_id=user_id, role=role)
        if moved is None:  # the other party or a timer moved first
            raise self._refused(await self.get(user_id, order_id), name, role)
        return moved

    async def fire(self, order_id: str, status: str, name: str) -> bool:
        """A timer: fires only if the order is still where the timer was set; else nothing."""
        transition = ORDER.find(status, name)
        if transition is None or "system" not in transition.who:
            return False
        order = {"id": order_id, "status": status}
        return await self._move(order, transition, actor_id="system", role="system") is not None

    async def due(self, now: int, batch: int) -> list[dict[str, Any]]:
        return await self._store.run(DUE, {"now": now, "batch": batch})

    async def end(self, order_id: str, status: str, party: str, side: Role, why: Why) -> bool:
        """The account of `party` (the order's `side`) was deleted or suspended (`why`): the
        order takes the table's `cancel` row from `status`, whichever side may cancel there
        otherwise (its stock back, its payment voided or refunded); `cancelled_by` says why,
        and only the other party is told."""
        transition = ORDER.find(status, "cancel")
        if transition is None:
            return False
        order = {"id": order_id}
        return await self._move(order, transition, actor_id=party, role=side, why=why) is not None

    async def _move(
        self,
        order: dict[str, Any],
        t: Transition,
        *,
        actor_id: str,
        role: str,
        why: Why | None = None,
    ) -> dict[str, Any] | None:
        """Apply `t`; the order as it now is, or None when it was no longer in `t.source`.
        With `why`, the actor's account ended: the reason is kept and they are not told."""
        due_at, due_event = self._timers.due(ORDER, t.target)
        text = (
            ended_text("Order cancelled", role, why)
            if why
            else _EVENT_TEXT.get(t.event) or _TEXT[t.target].format(who=role)
        )
        params = {
            "id": order["id"],
            "source": t.source,
            "target": t.target,
            "event": t.event,
            "role": role,
            "actor_id": actor_id,
            "restock": t.restock,
            "complete": t.complete,
            # every order not ended holds its units (paid and payment_pending ones too)
            "ended": ENDED,
            "due_at": due_at,
            "due_event": due_event,
            "cancelled_by": why,
            "event_type": f"order.{t.target}",
            **system_params(text, {"event": f"order.{t.target}", "order_id": order["id"]}),
            **savers("saved.sold", actor_id),
            **event(),
            **owe_params(
                t.payment,
                # the seller's share is released after a hold once the order is done
                release_at=now_ms() + int(self._timers.settings.payout_hold_seconds * 1000)
                if t.complete
                else None,
            ),
        }
        rows = await self._store.run(MOVE, params)
        if not rows:
            return None
        await self._pushes.room_changed(rows[0]["room_id"])  # before the payment's settling
        if rows[0]["owed_payment"]:  # a void or a refund, decided with the move
            await self._payments.settle(rows[0]["owed_payment"])
        products = rows[0]["products"] if t.restock or t.complete else []
        return await self.tell(rows[0], products, quiet=actor_id if why else None)

    # ---- the payment's purpose -------------------------------------------------------------

    async def provider_fires(self, order_id: str, name: str) -> bool:
        """The provider's verified webhook moves the order (paid, refunded) from wherever it
        is, if the table has that move there."""
        order = await self.get(None, order_id)
        transition = ORDER.find(order["status"], name)
        if transition is None or "provider" not in transition.who:
            return False
        moved = await self._move(order, transition, actor_id="provider", role="provider")
        return moved is not None

    async def paid(self, subject_id: str) -> bool:
        """The card was authorised (or charged): an order waiting for it is paid; one paid,
        confirmed or completed already keeps the money (its capture); a cancelled one not."""
        if await self.provider_fires(subject_id, "pay"):
            return True
        order = await self.get(None, subject_id)
        if order["status"] in ("paid", "confirmed", "completed"):
            await self.payment_changed(subject_id)
            return True
        return False

    async def voided(self, subject_id: str) -> None:
        if not await self.provider_fires(subject_id, "voided"):
            await self.payment_changed(subject_id)

    async def refunded(self, subject_id: str) -> None:
        if not await self.provider_fires(subject_id, "refunded"):
            await self.payment_changed(subject_id)  # cancelled already: the payment's state

    async def refund_part(
        self, user_id: str, order_id: str, amount: int, reason: str
    ) -> dict[str, Any]:
        """The seller gives part of a captured order's money back (a damaged item, a missing
        part): 404 for strangers, 403 for the buyer, 409 when there is nothing captured."""
        order = await self.get(user_id, order_id)
        if order["seller_id"] != user_id:
            raise Forbidden("only the seller refunds an order")
        if not order.get("payment_id"):
            raise Conflict("this order was not paid by card", errors={"payment": "none"})
        payment = await self._payments.get(order["payment_id"])
        await self._payments.ask_refund(payment, amount, actor_id=user_id, reason=reason)
        await self.payment_changed(order_id)
        return await self.get(user_id, order_id)

    async def payment_changed(self, subject_id: str) -> None:
        order = await self.get(None, subject_id)
        await self._pushes.send(
            "order.updated", shapes.order(order), [order["buyer_id"], order["seller_id"]]
        )

    async def ensure_payment(self, order: dict[str, Any]) -> dict[str, Any]:
        """An order waiting for its payment has one, with the provider's intent (opened once;
        a retry after a provider failure asks again with the same key)."""
        if order["status"] != ORDER_PAYMENT_INITIAL or (
            order.get("payment_id") and order.get("payment_status") != "new"
        ):
            return order
        await self._payments.start(
            "order", order["id"], order["buyer_id"], ORDER_PAYMENT_INITIAL, order["seller_id"]
        )
        return await self.get(None, order["id"])

    async def tell(
        self, row: dict[str, Any], products: list[str], quiet: str | None = None
    ) -> dict[str, Any]:
        """After a write that placed or moved order `row["id"]`: listings whose stock changed
        go to browse and the pools, both parties (but `quiet`) get the order and the room's new
        line. The order as read for them (the caller answers with it too)."""
        parties = [p for p in (row["buyer_id"], row["seller_id"]) if p != quiet]
        if products:
            await self._changed(products)
        order = await self.ensure_payment(await self.get(None, row["id"]))
        await asyncio.gather(
            self._pushes.send("order.updated", shapes.order(order), parties),
            self._pushes.system_message(row, parties),
        )
        return order

    def _refused(self, order: dict[str, Any], name: str, role: str) -> Conflict:
        state = order["status"]
        return refused(
            f"cannot {name} a {state} order", state, open_events(ORDER, state, role=role)
        )

    async def get(self, user_id: str | None, order_id: str) -> dict[str, Any]:
        rows = await self._store.run(GET, {"id": order_id, "user_id": user_id})
        if not rows:
            raise NotFound("no such order")
        return rows[0]

    async def list(
        self,
        user_id: str,
        role: Role | None,
        status: str | None,
        cursor: tuple[int, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        return await both_sides(self._store, LIST, user_id, role, status, cursor, limit)
