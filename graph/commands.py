"""Commands: small frozen records of what a caller asks the domain to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["person", "business"]


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float


@dataclass(frozen=True)
class Signup:
    email: str
    password: str
    display_name: str
    kind: Kind = "person"
    handle: str | None = None
    phone: str | None = None
    shop_name: str | None = None


@dataclass(frozen=True)
class Login:
    password: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class UpdateProfile:
    user_id: str
    display_name: str | None = None
    handle: str | None = None
    bio: str | None = None
    city: str | None = None
    location: Place | None = None
    show_city: bool | None = None
    shop_name: str | None = None


Condition = Literal["new", "used", "not_specified"]
Status = Literal["active", "reserved", "sold", "expired", "deleted"]


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str


@dataclass(frozen=True)
class Shipping:
    """Whether the seller posts the item, and for how much (None: price not stated)."""

    ships: bool
    price: Money | None = None


@dataclass(frozen=True)
class CreateProduct:
    owner_id: str
    title: str
    price: Money
    image_ids: tuple[str, ...]
    description: str = ""
    condition: Condition = "not_specified"
    local_pickup: bool = True
    shipping: Shipping | None = None  # None: not shipped
    location: Place | None = None
    tags: tuple[str, ...] = ()
    quantity: int = 1


@dataclass(frozen=True)
class UpdateProduct:
    user_id: str
    product_id: str
    title: str | None = None
    description: str | None = None
    price: Money | None = None
    condition: Condition | None = None
    local_pickup: bool | None = None
    shipping: Shipping | None = None  # None: unchanged
    location: Place | None = None
    tags: tuple[str, ...] | None = None
    image_ids: tuple[str, ...] | None = None
    quantity: int | None = None
    status: Status | None = None


SortKey = Literal["newest", "price_asc", "price_desc", "distance", "hype"]


@dataclass(frozen=True)
class Browse:
    viewer_id: str | None = None
    near: Place | None = None
    radius_km: float | None = None
    tags: tuple[str, ...] = ()
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    currency: str | None = None
    condition: Condition | None = None
    owner_id: str | None = None
    sort: SortKey = "newest"
    cursor: str | None = None
    limit: int = 20
