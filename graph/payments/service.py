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
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from graph.infra.errors import Conflict, Invalid, NotFound, Unavailable
from graph.infra.ids import event, new_id, now_ms
from graph.infra.store import GraphStore, Statement, statement
from graph.payments.ledger import REFUNDABLE, post, seller
from graph.payments.machine import PAYMENT
from graph.payments.port import (
    AlreadySucceeded,
    PaymentError,
    PaymentProvider,
    PaymentRefused,
    ProviderEvent,
)
from graph.payments.refunds import (
    ASK,
    DISPUTE_CLOSED,
    DISPUTE_OPENED,
    REFUNDED,
    dispute_params,
    platform_bucket,
    refunded_params,
)
from graph.payments.unconfigured import NOT_CONFIGURED
from graph.payments.webhooks import Outcome, PurposeHandler, Webhooks

log = logging.getLogger("vendr.payments")

Purpose = Literal["order", "promotion"]
# a connected account's state from the provider: (account id, can be paid out to) -> outcome
AccountHandler = Callable[[str, bool], Awaitable[Outcome]]

PAYMENT_FIELDS = """
RETURN pay.id AS id, pay.key AS key, pay.purpose AS purpose, pay.subject_id AS subject_id,
       pay.status AS status, pay.amount AS amount, pay.currency AS currency,
       pay.provider AS provider, pay.intent_id AS intent_id, pay.payer_id AS payer_id,
       pay.capture AS capture, pay.fee AS fee, pay.payee_id AS payee_id,
       coalesce(pay.captured_amount, 0) AS captured_amount,
       coalesce(pay.refunded_amount, 0) AS refunded_amount,
       coalesce(pay.refund_asked, 0) AS refund_asked,
       pay.dispute_id AS dispute_id, pay.dispute_status AS dispute_status,
       pay.dispute_amount AS dispute_amount, pay.released_at AS released_at,
       pay.owed AS owed, pay.owed_amount AS owed_amount, pay.owed_attempts AS owed_attempts,
       pay.owed_error AS owed_error, pay.refund_id AS refund_id,
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
                        pay.capture = $capture, pay.payee_id = $payee_id,
                        pay.fee = (s.amount * $fee_bps) / 10000,
                        pay.captured_amount = 0, pay.refunded_amount = 0, pay.refund_asked = 0,
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

# the provider's intent for a payment (its id and client secret are the provider's answer): a
# cancelled one (its purpose went while the intent was being made) owes a void
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
    CREATE (:Event {id: $event_id, type: 'payment.intent_created', at: $now, actor_id: 'system',
                    subject_id: pay.id, data: $event_data})
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

# One move of the PAYMENT table as a compare-and-set, with what it now owes and its event. A
# capture (the move to `succeeded`) books the charge: the buyer's money split between the
# seller's pending balance and the platform (`$postings`, from `charge_postings`).
MOVE = statement(
    "payments.move",
    """
    MATCH (pay:Payment {id: $id})
    SET pay.locked_at = $now
    WITH pay
    WHERE pay.status = $source
    SET pay.status = $target, pay.updated_at = $now,
        pay.authorized_at = CASE WHEN $target = 'authorized' THEN $now
                                 ELSE pay.authorized_at END,
        pay.succeeded_at = CASE WHEN $target = 'succeeded' THEN $now ELSE pay.succeeded_at END,
        pay.captured_amount = CASE WHEN $target = 'succeeded' THEN pay.amount
                                   ELSE pay.captured_amount END,
        pay.seller_net = CASE WHEN $target = 'succeeded' THEN pay.amount - pay.fee
                              ELSE pay.seller_net END,
        pay.refunded_at = CASE WHEN $target = 'refunded' THEN $now ELSE pay.refunded_at END,
        pay.failure = CASE WHEN $target = 'failed' THEN $failure ELSE pay.failure END,
        pay.owed = $owed, pay.owed_at = CASE WHEN $owed IS NULL THEN null ELSE $now END,
        pay.owed_attempts = 0,
        // a refund owed gives back what is left of the capture
        pay.owed_amount = CASE WHEN $owed = 'refund' THEN """
    + REFUNDABLE
    + """ END,
        pay.refund_asked = CASE WHEN $owed = 'refund'
                                THEN coalesce(pay.refund_asked, 0) + """
    + REFUNDABLE
    + """ ELSE pay.refund_asked END
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: $actor_id,
                    subject_id: pay.id, data: $event_data})
    WITH pay
    """
    + post(
        "$target = 'succeeded'",
        "'charge:' + pay.id",
        "'charge'",
        "pay.currency",
        "$postings",
        "payment_id: pay.id, subject_id: pay.subject_id",
    )
    + "WITH pay\n"
    + PAYMENT_FIELDS,
    write=True,
)


def charge_postings(payment: dict[str, Any]) -> list[dict[str, Any]]:
    """The charge's entry: the buyer paid the whole amount; an order's goes to the seller's
    pending balance less the platform's fee, a promotion's to the platform."""
    amount = int(payment["amount"])
    paid = {"owner": "buyers", "bucket": "cards", "amount": -amount}
    if payment["purpose"] != "order":
        return [paid, {"owner": "platform", "bucket": "promotions", "amount": amount}]
    fee = int(payment["fee"] or 0)
    return [
        paid,
        {"owner": seller(payment["payee_id"]), "bucket": "pending", "amount": amount - fee},
        {"owner": "platform", "bucket": "fees", "amount": fee},
    ]


# provider calls refused for good: they wait for an operator (`vendr payments failed|retry`)
FAILED = statement(
    "payments.failed",
    """
    MATCH (pay:Payment)
    WHERE pay.owed IS NOT NULL AND pay.owed_at IS NULL
    WITH pay ORDER BY pay.updated_at DESC, pay.id LIMIT $limit
    """
    + PAYMENT_FIELDS,
)

RETRY = statement(
    "payments.retry",
    """
    MATCH (pay:Payment {id: $id})
    WHERE pay.owed IS NOT NULL
    SET pay.owed_at = $now, pay.owed_attempts = 0
    RETURN pay.id AS id
    """,
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
      AND ($amount IS NULL OR coalesce(pay.owed_amount, pay.amount) = $amount)
    SET pay.owed = null, pay.owed_at = null, pay.owed_amount = null, pay.owed_error = null,
        pay.updated_at = $now, pay.refund_id = coalesce($refund_id, pay.refund_id)
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: 'system',
                    subject_id: pay.id, data: $event_data})
    RETURN pay.id AS id
    """,
    write=True,
)

