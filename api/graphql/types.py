"""The GraphQL object types: the same facts the REST API answers, spelled as GraphQL clients
expect (camelCase fields, `ID`s that are REST's ids, money as `{amount currency}` in minor
units). Each is built from the REST shape of the same row (`build`), so the two adapters can
never disagree on what a listing or an order is."""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from enum import Enum
from typing import Any, NewType, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

T = TypeVar("T")


def build(cls: type[T], data: dict[str, Any] | None) -> T:
    """A strawberry type from a REST shape: each field read by its name, nested types built
    the same way, absent optional fields None."""
    if data is None:
        raise ValueError(f"no data for {cls.__name__}")
    values = {name: _convert(hint, data.get(name)) for name, hint in _fields(cast(Any, cls))}
    return cls(**values)


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """A type's fields and their resolved annotations, worked out once per type (resolving
    string annotations compiles them: a page of listings would do it thousands of times)."""
    hints = typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]))
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_convert(item, v) for v in value]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return build(hint, value)  # type: ignore[arg-type]
    return value


# GraphQL's Int is 32-bit: two billion cents is a price a marketplace can see (REST takes up to
# 10^10 minor units), so amounts travel as a 64-bit integer scalar of their own: `Amount` to
# the code, mapped to its definition by the schema's config (api/graphql/schema.py)
Amount = NewType("Amount", int)


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("an Amount is an integer number of minor units")
    return value


AMOUNT = strawberry.scalar(
    name="Amount",
    description="An integer amount of minor units (cents), up to 10^10: wider than Int",
    serialize=int,
    parse_value=_amount,
)


@strawberry.enum
class Role(Enum):
    BUYER = "buyer"
    SELLER = "seller"


@strawberry.enum
class AccountKind(Enum):
    PERSON = "person"
    BUSINESS = "business"


@strawberry.type(description="An amount of money in minor units (cents) of its ISO-4217 currency")
class Money:
    amount: Amount
    currency: str


@strawberry.type
class Place:
    lat: float
    lon: float


@strawberry.type
class Image:
    id: strawberry.ID
    url: str
    thumb_url: str
    width: int
    height: int


@strawberry.type
class Seller:
    id: strawberry.ID
    handle: str
    display_name: str
    kind: AccountKind
    shop_name: str | None
    avatar_url: str | None
    trust_score: float


@strawberry.type
class Shipping:
    ships: bool
    price: Money | None


@strawberry.type
class Product:
    id: strawberry.ID
    title: str
    description: str
    price: Money
    condition: str
    local_pickup: bool
    shipping: Shipping
    location: Place | None
    status: str
    quantity: int
    tags: list[str]
    images: list[Image]
    seller: Seller
    hype: float
    promoted: bool
    created_at: str
    updated_at: str
    expires_at: str
    distance_km: float | None


@strawberry.type
class Shop:
    id: strawberry.ID
    name: str
    verified: bool


@strawberry.type
class Social:
    provider: str
    handle: str


@strawberry.type
class Trust:
    score: int
    components: JSON
    computed_at: str | None


@strawberry.type
class Rating:
    count: int
    average: float | None
    stars: JSON


@strawberry.type(description="Anyone's public profile")
class User:
    id: strawberry.ID
    handle: str
    display_name: str
    kind: AccountKind
    bio: str
    city: str | None
    created_at: str
    avatar_url: str | None
    shop: Shop | None
    email_verified: bool
    phone_verified: bool
    socials: list[Social]
    trust: Trust
    rating: Rating


@strawberry.type(description="Your own account, with what only you see")
class Me:
    id: strawberry.ID
    handle: str
    display_name: str
    kind: AccountKind
    bio: str
    city: str | None
    location: Place | None
    show_city: bool
    created_at: str
    avatar_url: str | None
    shop: Shop | None
    email: str
    phone: str | None
    email_verified: bool
    phone_verified: bool


@strawberry.type
class Message:
    id: strawberry.ID
    room_id: strawberry.ID
    sender_id: strawberry.ID
    kind: str
    text: str
    data: JSON | None
    sent_at: str


@strawberry.type
class RoomProduct:
    id: strawberry.ID
    title: str
    price: Money
    status: str
    thumb_url: str | None


@strawberry.type
class Room:
    id: strawberry.ID
    role: Role
    product: RoomProduct
    other: Party
    last_message: Message | None
    unread: int
    created_at: str
    last_message_at: str


@strawberry.type
class Party:
    id: strawberry.ID
    handle: str
    display_name: str


@strawberry.type
class OfferProduct:
    id: strawberry.ID
    title: str
    price: Money


@strawberry.type
class OfferStep:
    id: strawberry.ID
    amount: Money
    quantity: int
    status: str
    made_by: Role
    round: int
    created_at: str
    updated_at: str


@strawberry.type
class Offer:
    id: strawberry.ID
    product: OfferProduct
    amount: Money
    quantity: int
    status: str
    made_by: Role
    buyer_id: strawberry.ID
    seller_id: strawberry.ID
    room_id: strawberry.ID
    thread_id: strawberry.ID
    round: int
    order_id: strawberry.ID | None
    created_at: str
    updated_at: str
    expires_at: str | None
    actions: list[str] | None
    thread: list[OfferStep] | None


@strawberry.type
class OrderLine:
    product_id: strawberry.ID
    title: str
    quantity: int
    unit_price: Money


@strawberry.type
class Due:
    event: str
    at: str


@strawberry.type
class Payment:
    id: strawberry.ID
    status: str
    provider: str
    amount: Money
    refunded: Money | None
    dispute: str | None
    client_secret: str | None


@strawberry.type
class Order:
    id: strawberry.ID
    status: str
    amount: Money
    quantity: int
    lines: list[OrderLine]
    buyer: Party
    seller: Party
    room_id: strawberry.ID
    offer_id: strawberry.ID | None
    created_at: str
    updated_at: str
    confirmed_at: str | None
    completed_at: str | None
    cancelled_at: str | None
    cancelled_by: str | None
    due: Due | None
    payment: Payment | None
    actions: list[str] | None


@strawberry.type
class ReviewAuthor:
    id: strawberry.ID
    handle: str
    name: str


@strawberry.type
class ReviewProduct:
    id: strawberry.ID
    title: str


@strawberry.type
class ReviewReply:
    body: str
    at: str


@strawberry.type
class Review:
    id: strawberry.ID
    order_id: strawberry.ID
    rating: int
    comment: str
    role: Role
    author: ReviewAuthor | None
    subject_id: strawberry.ID
    products: list[ReviewProduct]
    created_at: str
    published: bool
    published_at: str | None
    reply: ReviewReply | None
    mine: bool


@strawberry.type
class Notification:
    id: strawberry.ID
    kind: str
    type: str
    title: str
    body: str
    link: str | None
    data: JSON
    created_at: str
    read_at: str | None
