"""No payment provider: production without a Stripe key.

The local provider is a development stand-in (its card terminal lets a payer mark their own
payment paid), so production does not fall back to it. Without a provider the server still
runs, free of charge: paid promotion answers 503 with what is missing before anything is
written, and orders paid by card (VENDR_ORDER_PAYMENT) are refused at start-up by the settings.
"""

from __future__ import annotations

from graph.payments.port import BadSignature, Capture, Intent, PaymentRefused, ProviderEvent

NOT_CONFIGURED = (
    "payments are not configured on this server: its operator sets VENDR_STRIPE_SECRET_KEY "
    "and VENDR_STRIPE_WEBHOOK_SECRET"
)


class NoProvider:
    name = "none"

    async def create(
        self,
        *,
        amount: int,
        currency: str,
        key: str,
        metadata: dict[str, str],
        capture: Capture = "automatic",
    ) -> Intent:
        raise PaymentRefused(NOT_CONFIGURED)

    async def capture(self, intent_id: str, *, key: str) -> None:
        raise PaymentRefused(NOT_CONFIGURED)

    async def open_account(self, *, user_id: str, email: str | None, key: str) -> str:
        raise PaymentRefused(NOT_CONFIGURED)

    async def onboarding_link(self, account_id: str, *, refresh_url: str, return_url: str) -> str:
        raise PaymentRefused(NOT_CONFIGURED)

    async def transfer(
        self, *, amount: int, currency: str, account_id: str, key: str, metadata: dict[str, str]
    ) -> str:
        raise PaymentRefused(NOT_CONFIGURED)

    async def cancel(self, intent_id: str, *, key: str) -> None:
        raise PaymentRefused(NOT_CONFIGURED)

    async def refund(self, intent_id: str, *, amount: int, key: str) -> str:
        raise PaymentRefused(NOT_CONFIGURED)

    def event(self, body: bytes, header: str | None) -> ProviderEvent:
        raise BadSignature("no payment provider is configured to sign webhooks")

    async def aclose(self) -> None:
        return None
