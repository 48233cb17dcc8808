"""A seller's money: balances, payouts, payout onboarding, and refunds of part of an order."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.models import MAX_AMOUNT, Currency, Cursor, Input, Money, Note, Query


class Balance(BaseModel):
    currency: str
    pending: int = Field(description="captured, held until the orders are done and the hold passes")
    available: int = Field(description="to be paid out (negative after a clawback)")
    disputed: int = Field(description="frozen while a card holder disputes a charge")
    in_transit: int = Field(description="a payout asked of the provider")
    paid: int = Field(description="paid out to your connected account, all time")


class BalanceOut(BaseModel):
    balances: list[Balance]
    account_id: str | None = Field(description="your connected account at the provider")
    payouts_enabled: bool = Field(description="the provider can pay you (onboarding finished)")
    minimum: int = Field(description="payouts start at this available balance (minor units)")
    hold_seconds: float = Field(description="how long a completed order's money is held")
    schedule_seconds: float | None = Field(description="automatic payouts this often; null: none")


class OnboardingOut(BaseModel):
    account_id: str
    payouts_enabled: bool
    url: str = Field(description="the provider's onboarding page for you (short-lived)")


class PayoutIn(Input):
    currency: Currency = "EUR"


class PayoutOut(BaseModel):
    id: str
    amount: Money
    status: Literal["in_transit", "paid", "failed"]
    trigger: Literal["request", "schedule"]
    transfer_id: str | None
    failure: str | None
    created_at: str
    paid_at: str | None


class PayoutPage(BaseModel):
    items: list[PayoutOut]
    next_cursor: str | None


class PayoutsQuery(Query):
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class RefundIn(Input):
    amount: Annotated[int, Field(ge=1, le=MAX_AMOUNT)]
    reason: Note
