"""Paid promotion: a seller buys a plan for a listing (a period and a hype boost, priced in
settings), pays through the payment service, and the verified payment starts the promotion.

A running promotion adds its boost to the listing's hype (hype = engagement + boost, so the
boost moves hype by the difference, in the statement that starts or ends it) and stamps the
listing `promoted_until`, which browse, the detail and the feed read to mark it promoted.
The scheduler ends it when its period is over. One open promotion per listing: a second is
refused while one is pending payment or running.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from graph.catalog import Changed
from graph.infra.errors import Conflict, Invalid, NotFound
from graph.infra.ids import event, iso, new_id
from graph.infra.machine import Timers, Transition, allowed, open_events, refused
from graph.infra.settings import Settings
from graph.infra.store import GraphStore, statement
from graph.notify import Notifier
from graph.payments.machine import PROMOTION
from graph.payments.owed import owe_params, owe_payment
from graph.payments.service import PaymentService
from graph.payments.shapes import payment


@dataclass(frozen=True)
class Plan:
    name: str
    days: float
    boost: float
    price: int  # minor units of the promotion currency


def plans(settings: Settings) -> dict[str, Plan]:
    """The plans on sale, from `VENDR_PROMOTION_PLANS` (checked at start-up)."""
    raw = json.loads(settings.promotion_plans)
    out = {}
    for name, spec in raw.items():
        plan = Plan(name, float(spec["days"]), float(spec["boost"]), int(spec["price"]))
        if not (0 < plan.days <= 365 and 0 < plan.boost <= 1000 and 0 < plan.price <= 10**9):
            raise ValueError(f"promotion plan {name!r}: days, boost or price out of range")
        out[name] = plan
    if not out:
        raise ValueError("VENDR_PROMOTION_PLANS names no plan")
    return out


CREATE = statement(
    "promotions.create",
    """
    MATCH (s:User {id: $user_id})-[:LISTED]->(p:Product {id: $product_id})
    WHERE s.status = 'active'
    // take the listing's lock before counting its open promotions (Neo4j; FalkorDB writes
    // one at a time anyway)
    SET p.promotion_checked_at = $now
    WITH s, p
    WHERE p.status = 'active' AND p.expires_at > $now
    WITH s, p,
         size([(p)<-[:PROMOTES]-(x:Promotion) WHERE x.status IN ['pending', 'active'] | x])
           AS open
    WHERE open = 0
    CREATE (s)-[:BOUGHT]->(o:Promotion {id: $id, plan: $plan, days: $days, boost: $boost,
                                        amount: $amount, currency: $currency,
                                        status: 'pending', seller_id: s.id, product_id: p.id,
                                        created_at: $now, updated_at: $now,
                                        due_at: $due_at, due_event: $due_event})-[:PROMOTES]->(p)
    CREATE (:Event {id: $event_id, type: 'promotion.created', at: $now, actor_id: s.id,
                    subject_id: $id, data: $event_data})
    RETURN o.id AS id
    """,
    write=True,
)

PROMOTION_FIELDS = """
RETURN o.id AS id, o.plan AS plan, o.days AS days, o.boost AS boost, o.amount AS amount,
       o.currency AS currency, o.status AS status, o.seller_id AS seller_id,
       o.product_id AS product_id, o.created_at AS created_at, o.updated_at AS updated_at,
       o.starts_at AS starts_at, o.ends_at AS ends_at, o.due_at AS due_at,
       o.due_event AS due_event, pay.id AS payment_id, pay.status AS payment_status,
       pay.provider AS payment_provider, pay.client_secret AS payment_secret,
       pay.refunded_amount AS payment_refunded, pay.dispute_status AS payment_dispute
