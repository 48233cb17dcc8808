"""Payments: one `Payment` node per purpose (an order, a promotion), moved through the PAYMENT
table by the provider's verified webhooks, and the calls Vendr owes the provider (create, void,
refund) carried out after the statement that decided them.

- The amount is read from the purpose in the statement that opens the payment: the server's
  price, never the client's. The idempotency key of each provider call derives from the
  purpose (`order:ID:create`, `order:ID:refund`), so retries never charge or refund twice.
- An owed call is written on the payment (`owed`, `owed_at`) in the same statement as its
  cause (an order cancelled, a success for a purpose that is gone), tried at once, and
  retried by the worker with backoff until the provider accepts it.
- Each webhook event id is recorded (`WebhookEvent`) and applied once; an event that matches no
  transition from the payment's state (out of order, replayed after a later one) is recorded
  as stale and changes nothing. Every effect appends its `Event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from graph.infra.errors import Conflict, NotFound
from graph.infra.ids import event, new_id, now_ms
from graph.infra.store import GraphStore, Statement, statement
from graph.payments.machine import PAYMENT
from graph.payments.port import (
    AlreadySucceeded,
    PaymentError,
    PaymentProvider,
    PaymentRefused,
    ProviderEvent,
)

log = logging.getLogger("vendr.payments")

Purpose = Literal["order", "promotion"]

# the provider's event types and what each does to a payment; the rest are acknowledged and
# ignored (Stripe sends many a Vendr endpoint may be subscribed to)
ACTIONS = {
    "payment_intent.succeeded": "succeed",
    "payment_intent.payment_failed": "fail",
    "payment_intent.canceled": "cancel",
    "charge.refunded": "refunded",
}

PAYMENT_FIELDS = """
RETURN pay.id AS id, pay.key AS key, pay.purpose AS purpose, pay.subject_id AS subject_id,
       pay.status AS status, pay.amount AS amount, pay.currency AS currency,
       pay.provider AS provider, pay.intent_id AS intent_id, pay.payer_id AS payer_id,
       pay.owed AS owed, pay.owed_attempts AS owed_attempts, pay.refund_id AS refund_id,
       pay.created_at AS created_at, pay.updated_at AS updated_at
