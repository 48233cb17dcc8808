"""Offers, orders and the cart: what they take, how they read, with what each party may do."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from api.models import MAX_AMOUNT, Currency, Cursor, EntityId, Input, Money, Note, Query
from api.routes.payments_models import Due, PaymentOut
from graph.deals.machine import OFFER, ORDER
from graph.infra.machine import Machine

# ---- deals ---------------------------------------------------------------------------------


Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT)]


Quantity = Annotated[int, Field(ge=1, le=1000)]


class OfferIn(Input):
    amount: Amount  # per unit, minor units of the listing's currency
    currency: Currency | None = None
    quantity: Quantity = 1
    message: Note | None = None


class CounterIn(Input):
    amount: Amount


class OrderIn(Input):
    quantity: Quantity = 1
    offer_id: EntityId | None = None


class DealsQuery(Query):
    role: Literal["buyer", "seller"] | None = Field(
        None, description="your side of the deal (both when absent)"
    )
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    status: str | None = None


def _states(machine: Machine) -> WithJsonSchema:
    """A state of `machine` (the route checks it against the machine's table)."""
    return WithJsonSchema({"type": "string", "enum": sorted(machine.states)})


OfferState = Annotated[str, StringConstraints(max_length=20), _states(OFFER)]


OrderState = Annotated[str, StringConstraints(max_length=20), _states(ORDER)]


class OffersQuery(DealsQuery):
    status: OfferState | None = Field(
        None, description="only negotiations whose latest offer is in this state"
    )


class OrdersQuery(DealsQuery):
    status: OrderState | None = Field(None, description="only orders in this state")


class Party(BaseModel):
    id: str
    handle: str
    display_name: str


class OfferProduct(BaseModel):
    id: str
    title: str
    price: Money


class OfferStep(BaseModel):
    id: str
    amount: Money
    quantity: int
    status: str
    made_by: Literal["buyer", "seller"]
    round: int
    created_at: str
    updated_at: str


class OfferOut(BaseModel):
    id: str
    product: OfferProduct
    amount: Money
    quantity: int
    status: Literal["open", "countered", "accepted", "declined", "withdrawn", "expired"]
    made_by: Literal["buyer", "seller"]
    buyer_id: str
    seller_id: str
    room_id: str
    thread_id: str
    round: int
    order_id: str | None
    created_at: str
    updated_at: str
    expires_at: str | None
    actions: list[str] | None = None
    thread: list[OfferStep] | None = None


class OfferPage(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None


class OrderLine(BaseModel):
    product_id: str
    title: str
    quantity: int
    unit_price: Money


class OrderOut(BaseModel):
    id: str
    status: Literal["placed", "payment_pending", "paid", "confirmed", "completed", "cancelled"]
    amount: Money
    quantity: int
    lines: list[OrderLine]
    buyer: Party
    seller: Party
    room_id: str
    offer_id: str | None
    created_at: str
    updated_at: str
    confirmed_at: str | None
    completed_at: str | None
    cancelled_at: str | None
    cancelled_by: str | None
    due: Due | None
    payment: PaymentOut | None
    actions: list[str] | None = None


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class CartItemIn(Input):
    quantity: Quantity


class CartLine(BaseModel):
    product_id: str
    title: str
    unit_price: Money
    quantity: int
    available: int
    status: str
    seller: Party
    thumb_url: str | None
    problem: dict[str, object] | None


class CartOut(BaseModel):
    items: list[CartLine]
    totals: list[Money]
    ready: bool


class CheckoutOut(BaseModel):
    orders: list[OrderOut]
