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
from graph.infra.store import GraphStore
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
from graph.payments.statements import (
    BY_INTENT,
    FAILED,
    GET,
    INTENT,
    MOVE,
    OPEN,
    OWED_DONE,
    OWED_DUE,
    OWED_RETRY,
    RETRY,
    charge_postings,
)
from graph.payments.unconfigured import NOT_CONFIGURED
from graph.payments.webhooks import Outcome, PurposeHandler, Webhooks

log = logging.getLogger("vendr.payments")

Purpose = Literal["order", "promotion"]
# a connected account's state from the provider: (account id, can be paid out to) -> outcome
AccountHandler = Callable[[str, bool], Awaitable[Outcome]]

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
