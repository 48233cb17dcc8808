"""The Stripe adapter: PaymentIntents with automatic capture (the client confirms with the
`client_secret`, Stripe.js or a mobile SDK), refunds, voids, and webhook verification on the raw
request bytes. Configured by `VENDR_STRIPE_SECRET_KEY` and `VENDR_STRIPE_WEBHOOK_SECRET`; the
API's address is a setting so tests can point the official SDK at a local stub."""

from __future__ import annotations

import stripe

from graph.payments.port import (
    AlreadySucceeded,
    Intent,
    PaymentError,
    PaymentRefused,
    ProviderEvent,
    parse,
    verify,
)


class StripeProvider:
    name = "stripe"

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str, tolerance: int) -> None:
        if not webhook_secret:
            raise ValueError("VENDR_STRIPE_WEBHOOK_SECRET is required with a Stripe key")
        self._http = stripe.HTTPXClient(timeout=20.0)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            http_client=self._http,
            # the SDK retries network failures itself, with the same idempotency key
            max_network_retries=2,
        )
        self._webhook_secret = webhook_secret
        self._tolerance = tolerance

    async def create(
        self, *, amount: int, currency: str, key: str, metadata: dict[str, str]
    ) -> Intent:
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    "metadata": metadata,
                    "automatic_payment_methods": {"enabled": True},
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return Intent(intent.id, intent.client_secret, intent.status)

    async def cancel(self, intent_id: str, *, key: str) -> None:
        try:
            await self._client.v1.payment_intents.cancel_async(
                intent_id, options={"idempotency_key": key}
            )
        except stripe.InvalidRequestError as exc:
            if exc.code == "payment_intent_unexpected_state":
                # succeeded (its webhook refunds it) or already cancelled (a retried void)
                intent = await self._client.v1.payment_intents.retrieve_async(intent_id)
                if intent.status == "succeeded":
                    raise AlreadySucceeded(f"payment intent {intent_id} succeeded") from exc
                if intent.status == "canceled":
                    return
            raise _error(exc) from exc
        except stripe.StripeError as exc:
            raise _error(exc) from exc

    async def refund(self, intent_id: str, *, amount: int, key: str) -> str:
        try:
            refund = await self._client.v1.refunds.create_async(
                params={"payment_intent": intent_id, "amount": amount},
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return str(refund.id)

    def event(self, body: bytes, header: str | None) -> ProviderEvent:
        return parse(verify(body, header, self._webhook_secret, self._tolerance))

    async def aclose(self) -> None:
        await self._http.close_async()


def _error(exc: stripe.StripeError) -> PaymentError:
    """Network trouble, rate limits and Stripe's own failures may pass on a retry with the same
    key; a refused request will not."""
    transient = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)
    if isinstance(exc, transient):
        return PaymentError(f"Stripe: {exc.user_message or exc}")
    return PaymentRefused(f"Stripe: {exc.user_message or exc}")
