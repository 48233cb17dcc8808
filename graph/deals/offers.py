"""Offers and counter-offers: one open negotiation per buyer and listing, held by their room.

The room (unique per listing and buyer) carries `open_offer_id`; making an offer sets it only
when it is empty, and every statement that closes the negotiation clears it, so two offers
racing from one buyer cannot both open. Each counter is a new Offer by the other side that
COUNTERS the one it answers; all of them share `thread_id`, so the thread reads back whole.
Accepting places the order at the agreed price in the same statement, stock permitting.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graph.catalog import Changed, Pools
from graph.deals import shapes
from graph.deals.common import Pushes, Why, announce, both_sides, due_timers, ended_text
from graph.deals.machine import OFFER
from graph.deals.orders import OrderService, Role, order_create
from graph.infra.errors import Conflict, Invalid, NotFound
from graph.infra.ids import event, new_id
from graph.infra.machine import Timers, Transition, allowed, open_events, refused
from graph.infra.money import money_text
from graph.infra.store import GraphStore, Statement, statement
from graph.messaging import ROOM_MERGE, room_params, system_params

_NEW_OFFER = """
{id: $offer_id, amount: $amount, currency: p.currency, quantity: $quantity, status: 'open',
 by: $by, buyer_id: buyer.id, seller_id: seller.id, product_id: p.id, room_id: r.id,
 thread_id: $thread_id, round: $round, created_at: $now, updated_at: $now,
 due_at: $due_at, due_event: $due_event}
"""

MAKE = statement(
    "offers.make",
    """
    MATCH (buyer:User {id: $buyer_id}) WHERE buyer.status = 'active'
    MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
    WHERE seller.status = 'active' AND seller.id <> buyer.id AND NOT (buyer)-[:BLOCKED]-(seller)
      AND p.status = 'active' AND p.expires_at > $now AND p.currency = $currency
      AND p.quantity >= $quantity AND $amount <= p.price
    WITH buyer, seller, p
    """
    + ROOM_MERGE
    + """
    WITH buyer, seller, p, r
    // the room holds the negotiation: write it before reading it (Neo4j's lock)
    SET r.negotiated_at = $now
    WITH buyer, seller, p, r
    WHERE r.open_offer_id IS NULL
    CREATE (buyer)-[:MADE]->(o:Offer """
    + _NEW_OFFER
    + """)-[:FOR]->(p)
    SET r.open_offer_id = o.id
    FOREACH (_ IN CASE WHEN $note IS NULL THEN [] ELSE [1] END |
      CREATE (:Message {id: $note_id, room_id: r.id, sender_id: buyer.id, kind: 'text',
                        body: $note, sent_at: $now})-[:IN]->(r))
    CREATE (:Event {id: $event_id, type: 'offer.made', at: $now, actor_id: buyer.id,
                    subject_id: o.id, data: $event_data})
    """
    + announce(),
    write=True,
)

# The compare-and-set every offer transition starts with: the offer is still open, the actor
# is the party the table names (and it is their turn), or the timer is due. Every check comes
# before the first SET of state: a later filter that drops the row would not undo a SET.
_CAS_MATCH = """
MATCH (old:Offer {id: $id})-[:FOR]->(p:Product)
SET old.locked_at = $now
WITH old, p
WHERE old.status = 'open' AND ($made_by IS NULL OR old.by = $made_by)
  AND (($role = 'buyer' AND old.buyer_id = $actor_id)
       OR ($role = 'seller' AND old.seller_id = $actor_id)
       OR ($role = 'system' AND old.due_at <= $now))
MATCH (r:Room) WHERE r.id = old.room_id
"""
_CAS_SET = """
SET old.status = $target, old.updated_at = $now, old.closed_at = $now, old.due_at = null,
    old.due_event = null,
    r.open_offer_id = CASE WHEN r.open_offer_id = old.id THEN null ELSE r.open_offer_id END
CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: $actor_id,
                subject_id: old.id, data: $event_data})
