"""What a caller asks of the catalog: small frozen records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from graph.infra.geo import Place
from graph.infra.money import Money

Condition = Literal["new", "used", "not_specified"]
Status = Literal["active", "reserved", "sold", "expired", "deleted"]


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
