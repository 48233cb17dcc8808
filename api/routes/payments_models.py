"""Payments and paid promotion: plans, promotions, a deal's payment, the webhook's answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    StringConstraints,
    WithJsonSchema,
)

from api.models import Input, Money


class Due(BaseModel):
    event: str
    at: str


class PaymentOut(BaseModel):
    id: str
    # `authorized`: the card holds the amount, taken (captured) when the seller confirms
    status: Literal[
        "new",
        "pending",
        "failed",
        "authorized",
        "capturing",
        "succeeded",
        "cancelled",
        "refunding",
        "refunded",
    ]
    provider: Literal["local", "stripe"]
    amount: Money
    refunded: Money | None = None  # given back so far, in whole or in part
    dispute: Literal["open", "won", "lost"] | None = None  # the card holder's bank decides
    # what the payer's client confirms the payment with (Stripe.js `confirmPayment`), while
    # there is something to pay; null for the other party
    client_secret: str | None = None


# ---- payments and promotion ---------------------------------------------------------------


class PlanOut(BaseModel):
    name: str
    days: float
    boost: float
    price: Money


class PlanList(BaseModel):
    items: list[PlanOut]


class PromotionIn(Input):
    plan: Annotated[
        str,
        StringConstraints(pattern=r"^[a-z0-9_-]{1,30}$"),
        WithJsonSchema({"type": "string", "x-choices": "plan"}),
    ]


class PromotionOut(BaseModel):
    id: str
    product_id: str
    plan: str
    days: float
    boost: float
    price: Money
    status: Literal["pending", "active", "ended", "cancelled"]
    created_at: str
    starts_at: str | None
    ends_at: str | None
    due: Due | None
    payment: PaymentOut | None
    actions: list[str] | None = None


class PromotionList(BaseModel):
    items: list[PromotionOut]


class WebhookOut(BaseModel):
    id: str
    state: Literal["applied", "stale", "ignored", "rejected"]
    outcome: str | None
    duplicate: bool


class DevPaymentOut(BaseModel):
    payment_id: str
    intent_status: str
