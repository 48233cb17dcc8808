"""Listings: what creating and editing one takes, what browsing asks, how a listing and
a page of them read, tags."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.models import (
    CURRENCIES,
    MAX_AMOUNT,
    NONBLANK,
    TRIMMED,
    Condition,
    Currency,
    Cursor,
    Input,
    Near,
    PlaceIO,
    Query,
    TagText,
    image_url,
    listing_place,
    nonblank_schema,
)
from graph.infra.geo import shown_distance_km
from graph.infra.ids import iso, now_ms
from graph.infra.text import fold

Title = Annotated[str, StringConstraints(max_length=120), NONBLANK, nonblank_schema(120)]


Description = Annotated[str, StringConstraints(max_length=5000), TRIMMED]


ImageId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


# each once (the catalog refuses a list naming one twice)
ImageIds = Annotated[
    list[ImageId], Field(min_length=1, max_length=5, json_schema_extra={"uniqueItems": True})
]


class MoneyIO(Input):
    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
    currency: Currency

    @model_validator(mode="after")
    def known_currency(self) -> MoneyIO:
        if self.currency not in CURRENCIES:
            raise ValueError(f"unsupported currency {self.currency}")
        return self


class ShippingIO(Input):
    # a price only when shipped
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "if": {"required": ["price"], "properties": {"price": {"type": "object"}}},
            "then": {"properties": {"ships": {"const": True}}},
        },
    )
    ships: bool
    price: MoneyIO | None = None  # in the listing's currency; leave out when not stated

    @model_validator(mode="after")
    def price_only_when_shipped(self) -> ShippingIO:
        if self.price is not None and not self.ships:
            raise ValueError("a shipping price needs ships: true")
        return self


class ProductIn(Input):
    # some way to get it: without local pickup, shipping is required and ships
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "if": {
                "required": ["local_pickup"],
                "properties": {"local_pickup": {"const": False}},
            },
            "then": {
                "required": ["shipping"],
                "properties": {
                    "shipping": {"type": "object", "properties": {"ships": {"const": True}}}
                },
            },
        },
    )
    title: Title
    description: Description = ""
    price: MoneyIO
    condition: Condition = "not_specified"
    local_pickup: bool = True
    shipping: ShippingIO | None = None
    location: PlaceIO | None = None
    tags: Annotated[list[TagText], Field(max_length=10)] = []
    image_ids: ImageIds
    quantity: Annotated[int, Field(ge=1, le=100_000)] = 1

    @model_validator(mode="after")
    def some_way_to_get_it(self) -> ProductIn:
        if not self.local_pickup and not (self.shipping and self.shipping.ships):
            raise ValueError("offer local pickup, shipping or both")
        return self


class ProductPatch(Input):
    title: Title | None = None
    description: Description | None = None
    price: MoneyIO | None = None
    condition: Condition | None = None
    local_pickup: bool | None = None
    shipping: ShippingIO | None = None
    location: PlaceIO | None = None
    tags: Annotated[list[TagText], Field(max_length=10)] | None = None
    image_ids: ImageIds | None = None
    quantity: Annotated[int, Field(ge=1, le=100_000)] | None = None
    status: Literal["active", "reserved", "sold"] | None = None


class ProductQuery(Query):
    near: Near | None = Field(None, description="lat,lon: the listing's distance from here")


class BrowseQuery(Query):
    near: Near | None = Field(None, description="lat,lon: distances and radius from here")
    radius_km: Annotated[float, Field(gt=0, le=500)] | None = None
    tags: Annotated[list[TagText], Field(max_length=10)] = Field(
        [], description="comma-separated; all must match"
    )
    q: Annotated[str, StringConstraints(max_length=200), NONBLANK, nonblank_schema(200)] | None = (
        Field(None, description="full text over title and description")
    )
    min_price: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None
    max_price: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None
    currency: Currency | None = None
    condition: Condition | None = None
    owner: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="a seller's id"
    )
    sort: Literal["newest", "price_asc", "price_desc", "distance", "hype"] = "newest"
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20

    @field_validator("currency")
    @classmethod
    def known_currency(cls, value: str | None) -> str | None:
        if value is not None and value not in CURRENCIES:
            raise ValueError(f"unsupported currency {value}")
        return value

    @field_validator("max_price")
    @classmethod
    def price_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_price")
        if value is not None and low is not None and low > value:
            raise ValueError("below min_price")
        return value


class TagQuery(Query):
    prefix: Annotated[str, StringConstraints(max_length=40), AfterValidator(fold)] = ""
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class ProductImage(BaseModel):
    id: str
    url: str
    thumb_url: str
    width: int
    height: int


class Seller(BaseModel):
    id: str
    handle: str
    display_name: str
    kind: Literal["person", "business"]
    shop_name: str | None
    avatar_url: str | None
    trust_score: float


class ShippingOut(BaseModel):
    ships: bool
    price: dict[str, int | str] | None  # {amount, currency}; null when not stated


class ProductOut(BaseModel):
    id: str
    title: str
    description: str
    price: dict[str, int | str]
    condition: Condition
    local_pickup: bool
    shipping: ShippingOut
    location: PlaceIO | None
    status: Literal["active", "reserved", "sold", "expired", "hidden", "deleted"]
    quantity: int
    tags: list[str]
    images: list[ProductImage]
    seller: Seller
    hype: float
    promoted: bool  # a paid promotion runs: its boost is part of `hype`
    created_at: str
    updated_at: str
    expires_at: str
    distance_km: float | None


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


class TagCount(BaseModel):
    name: str
    products: int


class TagPage(BaseModel):
    items: list[TagCount]


def is_promoted(row: dict[str, Any]) -> bool:
    """A paid promotion runs for the listing now (its hype includes the boost)."""
    until = row.get("promoted_until")
    return until is not None and int(until) > now_ms()


def product(row: dict[str, Any], *, owner: bool = False) -> dict[str, Any]:
    """The ProductOut shape, built as a plain dict: this runs for every row of every browse page,
    where constructing models cost a quarter of a cached request. `owner`: its seller is asking
    (they see the point they gave; everyone else its public place)."""
    images = sorted(row.get("images") or [], key=lambda i: i["pos"])
    return {
        "id": row["id"],
        "title": row["title"],
        "description": row.get("description") or "",
        "price": {"amount": row["price"], "currency": row["currency"]},
        "condition": row["condition"],
        "local_pickup": bool(row["local_pickup"]),
        "shipping": {
            "ships": bool(row.get("ships")),
            "price": {"amount": row["shipping_price"], "currency": row["currency"]}
            if row.get("ships") and row.get("shipping_price") is not None
            else None,
        },
        "location": listing_place(row, owner=owner),
        "status": row["status"],
        "quantity": int(row["quantity"]) if row.get("quantity") is not None else 1,
        "tags": sorted(row.get("tags") or []),
        "images": [
            {
                "id": i["id"],
                "url": image_url(i["id"]),
                "thumb_url": image_url(i["id"], thumb=True),
                "width": i["width"],
                "height": i["height"],
            }
            for i in images
        ],
        "seller": {
            "id": row["seller_id"],
            "handle": row["seller_handle"],
            "display_name": row["seller_name"],
            "kind": row["seller_kind"],
            "shop_name": row.get("shop_name"),
            "avatar_url": image_url(row.get("seller_avatar")),
            "trust_score": float(row.get("seller_trust") or 0),
        },
        "hype": round(float(row.get("hype") or 0.0), 4),
        "promoted": is_promoted(row),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "expires_at": iso(row["expires_at"]),
        "distance_km": shown_distance_km(row.get("place"), row.get("viewer")),
    }
