"""Deals for a generated marketplace: some of what people liked they negotiated over or
bought, with plausible timings, outcomes and stock that adds up.

A pure function of (data, seed, now), like the rest of the generator. Offers run through
counters to acceptance, refusal, withdrawal or expiry; orders end completed, cancelled, or
(when recent) still placed or confirmed. A one-off listing sells once; a shop's stock goes
down by what its open and completed orders hold. Deadlines of what is still open lie ahead.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
OFFER_TTL_MS = 48 * HOUR_MS
CONFIRM_MS = 48 * HOUR_MS
COMPLETE_MS = 7 * DAY_MS


@dataclass
class Deals:
    rooms: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    counters: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)


def _round(amount: float) -> int:
    return max(100, int(round(amount / 50) * 50))


class _Builder:
    def __init__(self, rng: random.Random, now: int, products: dict[str, dict[str, Any]]) -> None:
        self.rng = rng
        self.now = now
        self.products = products
        self.out = Deals()
        self.n = 0

    def _id(self, kind: str) -> str:
        self.n += 1
        return f"seed-{kind}{self.n:08d}"

    def event(self, kind: str, at: int, actor: str, subject: str, **data: Any) -> None:
        self.out.events.append(
            {
                "id": self._id("e"),
                "type": kind,
                "at": at,
                "actor_id": actor,
                "subject_id": subject,
                "data": json.dumps(data, separators=(",", ":")),
            }
        )

    def deal(self, buyer: str, product: dict[str, Any], liked_at: int) -> None:
        rng, seller = self.rng, product["owner"]
        opened = liked_at + rng.randint(1, 120) * 60_000
        if opened >= self.now:
            return
        room = {
            "id": self._id("r"),
            "key": f"{product['id']}:{buyer}",
            "buyer": buyer,
            "seller": seller,
            "product": product["id"],
            "at": opened,
            "open_offer_id": None,
        }
        self.out.rooms.append(room)
        if rng.random() < 0.6:
            self.negotiate(room, product, opened)
        else:
            self.order(room, product, opened, product["price"], None)

    def offer(
        self,
        room: dict[str, Any],
        product: dict[str, Any],
        at: int,
        amount: int,
        by: str,
        thread: str | None,
        round_: int,
    ) -> dict[str, Any]:
        offer_id = self._id("o")
        row = {
            "id": offer_id,
            "maker": room["buyer"] if by == "buyer" else room["seller"],
            "product": product["id"],
            "amount": min(amount, product["price"]),
            "currency": product["currency"],
            "quantity": 1,
            "status": "open",
            "by": by,
            "buyer_id": room["buyer"],
            "seller_id": room["seller"],
            "room_id": room["id"],
            "thread_id": thread or offer_id,
            "round": round_,
            "created_at": at,
            "updated_at": at,
            "closed_at": None,
            "due_at": at + OFFER_TTL_MS,
            "due_event": "expire",
            "order_id": None,
        }
        self.out.offers.append(row)
        actor = row["maker"]
        self.event("offer.made" if round_ == 1 else "offer.countered", at, actor, offer_id)
        return row

    @staticmethod
    def _end(row: dict[str, Any], at: int, **fields: Any) -> None:
        """The deal leaves a state with a timer: what changed, and no deadline any more."""
        row.update(fields, updated_at=at, due_at=None, due_event=None)

    def close(self, offer: dict[str, Any], status: str, at: int, actor: str) -> None:
        self._end(offer, at, status=status, closed_at=at)
        self.event(f"offer.{status}", at, actor, offer["id"])

    def negotiate(self, room: dict[str, Any], product: dict[str, Any], at: int) -> None:
        rng = self.rng
        price = product["price"]
        first = self.offer(
            room, product, at, _round(price * rng.uniform(0.7, 0.95)), "buyer", None, 1
        )
        answer = at + rng.randint(30, 24 * 60) * 60_000
        roll = rng.random()
        if answer >= self.now or (roll >= 0.85 and at + OFFER_TTL_MS > self.now):
            room["open_offer_id"] = first["id"]  # still waiting for the seller
            return
        if roll >= 0.85:
            self.close(first, "expired", at + OFFER_TTL_MS, "system")
        elif roll < 0.35:
            self.accept(room, product, first, answer, room["seller"])
        elif roll < 0.55:
            self.close(first, "declined", answer, room["seller"])
        else:
            self._end(first, answer, status="countered", closed_at=answer)
            counter = self.offer(
                room,
                product,
                answer,
                _round(price * rng.uniform(0.9, 1.0)),
                "seller",
                first["thread_id"],
                2,
            )
            self.out.counters.append({"new": counter["id"], "old": first["id"]})
            reply = answer + rng.randint(30, 12 * 60) * 60_000
            if reply >= self.now:
                room["open_offer_id"] = counter["id"]
                return
            roll = rng.random()
            if roll < 0.6:
                self.accept(room, product, counter, reply, room["buyer"])
            elif roll < 0.85:
                self.close(counter, "withdrawn", reply, room["buyer"])
            elif counter["created_at"] + OFFER_TTL_MS <= self.now:
                self.close(counter, "expired", counter["created_at"] + OFFER_TTL_MS, "system")
            else:
                room["open_offer_id"] = counter["id"]

    def accept(
        self,
        room: dict[str, Any],
        product: dict[str, Any],
        offer: dict[str, Any],
        at: int,
        actor: str,
    ) -> None:
        if product["quantity"] < 1:  # sold in the meantime: the seller could only decline
            self.close(offer, "declined", at, room["seller"])
            return
        self.close(offer, "accepted", at, actor)
        offer["order_id"] = self.order(room, product, at, offer["amount"], offer["id"])

    def order(
        self,
        room: dict[str, Any],
        product: dict[str, Any],
        at: int,
        unit: int,
        offer_id: str | None,
    ) -> str | None:
        if product["quantity"] < 1:
            return None
        rng, buyer, seller = self.rng, room["buyer"], room["seller"]
        order_id = self._id("d")
        row = {
            "id": order_id,
            "buyer": buyer,
            "seller": seller,
            "product": product["id"],
            "quantity": 1,
            "unit_price": unit,
            "amount": unit,
            "currency": product["currency"],
            "room_id": room["id"],
            "offer_id": offer_id,
            "created_at": at,
            "updated_at": at,
            "status": "placed",
            "confirmed_at": None,
            "completed_at": None,
            "cancelled_at": None,
            "cancelled_by": None,
            "due_at": at + CONFIRM_MS,
            "due_event": "expire",
        }
        self.out.orders.append(row)
        self.event("order.placed", at, buyer, order_id)
        product["quantity"] -= 1
        confirm = at + rng.randint(1, 30) * HOUR_MS
        roll = rng.random()
        if roll < 0.12:  # cancelled before confirmation, by one side or the clock
            who = rng.choice(("buyer", "seller", "system"))
            when = at + CONFIRM_MS if who == "system" else confirm
            if when < self.now:
                self._cancel(row, when, who)
                return order_id
        if confirm >= self.now:
            return order_id  # still waiting for the seller
        row.update(status="confirmed", confirmed_at=confirm, updated_at=confirm)
        row.update(due_at=confirm + COMPLETE_MS, due_event="auto_complete")
        self.event("order.confirmed", confirm, seller, order_id)
        done = confirm + rng.randint(12, 6 * 24) * HOUR_MS
        if rng.random() < 0.05 and done < self.now:
            self._cancel(row, done, "seller")
        elif done < self.now:
            self._end(row, done, status="completed", completed_at=done)
            self.event("order.completed", done, buyer, order_id)
        return order_id

    def _cancel(self, row: dict[str, Any], at: int, who: str) -> None:
        self._end(row, at, status="cancelled", cancelled_at=at, cancelled_by=who)
        self.products[row["product"]]["quantity"] += row["quantity"]
        actor = {"buyer": row["buyer"], "seller": row["seller"]}.get(who, "system")
        self.event("order.cancelled", at, actor, row["id"], by=who)


def generate_deals(
    products: list[dict[str, Any]],
    likes: list[dict[str, Any]],
    *,
    seed: int,
    now: int,
    share: float = 0.2,
) -> Deals:
    """Deals on `share` of the likes, in time order; updates the products' quantity and status
    to what the deals leave."""
    rng = random.Random(f"deals-{seed}")
    by_id = {p["id"]: p for p in products}
    builder = _Builder(rng, now, by_id)
    for like in sorted(likes, key=lambda r: (r["at"], r["u"], r["p"])):
        product = by_id[like["p"]]
        if rng.random() < share and product["quantity"] > 0:
            builder.deal(like["u"], product, like["at"])
    held = {o["product"] for o in builder.out.orders if o["status"] in ("placed", "confirmed")}
    for product in products:
        if product["quantity"] == 0:
            product["status"] = "reserved" if product["id"] in held else "sold"
    return builder.out