"""
_CAS = _CAS_MATCH + "WITH old, p, r\n" + _CAS_SET

CLOSE = statement(
    "offers.close",
    _CAS + "WITH old AS o, r\n" + announce(),
    write=True,
)

COUNTER = statement(
    "offers.counter",
    _CAS_MATCH
    + """
    MATCH (buyer:User)-[:MEMBER {role: 'buyer'}]->(r)<-[:MEMBER {role: 'seller'}]-(seller:User)
    WHERE buyer.status = 'active' AND seller.status = 'active' AND NOT (buyer)-[:BLOCKED]-(seller)
      AND $amount <= p.price
    MATCH (actor:User {id: $actor_id})
    WITH old, p, r, buyer, seller, actor
    """
    + _CAS_SET
    + """
    CREATE (actor)-[:MADE]->(o:Offer """
    + _NEW_OFFER
    + """)-[:FOR]->(p)
    CREATE (o)-[:COUNTERS]->(old)
    SET r.open_offer_id = o.id
    """
    + announce(),
    write=True,
)

ACCEPT = statement(
    "offers.accept",
    """
    MATCH (offer:Offer {id: $id})-[:FOR]->(p:Product)
    // write the offer and the listing before reading them: Neo4j's locks (see orders.place)
    SET offer.locked_at = $now, p.stock_checked_at = $now
    WITH offer, p
    WHERE offer.status = 'open' AND offer.by = $made_by
      AND (($role = 'buyer' AND offer.buyer_id = $actor_id)
           OR ($role = 'seller' AND offer.seller_id = $actor_id))
      AND p.status = 'active' AND p.expires_at > $now AND p.quantity >= offer.quantity
    MATCH (r:Room) WHERE r.id = offer.room_id
    MATCH (buyer:User)-[:MEMBER {role: 'buyer'}]->(r)<-[:MEMBER {role: 'seller'}]-(seller:User)
    WHERE buyer.status = 'active' AND seller.status = 'active' AND NOT (buyer)-[:BLOCKED]-(seller)
      AND offer.quantity = $quantity
    SET offer.status = 'accepted', offer.updated_at = $now, offer.closed_at = $now,
        offer.due_at = null, offer.due_event = null, offer.order_id = $order_id,
        r.open_offer_id = null
    CREATE (:Event {id: $event_id, type: 'offer.accepted', at: $now,
                    actor_id: $actor_id, subject_id: offer.id, data: $event_data})
    WITH buyer, seller, p, r, offer.amount AS unit
    """
    + order_create("$order_event_id", "'{}'")
    + announce(),
    write=True,
)

OFFER_FIELDS = """
o.id AS id, o.amount AS amount, o.currency AS currency, o.quantity AS quantity,
o.status AS status, o.by AS made_by, o.buyer_id AS buyer_id, o.seller_id AS seller_id,
o.room_id AS room_id, o.thread_id AS thread_id, o.round AS round,
o.created_at AS created_at, o.updated_at AS updated_at, o.due_at AS expires_at,
o.order_id AS order_id
"""

GET = statement(
    "offers.get",
    """
    MATCH (o:Offer {id: $id})-[:FOR]->(p:Product)
    WHERE o.buyer_id = $user_id OR o.seller_id = $user_id OR $user_id IS NULL
    RETURN p.id AS product_id, p.title AS product_title, p.price AS product_price,
    """
    + OFFER_FIELDS,
)

THREAD = statement(
    "offers.thread",
    """
    MATCH (o:Offer)
    WHERE o.thread_id = $thread_id
    RETURN
    """
    + OFFER_FIELDS
    + "ORDER BY created_at ASC, id ASC",
)


def _listing(field: str) -> Statement:
    # the head of each thread: every offer but the ones a counter answered
    return statement(
        f"offers.list_{field.removesuffix('_id')}",
        """
        MATCH (o:Offer)
        WHERE o."""
        + field
        + """ = $user_id
          AND (($status IS NULL AND o.status <> 'countered') OR o.status = $status)
          AND ($after_id IS NULL OR o.created_at < $after
               OR (o.created_at = $after AND o.id < $after_id))
        WITH o ORDER BY o.created_at DESC, o.id DESC LIMIT $limit
        MATCH (o)-[:FOR]->(p:Product)
        RETURN p.id AS product_id, p.title AS product_title, p.price AS product_price,
        """
        + OFFER_FIELDS
        + "ORDER BY created_at DESC, id DESC",
    )


LIST = {"buyer": _listing("buyer_id"), "seller": _listing("seller_id")}

DUE = due_timers("Offer")

OPEN_IN_ROOM = statement(
    "offers.open_in_room",
    "MATCH (r:Room {key: $room_key}) RETURN r.open_offer_id AS id",
)

_TEXT = {
    "made": "{who} offered {amount}{per} for {quantity}",
    "countered": "{who} countered with {amount}{per}",
    "accepted": "{who} accepted {amount}{per}: order placed",
    "declined": "{who} declined the offer",
    "withdrawn": "The buyer withdrew the offer",
    "expired": "The offer expired unanswered",
}


class OfferService:
    def __init__(
        self,
        store: GraphStore,
        timers: Timers,
        pushes: Pushes,
        changed: Changed,
        orders: OrderService,
        pools: Pools,
    ) -> None:
        self._store = store
        self._timers = timers
        self._pushes = pushes
        self._changed = changed
        self._orders = orders
        self._pools = pools

    async def make(
        self,
        buyer_id: str,
        product_id: str,
        amount: int,
        currency: str | None = None,
        quantity: int = 1,
        note: str | None = None,
    ) -> dict[str, Any]:
        """An offer of `amount` per unit; `currency` defaults to the listing's."""
        state = await self._orders.listing_state(buyer_id, product_id)
        currency = currency or state["currency"]
        self._check_amount(amount, currency, state)
        offer_id = new_id()
        due_at, due_event = self._timers.due(OFFER, OFFER.initial)
        params = {
            "buyer_id": buyer_id,
            "product_id": product_id,
            "amount": amount,
            "currency": currency,
            "quantity": quantity,
            "offer_id": offer_id,
            "thread_id": offer_id,
            "round": 1,
            "by": "buyer",
            "due_at": due_at,
            "due_event": due_event,
            "note": note,
            "note_id": new_id(),
            "actor_id": buyer_id,
            **room_params(buyer_id, product_id),
            **system_params(
                self._text("made", "buyer", amount, currency, quantity),
                {"event": "offer.made", "offer_id": offer_id, "amount": amount},
                extra_unread=0 if note is None else 1,
            ),
            **event(),
        }
        rows = await self._store.run(MAKE, params)
        if not rows:
            await self._explain_make(buyer_id, product_id, quantity)
        await self._pushes.room_changed(rows[0]["room_id"])  # its lines (and the buyer's note)
        return await self._tell(rows[0], offer_id, product_id)

    @staticmethod
    def _check_amount(amount: int, currency: str, state: dict[str, Any]) -> None:
        if currency != state["currency"]:
            raise Invalid(
                f"offers on this listing are in {state['currency']}",
                errors={"currency": f"must be {state['currency']}"},
            )
        if amount <= 0:
            raise Invalid("an offer is more than nothing", errors={"amount": "must be above 0"})
        if amount > int(state["price"]):
            raise Invalid(
                "an offer is at most the asking price (per unit)",
                errors={"amount": f"at most {state['price']}"},
            )

    async def _explain_make(self, buyer_id: str, product_id: str, quantity: int) -> None:
        rows = await self._store.run(OPEN_IN_ROOM, {"room_key": f"{product_id}:{buyer_id}"})
        if rows and rows[0]["id"]:
            raise Conflict(
                "you already have an open offer on this listing",
                errors={"product_id": "open offer"},
                extra={"offer_id": rows[0]["id"]},
            )
        await self._orders.explain_refusal(buyer_id, product_id, quantity)

    async def act(
        self, user_id: str, offer_id: str, name: str, amount: int | None = None
    ) -> dict[str, Any]:
        """A party accepts, declines, counters or withdraws the offer on the table."""
        offer = await self.get(user_id, offer_id)
        role: Role = "buyer" if offer["buyer_id"] == user_id else "seller"
        transition = OFFER.find(offer["status"], name)
        if transition is None or not allowed(transition, role=role, made_by=offer["made_by"]):
            raise self._refused(offer, name, role)
        if name == "counter":
            if amount is None:
                raise Invalid("a counter-offer names an amount", errors={"amount": "required"})
            self._check_amount(
                amount,
                offer["currency"],
                {"currency": offer["currency"], "price": offer["product_price"]},
            )
        moved = await self._transition(
            offer, transition, actor_id=user_id, role=role, amount=amount
        )
        if moved is None:
            current = await self.get(user_id, offer_id)
            if name == "accept" and current["status"] == "open":
                await self._orders.explain_refusal(
                    offer["buyer_id"], offer["product_id"], offer["quantity"]
                )
            raise self._refused(current, name, role)
        return moved

    async def fire(self, offer_id: str, status: str, name: str) -> bool:
        """A timer (expiry): does nothing if a person moved the offer first."""
        transition = OFFER.find(status, name)
        if transition is None or "system" not in transition.who:
            return False
        offer = await self.get(None, offer_id)
        moved = await self._transition(offer, transition, actor_id="system", role="system")
        return moved is not None

    async def due(self, now: int, batch: int) -> list[dict[str, Any]]:
        return await self._store.run(DUE, {"now": now, "batch": batch})

    async def end(self, offer_id: str, party: str, side: Role, why: Why) -> bool:
        """The account of `party` (the offer's `side`) was deleted or suspended (`why`): an
        open offer takes the table's `withdraw` row, whoever's turn it was; only the other
        party is told."""
        offer = await self.get(None, offer_id)
        transition = OFFER.find(offer["status"], "withdraw")
        if transition is None:
            return False
        moved = await self._transition(offer, transition, actor_id=party, role=side, why=why)
        return moved is not None

    async def _transition(
        self,
        offer: dict[str, Any],
        t: Transition,
        *,
        actor_id: str,
        role: str,
        amount: int | None = None,
        why: Why | None = None,
    ) -> dict[str, Any] | None:
        """Apply `t`; the offer the deal now stands on (a counter's new one), or None when the
        offer was no longer open. With `why`, the actor's account ended: they are not told."""
        recipient = "seller" if offer["made_by"] == "buyer" else "buyer"
        params: dict[str, Any] = {
            "id": offer["id"],
            "role": role,
            "actor_id": actor_id,
            "made_by": offer["made_by"] if "recipient" in t.who else None,
            **event(),
        }
        # the acceptance's target and Event type are its statement's own
        closing = {"target": t.target, "event_type": f"offer.{t.target}"}
        text_amount = amount if amount is not None else offer["amount"]
        text = self._text(t.target, role, text_amount, offer["currency"], offer["quantity"])
        if why:
            text = ended_text("Offer withdrawn", role, why)
        data = {"event": f"offer.{t.target}", "offer_id": offer["id"]}
        if t.event == "counter":
            new = new_id()
            due_at, due_event = self._timers.due(OFFER, OFFER.initial)
            params |= closing | {
                "offer_id": new,
                "amount": amount,
                "quantity": offer["quantity"],
                "thread_id": offer["thread_id"],
                "round": int(offer["round"] or 1) + 1,
                "by": recipient,
                "due_at": due_at,
                "due_event": due_event,
            }
            data |= {"offer_id": new, "counters": offer["id"], "amount": amount}
            st = COUNTER
        elif t.event == "accept":
            order_id = new_id()
            params |= {
                "order_id": order_id,
                "offer_id": offer["id"],
                "quantity": offer["quantity"],
                **self._orders.opening(),
                # the acceptance's event first, then the order's (ids order the log)
                "order_event_id": new_id(),
            }
            data |= {"order_id": order_id}
            st = ACCEPT
        else:
            params |= closing
            st = CLOSE
        params |= system_params(text, data)
        rows = await self._store.run(st, params)
        if not rows:
            return None
        await self._pushes.room_changed(rows[0]["room_id"])
        if t.event == "accept":  # `id` is the order the acceptance placed
            await self._orders.tell(rows[0], [offer["product_id"]])
            return await self._tell(None, offer["id"], offer["product_id"])
        current = rows[0]["id"] if t.event == "counter" else offer["id"]
        return await self._tell(rows[0], current, offer["product_id"], actor_id if why else None)

    async def _tell(
        self,
        row: dict[str, Any] | None,
        offer_id: str,
        product_id: str,
        quiet: str | None = None,
    ) -> dict[str, Any]:
        """After a write on offer `offer_id`: it counts toward the listing's hype, both parties
        (but `quiet`) get it and the room's new line (`row`; None when the order's telling
        carried it). The offer as read for them (the caller answers with it too)."""
        await self._pools.mark_engaged(product_id)
        offer = await self.get(None, offer_id)
        parties = [p for p in (offer["buyer_id"], offer["seller_id"]) if p != quiet]
        pushes = [self._pushes.send("offer.updated", shapes.offer(offer), parties)]
        if row is not None:
            pushes.append(self._pushes.system_message(row, parties))
        await asyncio.gather(*pushes)
        return offer

    @staticmethod
    def _text(target: str, role: str, amount: int, currency: str, quantity: int) -> str:
        return _TEXT[target].format(
            who={"buyer": "The buyer", "seller": "The seller"}.get(role, "Vendr"),
            amount=money_text(amount, currency),
            per=" each" if quantity > 1 else "",
            quantity=f"{quantity} items" if quantity > 1 else "the item",
        )

    def _refused(self, offer: dict[str, Any], name: str, role: str) -> Conflict:
        state = offer["status"]
        can = open_events(OFFER, state, role=role, made_by=offer["made_by"])
        turn = state == "open" and name in ("accept", "decline", "counter")
        if turn and offer["made_by"] == role:
            return refused("it is the other party's turn", state, can)
        return refused(f"cannot {name} a {state} offer", state, can)

    async def get(self, user_id: str | None, offer_id: str) -> dict[str, Any]:
        rows = await self._store.run(GET, {"id": offer_id, "user_id": user_id})
        if not rows:
            raise NotFound("no such offer")
        return rows[0]

    async def thread(self, user_id: str, offer_id: str) -> dict[str, Any]:
        offer = await self.get(user_id, offer_id)
        offer["thread"] = await self._store.run(THREAD, {"thread_id": offer["thread_id"]})
        return offer

    async def list(
        self,
        user_id: str,
        role: Role | None,
        status: str | None,
        cursor: tuple[int, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        return await both_sides(self._store, LIST, user_id, role, status, cursor, limit)
