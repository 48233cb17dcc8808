"""The payment-provider port: what Vendr asks of a card processor, and what it reads back.

A provider creates a payment for an amount the server computed (an order's is authorised
first and captured when the seller confirms, `capture="manual"`; a promotion's is taken at
once), captures, voids and refunds it (in whole or in part), keeps connected accounts for the
sellers it pays out to (onboarding links, transfers), and turns a webhook request into a
verified event. Every call carries an idempotency key derived from the
purpose (`order:ID:create`, `order:ID:refund`…), so a retried call never charges or refunds
twice. Webhooks are verified the way Stripe signs them (`Stripe-Signature: t=…,v1=…`,
HMAC-SHA256 over `t.body` with the endpoint's secret), for both the Stripe adapter and the local
provider, which signs its own the same way.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import stripe


class PaymentError(Exception):
    """The provider could not be reached or failed: the call may be retried with its key."""


class PaymentRefused(PaymentError):
    """The provider refused the call for good (invalid request, a key reused with other
    parameters): retrying it changes nothing."""


class AlreadySucceeded(PaymentRefused):
    """A void came too late: the customer had paid. The success arrives as a webhook and is
    refunded there."""


class BadSignature(Exception):
    """A webhook that is not provably from the provider, or not recent: refused with 400."""


@dataclass(frozen=True)
class Intent:
    id: str
    client_secret: str | None
    status: str  # the provider's own word for it


Capture = Literal["automatic", "manual"]


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook event, reduced to what the payment service reads."""

    id: str
    type: str
    created: int
    intent_id: str | None
    payment_id: str | None  # ours, from the metadata the payment was created with
    amount: int | None  # minor units: received, capturable, refunded so far, or disputed
    currency: str | None  # upper case
    failure: str | None = None
    dispute_id: str | None = None  # a dispute's id (`charge.dispute.*`)
    dispute_status: str | None = None  # the provider's word: needs_response, won, lost…
    account_id: str | None = None  # a connected account (`account.updated`)
    payouts_enabled: bool | None = None


class PaymentProvider(Protocol):
    name: str

    async def create(
        self,
        *,
        amount: int,
        currency: str,
        key: str,
        metadata: dict[str, str],
        capture: Capture = "automatic",
    ) -> Intent: ...

    async def capture(self, intent_id: str, *, key: str) -> None: ...

    async def cancel(self, intent_id: str, *, key: str) -> None: ...

    async def refund(self, intent_id: str, *, amount: int, key: str) -> str: ...

    async def open_account(self, *, user_id: str, email: str | None, key: str) -> str:
        """A connected account for a seller to be paid out to: its id."""
        ...

    async def onboarding_link(self, account_id: str, *, refresh_url: str, return_url: str) -> str:
        """Where the seller gives the provider what it needs to pay them (a short-lived URL)."""
        ...

    async def transfer(
        self, *, amount: int, currency: str, account_id: str, key: str, metadata: dict[str, str]
    ) -> str:
        """Move `amount` of the platform's balance to a connected account: the transfer's id."""
        ...

    def event(self, body: bytes, header: str | None) -> ProviderEvent: ...

    async def aclose(self) -> None: ...


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header for `body`, as Stripe computes it."""
    return str(
        stripe.WebhookSignature.generate_signature_header(
            body.decode("utf-8"), secret, timestamp=timestamp
        )
    )


def verify(body: bytes, header: str | None, secret: str, tolerance: int) -> dict[str, Any]:
    """The event in `body` if `header` signs it with `secret` within `tolerance` seconds either
    way of now; BadSignature otherwise. Stripe's library checks the signature (constant-time)
    and the age; a timestamp from the future is refused here too, as the library lets it by."""
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise BadSignature(str(exc).split(". ")[0]) from exc
    except UnicodeDecodeError as exc:
        raise BadSignature("the body is not UTF-8") from exc
    assert header is not None  # verify_header refuses a missing one
    stamp = int(next(part[2:] for part in header.split(",") if part.startswith("t=")))
    if stamp > time.time() + tolerance:
        raise BadSignature(f"timestamp {stamp} is in the future")
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise BadSignature("the signed body is not JSON") from exc
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise BadSignature("the signed body is not an event")
    return event


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def parse(event: dict[str, Any]) -> ProviderEvent:
    """The facts of a (verified) Stripe-shaped event: payment intents carry our metadata and
    their amount (received, or capturable once authorised); a charge carries the intent it
    belongs to and what has been refunded of it so far; a dispute its amount and status; a
    connected account whether it can be paid out to."""
    obj = event["data"]["object"]
    kind = obj.get("object")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    intent_id = obj.get("id") if kind == "payment_intent" else obj.get("payment_intent")
    amount = _int(obj.get("amount_received")) or _int(obj.get("amount"))
    if event["type"] == "payment_intent.amount_capturable_updated":
        amount = _int(obj.get("amount_capturable"))
    if kind == "charge":
        amount = _int(obj.get("amount_refunded"))
    error = obj.get("last_payment_error")
    ours = metadata.get("vendr_payment_id")
    currency = obj.get("currency")
    if kind == "account":
        return ProviderEvent(
            id=event["id"],
            type=event["type"],
            created=int(event.get("created") or 0),
            intent_id=None,
            payment_id=None,
            amount=None,
            currency=None,
            account_id=str(obj.get("id")),
            payouts_enabled=obj.get("payouts_enabled") is True,
        )
    return ProviderEvent(
        id=event["id"],
        type=event["type"],
        created=int(event.get("created") or 0),
        intent_id=intent_id if isinstance(intent_id, str) else None,
        payment_id=str(ours) if ours else None,
        amount=amount,
        currency=currency.upper() if isinstance(currency, str) else None,
        failure=str(error.get("message"))[:300] if isinstance(error, dict) else None,
        dispute_id=str(obj["id"]) if kind == "dispute" else None,
        dispute_status=str(obj.get("status")) if kind == "dispute" else None,
    )
