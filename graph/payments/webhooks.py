"""The provider's webhooks: each delivery verified (BadSignature, a 400, before anything is
written), its event id claimed (`WebhookEvent`) and applied once; a duplicate is answered with
what the first delivery did, and an event that matches no transition from the payment's state
(out of order, replayed after a later one) is recorded as stale and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from graph.infra.errors import Conflict
from graph.infra.ids import new_id, now_ms
from graph.infra.store import GraphStore, statement
from graph.payments.port import PaymentProvider, ProviderEvent

log = logging.getLogger("vendr.payments")

# the provider's event types and what each does to a payment; the rest are acknowledged and
# ignored (Stripe sends many a Vendr endpoint may be subscribed to)
ACTIONS = {
    "payment_intent.amount_capturable_updated": "authorize",
    "payment_intent.succeeded": "succeed",
    "payment_intent.payment_failed": "fail",
    "payment_intent.canceled": "cancel",
    "charge.refunded": "refunded",
    "charge.dispute.created": "dispute",
    "charge.dispute.closed": "dispute_closed",
    "account.updated": "account",
}

# A delivery claims the event id; a second delivery of it (a duplicate, a replay) finds it
# applied and changes nothing. A delivery that died half-way leaves its claim, which a retry
# takes over once it is older than a lease.
WEBHOOK_CLAIM = statement(
    "payments.webhook_claim",
    """
    MERGE (w:WebhookEvent {id: $id})
      ON CREATE SET w.type = $type, w.provider = $provider, w.received_at = $now,
                    w.state = 'received', w.claim = $claim, w.claimed_at = $now
    WITH w
    FOREACH (_ IN CASE WHEN w.state = 'received' AND w.claimed_at < $stale THEN [1] ELSE [] END |
      SET w.claim = $claim, w.claimed_at = $now)
    RETURN w.state AS state, w.claim = $claim AS mine, w.outcome AS outcome
    """,
    write=True,
)

WEBHOOK_DONE = statement(
    "payments.webhook_done",
    """
    MATCH (w:WebhookEvent {id: $id})
    WHERE w.state = 'received' AND w.claim = $claim
    SET w.state = $state, w.outcome = $outcome, w.payment_id = $payment_id, w.done_at = $now
    RETURN w.id AS id
    """,
    write=True,
)

CLAIM_LEASE_MS = 60_000


class PurposeHandler(Protocol):
    """What a purpose (orders, promotions) does when its payment moves."""

    async def paid(self, subject_id: str) -> bool:
        """The card was authorised or charged: True if the purpose takes the money, False if
        it is gone (then the payment is voided or refunded)."""
        ...

    async def voided(self, subject_id: str) -> None:
        """The provider cancelled an authorised payment (the authorisation lapsed)."""
        ...

    async def refunded(self, subject_id: str) -> None:
        """The money went back through the provider, all of it (a refund asked elsewhere
        included)."""
        ...

    async def payment_changed(self, subject_id: str) -> None:
        """Anything else: tell the parties."""
        ...


class Payments(Protocol):
    """What applying a webhook asks of the payment service."""

    def handler(self, purpose: str) -> PurposeHandler: ...

    async def find(self, payment_id: str) -> list[dict[str, Any]]: ...

    async def find_by_intent(self, intent_id: str) -> list[dict[str, Any]]: ...

    async def move(
        self,
        payment: dict[str, Any],
        action: str,
        *,
        actor: str,
        failure: str | None = None,
        owed: str | None = None,
    ) -> dict[str, Any] | None: ...

    async def give_back(self, payment: dict[str, Any], *, reason: str) -> None: ...

    async def book_refund(self, payment: dict[str, Any], ev: ProviderEvent) -> Outcome: ...

    async def book_dispute(self, payment: dict[str, Any], ev: ProviderEvent) -> Outcome: ...

    async def account_updated(self, ev: ProviderEvent) -> Outcome: ...


@dataclass(frozen=True)
class Outcome:
    state: Literal["applied", "stale", "ignored", "rejected"]
    text: str
    payment_id: str | None = None


class Webhooks:
    def __init__(self, store: GraphStore, provider: PaymentProvider, payments: Payments) -> None:
        self._store = store
        self.provider = provider
        self._payments = payments

    async def webhook(self, body: bytes, header: str | None) -> dict[str, Any]:
        """Verify, record and apply one webhook delivery. BadSignature (400) before anything
        is written; a duplicate is acknowledged with what the first delivery did."""
        ev = self.provider.event(body, header)
        claim = new_id()
        now = now_ms()
        rows = await self._store.run(
            WEBHOOK_CLAIM,
            {
                "id": ev.id,
                "type": ev.type,
                "provider": self.provider.name,
                "claim": claim,
                "now": now,
                "stale": now - CLAIM_LEASE_MS,
            },
        )
        row = rows[0]
        if row["state"] != "received":
            first = {"state": row["state"], "outcome": row["outcome"]}
            return {"id": ev.id, **first, "duplicate": True}
        if not row["mine"]:
            raise Conflict("this event is being applied by another delivery; retry later")
        outcome = await self._apply(ev)
        await self._store.run(
            WEBHOOK_DONE,
            {
                "id": ev.id,
                "claim": claim,
                "state": outcome.state,
                "outcome": outcome.text,
                "payment_id": outcome.payment_id,
                "now": now_ms(),
            },
        )
        log.info("webhook %s %s: %s (%s)", ev.id, ev.type, outcome.state, outcome.text)
        return {"id": ev.id, "state": outcome.state, "outcome": outcome.text, "duplicate": False}

    async def _apply(self, ev: ProviderEvent) -> Outcome:
        action = ACTIONS.get(ev.type)
        if action is None:
            return Outcome("ignored", f"{ev.type} is not an event Vendr acts on")
        if action == "account":
            return await self._payments.account_updated(ev)
        payment = await self._find(ev)
        if payment is None:
            return Outcome("ignored", "no payment of Vendr's has this intent")
        pid = payment["id"]
        if ev.currency is not None and ev.currency != payment["currency"]:
            text = f"currency {ev.currency} is not the payment's"
            log.error("payment %s: %s: %s", pid, ev.type, text)
            return Outcome("rejected", text, pid)
        if action == "refunded":
            return await self._payments.book_refund(payment, ev)
        if action in ("dispute", "dispute_closed"):
            return await self._payments.book_dispute(payment, ev)
        if action in ("succeed", "authorize") and ev.amount != int(payment["amount"]):
            # never mark paid what was not paid in full
            text = f"amount {ev.amount} {ev.currency} is not the payment's"
            log.error("payment %s: %s: %s", pid, ev.type, text)
            return Outcome("rejected", text, pid)
        moved = await self._payments.move(payment, action, actor="provider", failure=ev.failure)
        if moved is None:
            text = f"{action} does not apply to a {payment['status']} payment"
            return Outcome("stale", text, pid)
        handler = self._payments.handler(payment["purpose"])
        if action in ("succeed", "authorize"):
            if not await handler.paid(payment["subject_id"]):
                # the purpose went while the customer paid: the money goes back
                await self._payments.give_back(
                    moved, reason=f"the {payment['purpose']} was no longer payable"
                )
                await handler.payment_changed(payment["subject_id"])
                back = "voided" if action == "authorize" else "refunded"
                return Outcome("applied", f"paid for a purpose that is gone: {back}", pid)
        elif action == "cancel" and payment["status"] in ("authorized", "capturing"):
            await handler.voided(payment["subject_id"])
        else:
            await handler.payment_changed(payment["subject_id"])
        return Outcome("applied", f"payment {payment['status']} -> {moved['status']}", pid)

    async def _find(self, ev: ProviderEvent) -> dict[str, Any] | None:
        if ev.dispute_id and ev.intent_id is None:
            return None  # a dispute is found by its charge's intent
        if ev.payment_id:
            rows = await self._payments.find(ev.payment_id)
            if rows and rows[0]["intent_id"] in (None, ev.intent_id):
                return rows[0]
        if ev.intent_id:
            rows = await self._payments.find_by_intent(ev.intent_id)
            return rows[0] if rows else None
        return None
