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

import logging
from typing import Any, Literal

from graph.infra.errors import NotFound, Unavailable
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
from graph.payments.unconfigured import NOT_CONFIGURED
from graph.payments.webhooks import PurposeHandler, Webhooks

log = logging.getLogger("vendr.payments")

Purpose = Literal["order", "promotion"]

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

BATCH = 100
RETRY_FIRST_S, RETRY_MAX_S = 5.0, 3600.0


class PaymentService:
    def __init__(self, store: GraphStore, provider: PaymentProvider) -> None:
        self._store = store
        self.provider = provider
        self._purposes: dict[str, PurposeHandler] = {}
        self._webhooks = Webhooks(store, provider, self)

    def register(self, purpose: Purpose, handler: PurposeHandler) -> None:
        self._purposes[purpose] = handler

    def handler(self, purpose: str) -> PurposeHandler:
        return self._purposes[purpose]

    async def webhook(self, body: bytes, header: str | None) -> dict[str, Any]:
        """Verify, record and apply one webhook delivery (`webhooks`)."""
        return await self._webhooks.webhook(body, header)

    # ---- opening -----------------------------------------------------------------------------

    def require(self) -> None:
        """Unavailable (503) when there is no provider to pay with: called before a purpose
        that needs a payment writes anything."""
        if self.provider.name == "none":
            raise Unavailable(NOT_CONFIGURED, errors={"payment": "not configured"})

    async def start(
        self, purpose: Purpose, subject_id: str, payer_id: str, payable: str
    ) -> dict[str, Any] | None:
        """Open the purpose's payment (once) and get the provider's intent for it; None when
        the purpose is no longer payable. A provider failure leaves the call owed (retried by
        the worker); the payment then shows `new` without a client secret."""
        self.require()
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
        rows = await self.find(payment_id)
        if not rows:
            raise NotFound("no such payment")
        return rows[0]

    async def find(self, payment_id: str) -> list[dict[str, Any]]:
        return await self._store.run(GET, {"id": payment_id})

    async def find_by_intent(self, intent_id: str) -> list[dict[str, Any]]:
        return await self._store.run(BY_INTENT, {"intent_id": intent_id})

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