# a call still owed (or owed from now: a create that did not reach the provider); the
# provider's refusal is a fact (it makes a call owed), when to try again is not
OWED_RETRY = statement(
    "payments.owed_retry",
    """
    MATCH (pay:Payment {id: $id})
    WHERE pay.owed IS NULL OR pay.owed = $owed
    SET pay.owed = $owed, pay.owed_at = $at, pay.owed_attempts = coalesce(pay.owed_attempts, 0) + 1,
        pay.owed_error = $error
    CREATE (:Event {id: $event_id, type: 'payment.call_failed', at: $now, actor_id: 'system',
                    subject_id: pay.id, data: $event_data})
    RETURN pay.id AS id
    """,
    write=True,
)

BATCH = 100
RETRY_FIRST_S, RETRY_MAX_S = 5.0, 3600.0


def refund_key(payment: dict[str, Any]) -> str:
    """A refund's idempotency key: `PURPOSE:ID:refund` for the one that gives back the rest
    (a cancel), `PURPOSE:ID:refund:TOTAL` for a partial one (the total asked with it)."""
    asked = int(payment["refund_asked"] or 0)
    if asked >= int(payment["captured_amount"] or 0):
        return f"{payment['key']}:refund"
    return f"{payment['key']}:refund:{asked}"


class PaymentService:
    def __init__(self, store: GraphStore, provider: PaymentProvider, fee_bps: int = 0) -> None:
        self._store = store
        self.provider = provider
        self.fee_bps = fee_bps  # the platform's fee on an order, in basis points
        self._purposes: dict[str, PurposeHandler] = {}
        self._accounts: AccountHandler | None = None
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
        self,
        purpose: Purpose,
        subject_id: str,
        payer_id: str,
        payable: str,
        payee_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Open the purpose's payment (once) and get the provider's intent for it; None when
        the purpose is no longer payable. An order's card is authorised now and captured when
        the seller confirms (its fee and payee, the seller, are fixed here); a promotion's is
        charged at once. A provider failure leaves the call owed (retried by the worker); the
        payment then shows `new` without a client secret."""
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
                "capture": "manual" if purpose == "order" else "automatic",
                "payee_id": payee_id,
                "fee_bps": self.fee_bps if purpose == "order" else 0,
                **event(),
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
                capture=payment["capture"] or "automatic",
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
                **event(),
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
        owed: str | None = None,
    ) -> dict[str, Any] | None:
        """One move of the PAYMENT table from the state `payment` was read in; None if the
        table has no such move or the payment moved first."""
        t = PAYMENT.find(payment["status"], action)
        if t is None:
            return None
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
                "postings": charge_postings(payment) if t.target == "succeeded" else [],
                **event(),
            },
        )
        return rows[0] if rows else None

    async def give_back(self, payment: dict[str, Any], *, reason: str) -> None:
        """The money of a payment whose purpose is gone goes back now: an authorisation is
        voided, a capture refunded (owed until the provider takes it)."""
        action, owed = (
            ("cancel", "void") if payment["status"] == "authorized" else ("refund", "refund")
        )
        moved = await self.move(payment, action, actor="system", owed=owed)
        if moved is not None:
            log.info("payment %s %s: %s", payment["id"], owed, reason)
            await self.settle(moved["id"])

    async def ask_refund(
        self, payment: dict[str, Any], amount: int, *, actor_id: str, reason: str
    ) -> dict[str, Any]:
        """Part of a captured payment goes back to the payer (asked by `actor_id`): owed to
        the provider at once; the ledger moves when the provider confirms it. 409 when the
        payment is not captured, a call is already on its way, a dispute is open, or more
        would go back than was taken."""
        if int(payment["captured_amount"]) == 0:
            raise Conflict(
                "nothing was captured of this payment: an authorisation is voided, not refunded",
                errors={"payment": payment["status"]},
            )
        disputed = int(payment["dispute_amount"] or 0)
        if payment["dispute_status"] not in ("open", "lost"):
            disputed = 0
        left = int(payment["captured_amount"]) - int(payment["refund_asked"]) - disputed
        if not 0 < amount <= left:
            raise Invalid(
                f"amount is 1 to {left}" if left else "nothing is left to refund",
                errors={"amount": f"1 to {left}" if left else "nothing left"},
            )
        rows = await self._store.run(
            ASK,
            {
                "id": payment["id"],
                "amount": amount,
                "actor_id": actor_id,
                "reason": reason,
                **event(),
            },
        )
        if not rows:
            raise Conflict(
                "the payment cannot be refunded now: it is not captured, a dispute is open, or "
                "another refund is on its way; try again in a moment",
                errors={"payment": payment["status"]},
            )
        await self.settle(payment["id"])
        return await self.get(payment["id"])

    async def book_refund(self, payment: dict[str, Any], ev: ProviderEvent) -> Outcome:
        """The provider says `ev.amount` has been refunded so far: the difference booked once;
        all of it, the purpose hears it."""
        pid = payment["id"]
        total = ev.amount
        if total is None or not 0 < total <= int(payment["captured_amount"]):
            return Outcome("rejected", f"{total} refunded is not within the capture", pid)
        if total <= int(payment["refunded_amount"]):
            return Outcome("stale", f"{total} refunded was booked already", pid)
        rows = await self._store.run(REFUNDED, refunded_params(payment, total))
        if not rows:
            return Outcome("stale", "the refund changed meanwhile", pid)
        handler = self.handler(payment["purpose"])
        if rows[0]["status"] == "refunded":
            await handler.refunded(payment["subject_id"])
            return Outcome("applied", f"payment {payment['status']} -> refunded", pid)
        await handler.payment_changed(payment["subject_id"])
        return Outcome("applied", f"{total} of {payment['captured_amount']} refunded", pid)

    async def book_dispute(self, payment: dict[str, Any], ev: ProviderEvent) -> Outcome:
        """A dispute opened (the seller's share frozen) or closed (won: back; lost: gone to
        the card holder)."""
        pid = payment["id"]
        if ev.dispute_id is None:
            return Outcome("rejected", "a dispute event without a dispute", pid)
        if ev.type == "charge.dispute.created":
            left = int(payment["captured_amount"]) - int(payment["refunded_amount"])
            if ev.amount is None or not 0 < ev.amount <= left:
                return Outcome("rejected", f"disputed {ev.amount} is not within the capture", pid)
            rows = await self._store.run(
                DISPUTE_OPENED, dispute_params(payment, ev.dispute_id, ev.amount)
            )
        else:
            outcome = {"won": "won", "lost": "lost"}.get(ev.dispute_status or "")
            if outcome is None:
                return Outcome("ignored", f"a dispute closed as {ev.dispute_status}", pid)
            rows = await self._store.run(
                DISPUTE_CLOSED,
                {
                    "dispute_id": ev.dispute_id,
                    "outcome": outcome,
                    "platform_bucket": platform_bucket(payment),
                    **event(),
                },
            )
        if not rows:
            return Outcome("stale", f"{ev.type} does not apply to this payment now", pid)
        await self.handler(payment["purpose"]).payment_changed(payment["subject_id"])
        return Outcome("applied", f"dispute {rows[0]['dispute_status']}", pid)

    def on_account(self, handler: AccountHandler) -> None:
        self._accounts = handler

    async def account_updated(self, ev: ProviderEvent) -> Outcome:
        if self._accounts is None or ev.account_id is None:
            return Outcome("ignored", "no connected accounts here")
        return await self._accounts(ev.account_id, bool(ev.payouts_enabled))

    # ---- owed calls --------------------------------------------------------------------------

    async def settle(self, payment_id: str) -> bool:
        """Carry out the call the payment is owed (void, capture, refund, create); True when
        nothing is owed any more. A failure is retried later with backoff."""
        payment = await self.get(payment_id)
        owed = payment["owed"]
        if owed is None:
            return True
        if owed == "create":
            return await self._create_intent(payment) is not None
        # a refund's amount (a refund owed before the ledger existed: the whole payment)
        amount = None
        if owed == "refund":
            owed_amount = payment["owed_amount"]
            amount = int(owed_amount if owed_amount is not None else payment["amount"])
        key = refund_key(payment) if owed == "refund" else f"{payment['key']}:{owed}"
        refund_id = None
        try:
            if owed == "void":
                await self.provider.cancel(payment["intent_id"], key=key)
            elif owed == "capture":
                await self.provider.capture(payment["intent_id"], key=key)
            else:
                refund_id = await self.provider.refund(
                    payment["intent_id"], amount=amount or 0, key=key
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
                "amount": amount,
                "refund_id": refund_id,
                "event_type": f"payment.{owed}_sent",
                **event(),
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
            OWED_RETRY,
            {"id": payment_id, "owed": owed, "at": at, "error": error[:300], **event()},
        )

    async def failed(self, limit: int = 100) -> list[dict[str, Any]]:
        """Provider calls refused for good, newest first: they wait for an operator."""
        return await self._store.run(FAILED, {"limit": limit})

    async def retry(self, payment_id: str) -> bool:
        """An operator retries a payment's owed call now (its backoff reset): True when it
        passed."""
        if not await self._store.run(RETRY, {"id": payment_id, "now": now_ms()}):
            raise NotFound("no provider call is owed on this payment")
        return await self.settle(payment_id)

    async def settle_due(self, batch: int = BATCH) -> int:
        """Retry every owed call that is due; the number settled."""
        rows = await self._store.run(OWED_DUE, {"now": now_ms(), "batch": batch})
        settled = 0
        for row in rows:
            if await self.settle(row["id"]):
                settled += 1
        return settled