"""

GET = statement(
    "promotions.get",
    """
    MATCH (o:Promotion {id: $id})
    WHERE $user_id IS NULL OR o.seller_id = $user_id
    OPTIONAL MATCH (pay:Payment)-[:FOR]->(o)
    WITH o, pay
    """
    + PROMOTION_FIELDS,
)

OF_PRODUCT = statement(
    "promotions.of_product",
    """
    MATCH (s:User {id: $user_id})-[:LISTED]->(:Product {id: $product_id})<-[:PROMOTES]-(o:Promotion)
    WITH o ORDER BY o.created_at DESC, o.id DESC LIMIT 50
    OPTIONAL MATCH (pay:Payment)-[:FOR]->(o)
    WITH o, pay
    """
    + PROMOTION_FIELDS
    + "ORDER BY created_at DESC, id DESC",
)

# One move of the PROMOTION table as a compare-and-set. Starting adds the boost to the
# listing's hype (only a listing still on sale is promoted); ending takes it off.
MOVE = statement(
    "promotions.move",
    """
    MATCH (o:Promotion {id: $id})-[:PROMOTES]->(p:Product)
    SET o.locked_at = $now
    WITH o, p
    WHERE o.status = $source
      AND (($role = 'seller' AND o.seller_id = $actor_id)
           OR ($role = 'system' AND o.due_event = $event AND o.due_at <= $now)
           OR $role = 'provider')
      AND ($target <> 'active' OR (p.status = 'active' AND p.expires_at > $now))
    SET o.status = $target, o.updated_at = $now, o.due_at = $due_at, o.due_event = $due_event,
        o.starts_at = CASE WHEN $target = 'active' THEN $now ELSE o.starts_at END,
        o.ends_at = CASE WHEN $target = 'active' THEN $due_at
                         WHEN $source = 'active' THEN $now ELSE o.ends_at END
    WITH o, p, CASE WHEN $target = 'active' THEN o.boost ELSE 0.0 END AS boost
    FOREACH (_ IN CASE WHEN $target = 'active' OR $source = 'active' THEN [1] ELSE [] END |
      SET p.hype = round(
            (CASE WHEN coalesce(p.hype, 0.0) - coalesce(p.boost, 0.0) < 0.0 THEN 0.0
                  ELSE coalesce(p.hype, 0.0) - coalesce(p.boost, 0.0) END + boost)
            * 1000000.0) / 1000000.0,
          p.boost = boost,
          p.promoted_until = CASE WHEN $target = 'active' THEN o.ends_at ELSE null END)
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: $actor_id,
                    subject_id: o.id, data: $event_data})
    WITH p, o
    """
    + owe_payment("p")
    + """
    RETURN o.id AS id, p.id AS product_id, o.seller_id AS seller_id, owed_payment
    """,
    write=True,
)


DUE = statement(
    "promotions.due",
    """
    MATCH (o:Promotion)
    WHERE o.due_at <= $now
    RETURN o.id AS id, o.status AS status, o.due_event AS event
    ORDER BY o.due_at
    LIMIT $batch
    """,
)

# the seller's listing as a refused purchase explains it
LISTING = statement(
    "promotions.listing",
    """
    MATCH (:User {id: $user_id})-[:LISTED]->(p:Product {id: $product_id})
    RETURN p.status AS status, p.expires_at AS expires_at
    """,
)


def shape(row: dict[str, Any], viewer_id: str | None = None) -> dict[str, Any]:
    """The promotion as its seller reads it (the client secret only for them)."""
    out = {
        "id": row["id"],
        "product_id": row["product_id"],
        "plan": row["plan"],
        "days": float(row["days"]),
        "boost": float(row["boost"]),
        "price": {"amount": int(row["amount"]), "currency": row["currency"]},
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "starts_at": iso(row.get("starts_at")),
        "ends_at": iso(row.get("ends_at")),
        "due": {"event": row["due_event"], "at": iso(row["due_at"])} if row.get("due_at") else None,
        "payment": payment(row, row["currency"], row["seller_id"], viewer_id),
    }
    if viewer_id is not None:
        out["actions"] = open_events(PROMOTION, row["status"], role="seller")
    return out


class PromotionService:
    def __init__(
        self,
        store: GraphStore,
        timers: Timers,
        payments: PaymentService,
        notifier: Notifier,
        changed: Changed,
        settings: Settings,
    ) -> None:
        self._store = store
        self._timers = timers
        self._payments = payments
        self._notifier = notifier
        self._changed = changed
        self._currency = settings.promotion_currency
        self.plans = plans(settings)
        payments.register("promotion", self)

    async def buy(self, user_id: str, product_id: str, plan_name: str) -> dict[str, Any]:
        """A pending promotion of the seller's own listing, with its payment opened."""
        self._payments.require()
        plan = self.plans.get(plan_name)
        if plan is None:
            names = ", ".join(sorted(self.plans))
            raise Invalid(f"plan is one of {names}", errors={"plan": "unknown"})
        promotion_id = new_id()
        due_at, due_event = self._timers.due(PROMOTION, PROMOTION.initial)
        params = {
            "user_id": user_id,
            "product_id": product_id,
            "id": promotion_id,
            "plan": plan.name,
            "days": plan.days,
            "boost": plan.boost,
            "amount": plan.price,
            "currency": self._currency,
            "due_at": due_at,
            "due_event": due_event,
            **event(),
        }
        if not await self._store.run(CREATE, params):
            await self._explain(user_id, product_id)
        await self._payments.start("promotion", promotion_id, user_id, PROMOTION.initial)
        return await self.get(user_id, promotion_id)

    async def _explain(self, user_id: str, product_id: str) -> None:
        rows = await self._store.run(OF_PRODUCT, {"user_id": user_id, "product_id": product_id})
        open_ = [r for r in rows if r["status"] in ("pending", "active")]
        if open_:
            raise Conflict(
                f"the listing already has a {open_[0]['status']} promotion",
                errors={"product_id": "promoted"},
                extra={"promotion_id": open_[0]["id"]},
            )
        state = await self._store.run(LISTING, {"user_id": user_id, "product_id": product_id})
        if not state or state[0]["status"] == "deleted":
            raise NotFound("no such listing of yours")
        raise Conflict(
            "only a listing on sale can be promoted", errors={"product_id": "not on sale"}
        )

    async def get(self, user_id: str | None, promotion_id: str) -> dict[str, Any]:
        rows = await self._store.run(GET, {"id": promotion_id, "user_id": user_id})
        if not rows:
            raise NotFound("no such promotion")
        return rows[0]

    async def of_product(self, user_id: str, product_id: str) -> list[dict[str, Any]]:
        return await self._store.run(OF_PRODUCT, {"user_id": user_id, "product_id": product_id})

    async def cancel(self, user_id: str, promotion_id: str) -> dict[str, Any]:
        promo = await self.get(user_id, promotion_id)
        t = PROMOTION.find(promo["status"], "cancel")
        if t is None or not allowed(t, role="seller"):
            raise refused(
                f"cannot cancel a {promo['status']} promotion",
                promo["status"],
                open_events(PROMOTION, promo["status"], role="seller"),
            )
        if not await self._move(promo, t, actor_id=user_id, role="seller"):
            raise Conflict("the promotion moved on; read it again")
        return await self.get(user_id, promotion_id)

    # ---- the payment's purpose ---------------------------------------------------------

    async def paid(self, subject_id: str) -> bool:
        promo = await self.get(None, subject_id)
        t = PROMOTION.find(promo["status"], "activate")
        if t is None:
            return False
        return await self._move(promo, t, actor_id="provider", role="provider")

    async def refunded(self, subject_id: str) -> None:
        await self.payment_changed(subject_id)

    async def voided(self, subject_id: str) -> None:
        await self.payment_changed(subject_id)

    async def payment_changed(self, subject_id: str) -> None:
        promo = await self.get(None, subject_id)
        await self._notifier.publish(
            [promo["seller_id"]], {"type": "promotion.updated", "promotion": shape(promo)}
        )

    # ---- timers ------------------------------------------------------------------------

    async def due(self, now: int, batch: int) -> list[dict[str, Any]]:
        return await self._store.run(DUE, {"now": now, "batch": batch})

    async def fire(self, promotion_id: str, status: str, name: str) -> bool:
        t = PROMOTION.find(status, name)
        if t is None or "system" not in t.who:
            return False
        promo = {"id": promotion_id, "status": status}
        return await self._move(promo, t, actor_id="system", role="system")

    async def _move(
        self, promo: dict[str, Any], t: Transition, *, actor_id: str, role: str
    ) -> bool:
        period = float(promo["days"]) * 86_400 if t.target == "active" else None
        due_at, due_event = self._timers.due(PROMOTION, t.target, period)
        params = {
            "id": promo["id"],
            "source": t.source,
            "target": t.target,
            "event": t.event,
            "role": role,
            "actor_id": actor_id,
            "due_at": due_at,
            "due_event": due_event,
            "event_type": f"promotion.{t.target}",
            **event(),
            **owe_params(t.payment),
        }
        rows = await self._store.run(MOVE, params)
        if not rows:
            return False
        row = rows[0]
        if row["owed_payment"]:
            await self._payments.settle(row["owed_payment"])
        await asyncio.gather(self._changed([row["product_id"]]), self.payment_changed(row["id"]))
        return True