"""


def _open(label: Literal["Order", "Promotion"]) -> Statement:
    """Open (or find) the payment of one purpose, its amount read from the purpose itself (the
    label from this fixed pair)."""
    return statement(
        f"payments.open_{label.lower()}",
        "MATCH (s:"
        + label
        + """ {id: $subject_id})
        WHERE s.status = $payable
        MERGE (pay:Payment {key: $key})
          ON CREATE SET pay.id = $payment_id, pay.purpose = $purpose, pay.subject_id = s.id,
                        pay.amount = s.amount, pay.currency = s.currency,
                        pay.payer_id = $payer_id, pay.provider = $provider, pay.status = 'new',
                        pay.created_at = $now, pay.updated_at = $now
        WITH s, pay, pay.id = $payment_id AS created
        FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END |
          CREATE (pay)-[:FOR]->(s)
          SET s.payment_id = pay.id
          CREATE (:Event {id: $event_id, type: 'payment.created', at: $now,
                          actor_id: $payer_id, subject_id: pay.id, data: $event_data}))
        WITH pay
        """
        + PAYMENT_FIELDS
        + ", pay.client_secret AS client_secret",
        write=True,
    )


OPEN = {"order": _open("Order"), "promotion": _open("Promotion")}

# the provider's intent for a payment: a cancelled one (its purpose went while the intent was
# being made) owes a void
INTENT = statement(
    "payments.intent",
    """
    MATCH (pay:Payment {id: $id})
    SET pay.intent_id = coalesce(pay.intent_id, $intent_id),
        pay.client_secret = coalesce(pay.client_secret, $client_secret),
        pay.status = CASE WHEN pay.status = 'new' THEN 'pending' ELSE pay.status END,
        pay.owed = CASE WHEN pay.owed = 'create' THEN null
                        WHEN pay.status = 'cancelled' THEN 'void' ELSE pay.owed END,
        pay.owed_at = CASE WHEN pay.status = 'cancelled' THEN $now
                           WHEN pay.owed = 'create' THEN null ELSE pay.owed_at END,
        pay.updated_at = $now
    WITH pay
    """
    + PAYMENT_FIELDS,
    write=True,
)

GET = statement(
    "payments.get",
    """
    MATCH (pay:Payment {id: $id})
    WITH pay
    """
    + PAYMENT_FIELDS,
)

BY_INTENT = statement(
    "payments.by_intent",
    """
    MATCH (pay:Payment {intent_id: $intent_id})
    WITH pay
    """
    + PAYMENT_FIELDS,
)

# One move of the PAYMENT table as a compare-and-set, with what it now owes and its event.
MOVE = statement(
    "payments.move",
    """
    MATCH (pay:Payment {id: $id})
    SET pay.locked_at = $now
    WITH pay
    WHERE pay.status = $source
    SET pay.status = $target, pay.updated_at = $now,
        pay.succeeded_at = CASE WHEN $target = 'succeeded' THEN $now ELSE pay.succeeded_at END,
        pay.refunded_at = CASE WHEN $target = 'refunded' THEN $now ELSE pay.refunded_at END,
        pay.failure = CASE WHEN $target = 'failed' THEN $failure ELSE pay.failure END,
        pay.owed = $owed, pay.owed_at = CASE WHEN $owed IS NULL THEN null ELSE $now END,
        pay.owed_attempts = 0
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: $actor_id,
                    subject_id: pay.id, data: $event_data})
    WITH pay
    """
    + PAYMENT_FIELDS,
    write=True,
)

OWED_DUE = statement(
    "payments.owed_due",
    """
    MATCH (pay:Payment)
    WHERE pay.owed_at <= $now
    RETURN pay.id AS id
    ORDER BY pay.owed_at
    LIMIT $batch
    """,
)

# an owed call carried out (only the one that was owed: a newer decision stays)
OWED_DONE = statement(
    "payments.owed_done",
    """
    MATCH (pay:Payment {id: $id})
    WHERE pay.owed = $owed
    SET pay.owed = null, pay.owed_at = null, pay.updated_at = $now,
        pay.refund_id = coalesce($refund_id, pay.refund_id)
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: 'system',
                    subject_id: pay.id, data: $event_data})
    RETURN pay.id AS id
    """,
    write=True,
)

# a call still owed (or owed from now: a create that did not reach the provider)
OWED_RETRY = statement(
    "payments.owed_retry",
    """
    MATCH (pay:Payment {id: $id})
    WHERE pay.owed IS NULL OR pay.owed = $owed
    SET pay.owed = $owed, pay.owed_at = $at, pay.owed_attempts = coalesce(pay.owed_attempts, 0) + 1,
        pay.owed_error = $error
    RETURN pay.id AS id
    """,
    write=True,
)

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
BATCH = 100
RETRY_FIRST_S, RETRY_MAX_S = 5.0, 3600.0


class PurposeHandler(Protocol):
    """What a purpose (orders, promotions) does when its payment moves."""

    async def paid(self, subject_id: str) -> bool:
        """The payment succeeded: True if the purpose took it, False if it is gone (then the
        payment is refunded)."""
        ...

    async def refunded(self, subject_id: str) -> None:
        """The money went back through the provider (a refund asked elsewhere included)."""
        ...

    async def payment_changed(self, subject_id: str) -> None:
        """Anything else: tell the parties."""
        ...


@dataclass(frozen=True)
class Outcome:
    state: Literal["applied", "stale", "ignored", "rejected"]
    text: str
    payment_id: str | None = None


class PaymentService:
    def __init__(self, store: GraphStore, provider: PaymentProvider) -> None:
        self._store = store
        self.provider = provider
        self._purposes: dict[str, PurposeHandler] = {}

    def register(self, purpose: Purpose, handler: PurposeHandler) -> None:
        self._purposes[purpose] = handler

    # ---- opening -----------------------------------------------------------------------------

    async def start(
        self, purpose: Purpose, subject_id: str, payer_id: str, payable: str
    ) -> dict[str, Any] | None:
        """Open the purpose's payment (once) and get the provider's intent for it; None when
        the purpose is no longer payable. A provider failure leaves the call owed (retried by
        the worker); the payment then shows `new` without a client secret."""
        rows = await self._store.run(
            OPEN[purpose],
            {
                "subject_id": subject_id,
                "payable": payable,
                "key": f"{purpose}:{subject_id}",
                "payment_id": new_id(),
                "purpose": purpose,
                "payer_id": payer_id,
                "provider": self.provider.name,
                **event({"purpose": purpose, "subject_id": subject_id}),
            },
        )
        if not rows:
            return None
        payment = rows[0]
        if payment["intent_id"] is None and payment["status"] == "new":
            payment = await self._create_intent(payment) or payment
        return payment

    async def _create_intent(self, payment: dict[str, Any]) -> dict[str, Any] | None:
        try:
            intent = await self.provider.create(
                amount=int(payment["amount"]),
                currency=payment["currency"],
                key=f"{payment['key']}:create",
                metadata={
                    "vendr_payment_id": payment["id"],
                    "purpose": payment["purpose"],
                    "subject_id": payment["subject_id"],
                },
            )
        except PaymentError as exc:
            log.warning("payment %s: no intent yet: %s", payment["id"], exc)
            await self._owe_retry(payment["id"], "create", str(exc), payment.get("owed_attempts"))
            return None
        rows = await self._store.run(
            INTENT,
            {
                "id": payment["id"],
                "intent_id": intent.id,
                "client_secret": intent.client_secret,
                "now": now_ms(),
            },
        )
        if rows and rows[0]["owed"] == "void":
            await self.settle(payment["id"])
        return rows[0] if rows else None

    async def get(self, payment_id: str) -> dict[str, Any]:
        rows = await self._store.run(GET, {"id": payment_id})
        if not rows:
            raise NotFound("no such payment")
        return rows[0]

    # ---- webhooks ----------------------------------------------------------------------------

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
        payment = await self._find(ev)
        if payment is None:
            return Outcome("ignored", "no payment of Vendr's has this intent")
        pid = payment["id"]
        if action in ("succeed", "refunded") and (
            ev.amount != int(payment["amount"]) or ev.currency != payment["currency"]
        ):
            # never mark paid what was not paid in full (nor refunded what was refunded in part)
            text = f"amount {ev.amount} {ev.currency} is not the payment's"
            log.error("payment %s: %s: %s", pid, ev.type, text)
            return Outcome("rejected", text, pid)
        moved = await self.move(payment, action, actor="provider", failure=ev.failure, ev=ev)
        if moved is None:
            text = f"{action} does not apply to a {payment['status']} payment"
            return Outcome("stale", text, pid)
        handler = self._purposes[payment["purpose"]]
        if action == "succeed":
            if not await handler.paid(payment["subject_id"]):
                # the purpose went while the customer paid: the money goes back
                await self.refund(moved, reason=f"the {payment['purpose']} was no longer payable")
                await handler.payment_changed(payment["subject_id"])
                return Outcome("applied", "paid for a purpose that is gone: refunded", pid)
        elif action == "refunded":
            await handler.refunded(payment["subject_id"])
        else:
            await handler.payment_changed(payment["subject_id"])
        return Outcome("applied", f"payment {payment['status']} -> {moved['status']}", pid)

    async def _find(self, ev: ProviderEvent) -> dict[str, Any] | None:
        if ev.payment_id:
            rows = await self._store.run(GET, {"id": ev.payment_id})
            if rows and rows[0]["intent_id"] in (None, ev.intent_id):
                return rows[0]
        if ev.intent_id:
            rows = await self._store.run(BY_INTENT, {"intent_id": ev.intent_id})
            return rows[0] if rows else None
        return None

    async def move(
        self,
        payment: dict[str, Any],
        action: str,
        *,
        actor: str,
        failure: str | None = None,
        ev: ProviderEvent | None = None,
        owed: str | None = None,
    ) -> dict[str, Any] | None:
        """One move of the PAYMENT table from the state `payment` was read in; None if the
        table has no such move or the payment moved first."""
        t = PAYMENT.find(payment["status"], action)
        if t is None:
            return None
        data = {"from": t.source, "event": ev.id if ev else None, "type": ev.type if ev else None}
        rows = await self._store.run(
            MOVE,
            {
                "id": payment["id"],
                "source": t.source,
                "target": t.target,
                "failure": failure,
                "owed": owed,
                "actor_id": actor,
                "event_type": f"payment.{t.target}",
                **event(data),
            },
        )
        return rows[0] if rows else None

    async def refund(self, payment: dict[str, Any], *, reason: str) -> None:
        """Refund a succeeded payment now (owed until the provider takes it)."""
        moved = await self.move(payment, "refund", actor="system", owed="refund")
        if moved is not None:
            log.info("payment %s refunded: %s", payment["id"], reason)
            await self.settle(moved["id"])

    # ---- owed calls --------------------------------------------------------------------------

    async def settle(self, payment_id: str) -> bool:
        """Carry out the call the payment is owed (void, refund, create); True when nothing is
        owed any more. A failure is retried later with backoff."""
        payment = await self.get(payment_id)
        owed = payment["owed"]
        if owed is None:
            return True
        if owed == "create":
            return await self._create_intent(payment) is not None
        key = f"{payment['key']}:{owed}"
        refund_id = None
        try:
            if owed == "void":
                await self.provider.cancel(payment["intent_id"], key=key)
            else:
                refund_id = await self.provider.refund(
                    payment["intent_id"], amount=int(payment["amount"]), key=key
                )
        except AlreadySucceeded:
            pass  # paid before the void: the success's webhook refunds it
        except PaymentRefused as exc:
            log.error("payment %s: %s refused for good: %s", payment_id, owed, exc)
            await self._owe_retry(payment_id, owed, str(exc), payment["owed_attempts"], final=True)
            return False
        except PaymentError as exc:
            log.warning("payment %s: %s failed, will retry: %s", payment_id, owed, exc)
            await self._owe_retry(payment_id, owed, str(exc), payment["owed_attempts"])
            return False
        await self._store.run(
            OWED_DONE,
            {
                "id": payment_id,
                "owed": owed,
                "refund_id": refund_id,
                "event_type": f"payment.{owed}_sent",
                **event({"key": key, "refund_id": refund_id}),
            },
        )
        return True

    async def _owe_retry(
        self, payment_id: str, owed: str, error: str, attempts: Any, *, final: bool = False
    ) -> None:
        """The call stays owed, retried after a backoff; refused for good, it waits for an
        operator (the error is on the node) instead."""
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** int(attempts or 0))
        at = None if final else now_ms() + int(delay * 1000)
        await self._store.run(
            OWED_RETRY, {"id": payment_id, "owed": owed, "at": at, "error": error[:300]}
        )

    async def settle_due(self, batch: int = BATCH) -> int:
        """Retry every owed call that is due; the number settled."""
        rows = await self._store.run(OWED_DUE, {"now": now_ms(), "batch": batch})
        settled = 0
        for row in rows:
            if await self.settle(row["id"]):
                settled += 1
        return settled


async def run_settlements(payments: PaymentService, interval_s: float, stop: asyncio.Event) -> None:
    """The worker's loop: owed provider calls retried until they pass."""
    while not stop.is_set():
        try:
            n = await payments.settle_due()
            if n:
                log.info("payments: %d owed calls settled", n)
        except Exception:
            log.exception("payments settlement round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


def owe_payment(carry: str) -> str:
    """The Cypher a deal's move shares (deal bound as `o`, `carry` kept): what the transition
    owes its payment (`$payment`: void an unpaid one, refund a paid one) is decided on the
    payment in the same statement, with its event; `owed_payment` names the payment whose call
    is to be carried out after the statement (null: none)."""
    return (
        "OPTIONAL MATCH (pay:Payment)-[:FOR]->(o)\n"
        f"WITH {carry}, o, pay,\n"
        """     CASE WHEN $payment = 'refund' AND pay.status = 'succeeded' THEN 'refund'
          WHEN $payment = 'void' AND pay.status IN ['new', 'pending', 'failed'] THEN 'void'
     END AS owed
FOREACH (_ IN CASE WHEN owed IS NULL THEN [] ELSE [1] END |
  SET pay.status = CASE WHEN owed = 'refund' THEN 'refunding' ELSE 'cancelled' END,
      pay.owed = CASE WHEN pay.intent_id IS NULL THEN null ELSE owed END,
      pay.owed_at = CASE WHEN pay.intent_id IS NULL THEN null ELSE $now END,
      pay.owed_attempts = 0, pay.updated_at = $now
  CREATE (:Event {id: $payment_event_id, at: $now, actor_id: $actor_id, subject_id: pay.id,
                  type: CASE WHEN owed = 'refund' THEN 'payment.refunding'
                             ELSE 'payment.cancelled' END,
                  data: $payment_event_data}))
"""
        f"WITH {carry}, o,\n"
        "     CASE WHEN owed IS NULL OR pay.intent_id IS NULL THEN null ELSE pay.id END"
        " AS owed_payment\n"
    )


def owe_params(payment: str | None, reason: str) -> dict[str, Any]:
    """The parameters `owe_payment` reads."""
    ev = event({"reason": reason})
    return {
        "payment": payment,
        "payment_event_id": ev["event_id"],
        "payment_event_data": ev["event_data"],
    }
