"""The Stripe adapter: PaymentIntents (the client confirms with the `client_secret`, Stripe.js
or a mobile SDK), an order's authorised at placement and captured at confirmation (manual
capture), voids, whole and partial refunds, Stripe Connect for seller payouts (Express
connected accounts with onboarding links; separate charges and transfers: the platform charges
the buyer and later transfers the seller's share, keeping its fee), and webhook verification on
the raw request bytes. Configured by `VENDR_STRIPE_SECRET_KEY` and
`VENDR_STRIPE_WEBHOOK_SECRET`; the API's address is a setting so tests can point the official
SDK at a local stub."""

from __future__ import annotations

import stripe
from stripe.params import AccountCreateParams, PaymentIntentCreateParams

from graph.payments.port import (
    AlreadySucceeded,
    Capture,
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
        self,
        *,
        amount: int,
        currency: str,
        key: str,
        metadata: dict[str, str],
        capture: Capture = "automatic",
    ) -> Intent:
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "metadata": metadata,
            "automatic_payment_methods": {"enabled": True},
        }
        if capture == "manual":
            params["capture_method"] = "manual"
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params=params, options={"idempotency_key": key}
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return Intent(intent.id, intent.client_secret, intent.status)

    async def capture(self, intent_id: str, *, key: str) -> None:
        try:
            await self._client.v1.payment_intents.capture_async(
                intent_id, options={"idempotency_key": key}
            )
        except stripe.InvalidRequestError as exc:
            if exc.code == "payment_intent_unexpected_state":
                intent = await self._client.v1.payment_intents.retrieve_async(intent_id)
                if intent.status == "succeeded":
                    return  # a retried capture
            raise _error(exc) from exc
        except stripe.StripeError as exc:
            raise _error(exc) from exc

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

    async def open_account(self, *, user_id: str, email: str | None, key: str) -> str:
        params: AccountCreateParams = {
            "type": "express",
            "metadata": {"vendr_user_id": user_id},
            "capabilities": {"transfers": {"requested": True}},
        }
        if email:
            params["email"] = email
        try:
            account = await self._client.v1.accounts.create_async(
                params=params, options={"idempotency_key": key}
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return str(account.id)

    async def onboarding_link(self, account_id: str, *, refresh_url: str, return_url: str) -> str:
        try:
            link = await self._client.v1.account_links.create_async(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return str(link.url)

    async def transfer(
        self, *, amount: int, currency: str, account_id: str, key: str, metadata: dict[str, str]
    ) -> str:
        try:
            transfer = await self._client.v1.transfers.create_async(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    "destination": account_id,
                    "metadata": metadata,
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return str(transfer.id)

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
