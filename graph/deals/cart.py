"""The cart: lines are `IN_CART {quantity}` edges to listings. Checkout turns it into one
order per seller (and currency) and takes every line's stock or none, in one statement.

Checkout reads the cart first to name each line's problem and to price the orders; the write
then re-checks every line against what it read (quantity in the cart, price, stock, status)
after taking the listings' locks, so a cart that changed in between reserves nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from graph.catalog import Changed
from graph.deals import shapes
from graph.deals.common import Pushes
from graph.deals.orders import OrderService
from graph.infra.errors import Conflict, Invalid
from graph.infra.ids import event, new_id, now_ms
from graph.infra.money import money_text
from graph.infra.store import GraphStore, statement
from graph.messaging import system_params

MAX_LINE_QUANTITY = 1000

PUT = statement(
    "cart.put",
    """
    MATCH (me:User {id: $user_id}) WHERE me.status = 'active'
    MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
    WHERE seller.id <> me.id AND seller.status = 'active' AND NOT (me)-[:BLOCKED]-(seller)
      AND p.status = 'active' AND p.expires_at > $now
    WITH me, p, size([(me)-[other:IN_CART]->(:Product) | other]) AS lines,
         size([(me)-[same:IN_CART]->(p) | same]) AS here
    WHERE lines < $max_lines + here
    MERGE (me)-[line:IN_CART]->(p)
      ON CREATE SET line.added_at = $now
    SET line.quantity = $quantity, line.updated_at = $now
    CREATE (:Event {id: $event_id, type: 'cart.line_put', at: $now, actor_id: me.id,
                    subject_id: p.id, data: $event_data})
    RETURN p.id AS id
    """,
    write=True,
)

REMOVE = statement(
    "cart.remove",
    """
    MATCH (me:User {id: $user_id})-[line:IN_CART]->(p:Product {id: $product_id})
    DELETE line
    CREATE (:Event {id: $event_id, type: 'cart.line_removed', at: $now, actor_id: me.id,
                    subject_id: p.id, data: $event_data})
    RETURN p.id AS id
    """,
    write=True,
)

LINES = statement(
    "cart.lines",
    """
    MATCH (me:User {id: $user_id})-[line:IN_CART]->(p:Product)<-[:LISTED]-(seller:User)
    RETURN p.id AS product_id, p.title AS title, p.price AS unit_price, p.currency AS currency,
           p.status AS status, p.quantity AS available, p.expires_at AS expires_at,
           line.quantity AS quantity, line.added_at AS added_at,
           seller.id AS seller_id, seller.handle AS seller_handle,
           seller.display_name AS seller_name, seller.status AS seller_status,
           size([(me)-[b:BLOCKED]-(seller) | b]) > 0 AS blocked,
           [(p)-[hi:HAS_IMAGE]->(i:Image) WHERE hi.pos = 0 | i.id] AS images
    ORDER BY added_at ASC, product_id ASC
    """,
)

CHECKOUT = statement(
    "cart.checkout",
    """
    MATCH (buyer:User {id: $buyer_id}) WHERE buyer.status = 'active'
    UNWIND $lines AS line
    MATCH (buyer)-[c:IN_CART]->(p:Product {id: line.product_id})
    MATCH (seller:User)-[:LISTED]->(p)
    // lines come sorted by listing id: Neo4j takes the listings' locks in one order
    SET p.stock_checked_at = $now
    WITH buyer, line, c, p, seller
    WHERE c.quantity = line.quantity AND p.price = line.unit_price
      AND p.currency = line.currency AND p.status = 'active' AND p.expires_at > $now
      AND p.quantity >= line.quantity AND seller.id = line.seller_id
      AND seller.status = 'active' AND NOT (buyer)-[:BLOCKED]-(seller)
    WITH buyer, collect({line: line, p: p, c: c}) AS ok
    WHERE size(ok) = size($lines)
    // the checkout's Event; each order's 'order.placed' (and a new room's 'room.opened') is
    // its by-product
    CREATE (:Event {id: $event_id, type: 'cart.checked_out', at: $now, actor_id: buyer.id,
                    subject_id: buyer.id, data: $event_data})
    WITH buyer, ok
    // every line holds: take the stock, empty the cart
    UNWIND ok AS item
    WITH buyer, ok, item.line AS line, item.p AS p, item.c AS c
    WITH buyer, ok, line, p, c, p.quantity - line.quantity AS left
    SET p.quantity = left, p.updated_at = $now,
        p.status = CASE WHEN left = 0 THEN 'reserved' ELSE p.status END
    DELETE c
    WITH DISTINCT buyer, ok
    UNWIND $orders AS spec
    MATCH (seller:User {id: spec.seller_id})
    MATCH (first:Product {id: spec.first_product_id})
    MERGE (r:Room {key: spec.room_key})
      ON CREATE SET r.id = spec.room_id, r.created_at = $now, r.last_message_at = $now,
                    r.product_id = first.id, r.buyer_id = buyer.id, r.seller_id = seller.id
    WITH buyer, ok, spec, seller, first, r, r.id = spec.room_id AS room_created
    FOREACH (_ IN CASE WHEN room_created THEN [1] ELSE [] END |
      CREATE (buyer)-[:MEMBER {role: 'buyer', last_read_at: $now, unread: 0}]->(r)
      CREATE (seller)-[:MEMBER {role: 'seller', last_read_at: 0, unread: 0}]->(r)
      CREATE (r)-[:ABOUT]->(first)
      CREATE (:Event {id: spec.room_event_id, type: 'room.opened', at: $now,
                      actor_id: buyer.id, subject_id: spec.room_id, data: '{}'}))
    CREATE (buyer)-[:PLACED]->(o:Order {id: spec.order_id, status: $order_status,
                                        quantity: spec.quantity, amount: spec.amount,
                                        currency: spec.currency, buyer_id: buyer.id,
                                        seller_id: seller.id, room_id: r.id,
                                        created_at: $now, updated_at: $now,
                                        due_at: $due_at, due_event: $due_event})
    CREATE (:Event {id: spec.order_event_id, type: 'order.placed', at: $now, actor_id: buyer.id,
                    subject_id: spec.order_id, data: '{}'})
    CREATE (sys:Message {id: spec.sys_id, room_id: r.id, sender_id: 'system', kind: 'system',
                         body: spec.sys_text, data: spec.sys_data, sent_at: $now})-[:IN]->(r)
    SET r.last_message_at = $now, r.last_message_id = spec.sys_id
    CREATE (:Outbox {id: spec.sys_id, key: 'deal:' + spec.sys_id, kind: 'order',
                     type: 'order.placed', recipients: [seller.id], actor_id: buyer.id,
                     subject_id: spec.order_id, room_id: r.id, text: spec.sys_text,
                     data: spec.sys_data, created_at: $now, pending_at: $now})
    WITH buyer, ok, spec, o, r
    MATCH (seller:User {id: spec.seller_id})-[unread:MEMBER]->(r)
    SET unread.unread = coalesce(unread.unread, 0) + 1
    WITH ok, spec, o, r
    UNWIND ok AS item
    WITH spec, o, r, item
    WHERE item.line.order_id = spec.order_id
    WITH o, r, item.p AS p, item.line AS line
    CREATE (o)-[:OF {quantity: line.quantity, unit_price: line.unit_price}]->(p)
    RETURN DISTINCT o.id AS id, r.id AS room_id
    """,
    write=True,
)


def problem(line: dict[str, Any], now: int) -> dict[str, Any] | None:
    """What stops this line from being ordered, or None."""
    if line["seller_status"] != "active" or line["blocked"] or line["status"] == "deleted":
        return {"problem": "gone", "detail": "the listing is no longer available"}
    if line["status"] != "active" or int(line["expires_at"] or 0) <= now:
        status = line["status"] if line["status"] != "active" else "expired"
        return {"problem": "unavailable", "detail": f"the listing is {status}"}
    available = int(line["available"] or 0)
    if line["quantity"] > available:
        return {
            "problem": "short",
            "detail": f"only {available} left",
            "available": available,
        }
    return None


class CartService:
    def __init__(
        self,
        store: GraphStore,
        orders: OrderService,
        pushes: Pushes,
        changed: Changed,
        max_lines: int,
    ) -> None:
        self._store = store
        self._orders = orders
        self._pushes = pushes
        self._changed = changed
        self._max_lines = max_lines

    async def put(self, user_id: str, product_id: str, quantity: int) -> None:
        if not 1 <= quantity <= MAX_LINE_QUANTITY:
            raise Invalid(
                f"quantity is 1 to {MAX_LINE_QUANTITY}",
                errors={"quantity": f"1 to {MAX_LINE_QUANTITY}"},
            )
        params = {
            "user_id": user_id,
            "product_id": product_id,
            "quantity": quantity,
            "max_lines": self._max_lines,
            **event(),
        }
        if await self._store.run(PUT, params):
            return
        state = await self._orders.listing_state(user_id, product_id)  # 404 / own listing
        if state["status"] != "active" or int(state["expires_at"] or 0) <= now_ms():
            raise Conflict(f"the listing is {state['status']}", errors={"product_id": "inactive"})
        raise Conflict(f"a cart holds at most {self._max_lines} lines", errors={"cart": "full"})

    async def remove(self, user_id: str, product_id: str) -> None:
        await self._store.run(REMOVE, {"user_id": user_id, "product_id": product_id, **event()})

    async def lines(self, user_id: str) -> list[dict[str, Any]]:
        now = now_ms()
        rows = await self._store.run(LINES, {"user_id": user_id})
        for row in rows:
            row["problem"] = problem(row, now)
        return rows

    async def checkout(self, user_id: str) -> list[dict[str, Any]]:
        """One order per seller and currency, every line reserved or none."""
        lines = await self.lines(user_id)
        if not lines:
            raise Conflict("the cart is empty", errors={"cart": "empty"})
        troubled = [_public(line) for line in lines if line["problem"]]
        if troubled:
            raise Conflict(
                "some lines cannot be ordered",
                errors={"cart": f"{len(troubled)} lines"},
                extra={"lines": troubled},
            )
        ev = event()  # first: the checkout's Event orders before its orders'
        specs, params_lines = self._plan(user_id, lines)
        params = {
            "buyer_id": user_id,
            "lines": params_lines,
            "orders": specs,
            **self._orders.opening(),
            **ev,
        }
        rows = await self._store.run(CHECKOUT, params)
        if not rows:  # something changed since the read: say what, reserve nothing
            after = [_public(line) for line in await self.lines(user_id) if line["problem"]]
            raise Conflict(
                "the cart changed while it was checked out; nothing was ordered",
                errors={"cart": "changed"},
                extra={"lines": after},
            )
        await self._pushes.room_changed(*sorted({row["room_id"] for row in rows}))
        await self._changed(sorted({line["product_id"] for line in lines}))
        orders = [
            await self._orders.ensure_payment(await self._orders.get(user_id, spec["order_id"]))
            for spec in specs
        ]
        for spec, order in zip(specs, orders, strict=True):
            parties = [user_id, spec["seller_id"]]
            row = {
                "room_id": order["room_id"],
                "sys_id": spec["sys_id"],
                "sys_text": spec["sys_text"],
                "sys_data": spec["sys_data"],
                "sys_at": params["now"],
            }
            await asyncio.gather(
                self._pushes.send("order.updated", shapes.order(order), parties),
                self._pushes.system_message(row, parties),
            )
        return orders

    @staticmethod
    def _plan(
        user_id: str, lines: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Group the lines into orders and give each its ids, amount and room line."""
        groups: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            groups[(line["seller_id"], line["currency"])].append(line)
        specs, params_lines = [], []
        for (seller_id, currency), group in sorted(groups.items()):
            order_id = new_id()
            amount = sum(int(line["unit_price"]) * int(line["quantity"]) for line in group)
            quantity = sum(int(line["quantity"]) for line in group)
            first = min(line["product_id"] for line in group)
            text = (
                f"Order placed from the cart: {quantity} items for {money_text(amount, currency)}"
            )
            sys = system_params(text, {"event": "order.placed", "order_id": order_id})
            specs.append(
                {
                    "order_id": order_id,
                    "seller_id": seller_id,
                    "currency": currency,
                    "amount": amount,
                    "quantity": quantity,
                    "first_product_id": first,
                    "room_key": f"{first}:{user_id}",
                    "room_id": new_id(),
                    "room_event_id": new_id(),
                    "order_event_id": new_id(),
                    "sys_id": sys["sys_id"],
                    "sys_text": sys["sys_text"],
                    "sys_data": sys["sys_data"],
                }
            )
            params_lines += [
                {
                    "product_id": line["product_id"],
                    "quantity": int(line["quantity"]),
                    "unit_price": int(line["unit_price"]),
                    "currency": currency,
                    "seller_id": seller_id,
                    "order_id": order_id,
                }
                for line in group
            ]
        params_lines.sort(key=lambda line: line["product_id"])
        return specs, params_lines


def _public(line: dict[str, Any]) -> dict[str, Any]:
    return {"product_id": line["product_id"], "quantity": line["quantity"], **line["problem"]}
