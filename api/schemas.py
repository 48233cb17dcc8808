"""Request and response models. Separate from stored entities: no hash or email can leak by
accident, and no client can set an id, owner or status by sending it."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from graph.accounts.lifecycle import e164
from graph.catalog.tags import MAX_TAG_LENGTH, TAG_SENT
from graph.deals.machine import OFFER, ORDER
from graph.infra.errors import DomainError
from graph.infra.machine import Machine
from graph.infra.text import HIDDEN, SPACE, fold, strip_spaces
from graph.moderation.service import Reason, Target

# an address: no spaces or control characters, one `@`, a dot in the domain; as sent, spaces
# around it and capitals are folded away before it is checked (graph.infra.text: the same classes
# for Python and for the contract's ECMA regular expressions)
_ADDRESS = f"[^@{SPACE}\\x00-\\x1f\\x7f]"
EMAIL_SENT = f"^[{SPACE}]*{_ADDRESS}{{1,64}}@{_ADDRESS}+\\.{_ADDRESS}+[{SPACE}]*$"
# ASCII letters in either case (checked before folding: `str.lower` turns the Kelvin sign
# into a `k`)
HANDLE_SENT = f"^[{SPACE}]*[A-Za-z0-9_]{{3,30}}[{SPACE}]*$"


def _sent_as(pattern: str, message: str, max_length: int | None = None) -> BeforeValidator:
    """Checks the text as sent against the contract's pattern (and length), then folds it."""

    def check(value: object) -> object:
        if not isinstance(value, str):
            return value
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"at most {max_length} characters")
        if not re.fullmatch(pattern, value):
            raise ValueError(message)
        return fold(value)

    return BeforeValidator(check)


Email = Annotated[
    str,
    _sent_as(EMAIL_SENT, "not an email address", max_length=254),
    WithJsonSchema({"type": "string", "maxLength": 254, "pattern": EMAIL_SENT}),
]


def _e164(value: object) -> object:
    """Phone numbers in any common writing (`+32 470 12 34 56`) become E.164, or fail."""
    if not isinstance(value, str):
        return value
    try:
        return e164(value.strip())
    except DomainError as exc:
        raise ValueError(exc.detail) from exc


Phone = Annotated[
    str,
    StringConstraints(max_length=40),
    AfterValidator(_e164),
]
Handle = Annotated[
    str,
    _sent_as(HANDLE_SENT, "a handle is 3-30 letters, digits and underscores"),
    WithJsonSchema({"type": "string", "pattern": HANDLE_SENT}),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


def _trim(value: str) -> str:
    return strip_spaces(value)


def _trim_nonblank(value: str) -> str:
    text = strip_spaces(value)
    if not text:
        raise ValueError("must not be blank")
    return text


# free text: the length is checked as sent, then spaces around it are trimmed (graph.infra.text,
# the same spaces the contract's patterns name); NONBLANK also refuses a text of spaces only
TRIMMED = AfterValidator(_trim)
NONBLANK = AfterValidator(_trim_nonblank)


def nonblank_schema(max_length: int) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": f"^[^\\x00]*[^\\x00{SPACE}][^\\x00]*$",
        }
    )


def _visible(value: object) -> object:
    """Names show as what they say: no control characters, no invisible or direction-changing
    ones (zero-width spaces and joiners, bidi overrides and isolates, the BOM: Unicode's Cc
    and Cf), with which a name can pass for another or hide what follows it."""
    if isinstance(value, str):
        hidden = sorted(
            {f"U+{ord(c):04X}" for c in value if unicodedata.category(c) in ("Cc", "Cf")}
        )
        if hidden:
            raise ValueError(
                f"invisible or control characters are not allowed ({', '.join(hidden)})"
            )
    return value


def visible_schema(max_length: int) -> WithJsonSchema:
    """The contract's view of a name: no control or invisible characters anywhere, and
    something besides whitespace (which is stripped)."""
    return WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": f"^[^{HIDDEN}]*[^{SPACE}{HIDDEN}][^{HIDDEN}]*$",
        }
    )


Name = Annotated[
    str,
    BeforeValidator(_visible),
    StringConstraints(max_length=80),
    NONBLANK,
    visible_schema(80),
]
Bio = Annotated[str, StringConstraints(max_length=1000), TRIMMED]
City = Annotated[str, StringConstraints(max_length=80), NONBLANK, nonblank_schema(80)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _whole(cls, value: object) -> object:
        """JSON has one number type: 2.0 is the integer 2 to JSON Schema, so it is to us too
        (strict mode refuses every float where an integer is wanted; a float field takes
        the integer as it is)."""
        return int(value) if isinstance(value, float) and value.is_integer() else value


class PlaceIO(Input):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    # strict: JSON integers are still valid degrees, but `false` is not 0


class SignupIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={  # a shop name exactly for business accounts
            "if": {"required": ["kind"], "properties": {"kind": {"const": "business"}}},
            "then": {"required": ["shop_name"], "properties": {"shop_name": {"type": "string"}}},
            "else": {"properties": {"shop_name": {"type": "null"}}},
        },
    )
    email: Email
    password: Password
    display_name: Name
    handle: Handle | None = None
    phone: Phone | None = None
    kind: Literal["person", "business"] = "person"
    shop_name: Name | None = None

    @model_validator(mode="after")
    def shop_for_business(self) -> SignupIn:
        if self.kind == "business" and not self.shop_name:
            raise ValueError("shop_name is required for a business account")
        if self.kind == "person" and self.shop_name:
            raise ValueError("shop_name is only for business accounts")
        return self


class LoginIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            # email or phone, not both (if/then/else: generated clients keep one model)
            "if": {"required": ["email"], "properties": {"email": {"type": "string"}}},
            "then": {"properties": {"phone": {"type": "null"}}},
            "else": {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
        },
    )
    email: Email | None = None
    phone: Phone | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def one_identifier(self) -> LoginIn:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give either email or phone")
        return self


class ProfilePatch(Input):
    display_name: Name | None = None
    handle: Handle | None = None
    bio: Bio | None = None
    city: City | None = None
    location: PlaceIO | None = None
    show_city: bool | None = None
    shop_name: Name | None = None


class TrustComponent(BaseModel):
    points: int
    max: int
    why: str


class Trust(BaseModel):
    """0 to 100; the components' points add up to the score. Recomputed by the background
    worker (see `computed_at`), never per request."""

    score: int
    components: dict[str, TrustComponent]
    computed_at: str | None


class RatingSummary(BaseModel):
    count: int
    average: float | None
    stars: dict[str, int]  # "1".."5" -> how many published reviews gave that many


class Shop(BaseModel):
    id: str
    name: str
    verified: bool


class SocialPublic(BaseModel):
    provider: str
    handle: str


class UserPublic(BaseModel):
    id: str
    handle: str
    display_name: str
    kind: Literal["person", "business"]
    bio: str
    city: str | None
    created_at: str
    avatar_url: str | None
    shop: Shop | None
    email_verified: bool
    phone_verified: bool
    socials: list[SocialPublic] = []
    trust: Trust
    rating: RatingSummary


class UserMe(BaseModel):
    id: str
    handle: str
    display_name: str
    kind: Literal["person", "business"]
    bio: str
    city: str | None
    location: PlaceIO | None
    show_city: bool
    created_at: str
    avatar_url: str | None
    shop: Shop | None
    email: str
    phone: str | None
    email_verified: bool
    phone_verified: bool


class AuthOut(BaseModel):
    user: UserMe
    token: str


class ImageOut(BaseModel):
    id: str
    url: str
    thumb_url: str
    width: int
    height: int


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = None


CURRENCIES = frozenset(
    "EUR USD GBP CHF SEK NOK DKK ISK PLN CZK HUF RON BGN TRY UAH CAD AUD NZD JPY CNY HKD SGD "
    "KRW INR IDR THB MYR PHP VND BRL MXN ARS CLP COP PEN ZAR NGN KES EGP MAD ILS AED SAR".split()
)
# checked against the list by the models (with a message naming the currency); the contract
# names the list
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    WithJsonSchema({"type": "string", "enum": sorted(CURRENCIES)}),
]
Title = Annotated[str, StringConstraints(max_length=120), NONBLANK, nonblank_schema(120)]
Description = Annotated[str, StringConstraints(max_length=5000), TRIMMED]
# normalised by graph.catalog.tags (checked there, with a message naming the tag); the
# contract shows what is accepted as sent
TagText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": TAG_SENT}
    ),
]
ImageId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# each once (the catalog refuses a list naming one twice)
ImageIds = Annotated[
    list[ImageId], Field(min_length=1, max_length=5, json_schema_extra={"uniqueItems": True})
]
Condition = Literal["new", "used", "not_specified"]


MAX_AMOUNT = 10**10  # minor units: a hundred million in any currency, more than any listing


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


# `lat,lon` in degrees as written in a query string: the ranges are in the pattern, so the
# contract and the parser agree on every string (the contract shows this, not the place)
_LAT = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"
NEAR_PATTERN = f"^[{SPACE}]*({_LAT})[{SPACE}]*,[{SPACE}]*({_LON})[{SPACE}]*$"
NEAR_TEXT = {
    "type": "string",
    "pattern": NEAR_PATTERN,
    "description": "lat,lon in degrees",
    "examples": ["52.37,4.89"],
}


def _near(value: object) -> object:
    """`near=52.37,4.89` into a place."""
    if isinstance(value, str):
        found = re.fullmatch(NEAR_PATTERN, value)
        if found is None:
            raise ValueError("near is `lat,lon` in degrees (-90..90, -180..180)")
        return {"lat": float(found[1]), "lon": float(found[2])}
    return value


Near = Annotated[PlaceIO, BeforeValidator(_near), WithJsonSchema(NEAR_TEXT)]


class Query(BaseModel):
    """Query strings arrive as text: these models convert, and refuse unknown parameters."""

    model_config = ConfigDict(extra="forbid")


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
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
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


class PageQuery(Query):
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


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


class RoomIn(Input):
    product_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MessageIn(Input):
    text: Annotated[str, StringConstraints(max_length=2000), NONBLANK, nonblank_schema(2000)]


class RoomsQuery(Query):
    role: Literal["buyer", "seller"] | None = None
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


MessagesQuery = PageQuery


class WsQuery(Query):
    token: Annotated[str, StringConstraints(max_length=128)] | None = None
    after: Annotated[str, StringConstraints(pattern=r"^[0-9a-hjkmnp-tv-z]{26}$")] | None = None


class MessageOut(BaseModel):
    id: str
    room_id: str
    sender_id: str
    kind: Literal["text", "system"]
    text: str
    data: dict[str, object] | None
    sent_at: str


class RoomOut(BaseModel):
    id: str
    role: Literal["buyer", "seller"]
    product: dict[str, object]
    other: dict[str, object]
    last_message: MessageOut | None
    unread: int
    created_at: str
    last_message_at: str


class RoomPage(BaseModel):
    items: list[RoomOut]
    next_cursor: str | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class SwipeIn(Input):
    dir: Literal["right", "left"]


class SwipeOut(BaseModel):
    product_id: str
    dir: Literal["right", "left"]
    room: RoomOut | None  # a right swipe opens (or returns) your room with the seller


MAX_SWIPES = 50  # a batch: at most a deck's largest page


class SwipeItem(Input):
    product_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    dir: Literal["right", "left"]


class SwipesIn(Input):
    swipes: Annotated[list[SwipeItem], Field(min_length=1, max_length=MAX_SWIPES)] = Field(
        description="in the order they were made: of two swipes on one listing the last counts"
    )


class SwipeResult(BaseModel):
    product_id: str
    dir: Literal["right", "left"]
    swiped: bool = Field(
        description="false: the listing can no longer be swiped (gone, yours, its seller blocked)"
    )
    room: RoomOut | None  # for a right swipe: your room with the seller


class SwipesOut(BaseModel):
    items: list[SwipeResult]


class FeedQuery(Query):
    near: Near | None = Field(None, description="lat,lon (defaults to your profile's)")
    radius_km: Annotated[float, Field(gt=0, le=500)] | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 20
    fresh: bool = Field(False, description="start a new swipe session, not the next page")


class Interests(Input):
    tags: Annotated[list[TagText], Field(max_length=10)]


class FeedCard(BaseModel):
    product: ProductOut
    score: float
    reasons: list[str]
    explain: list[dict[str, object]]


class FeedPage(BaseModel):
    items: list[FeedCard]
    next_cursor: str | None


# ---- deals ---------------------------------------------------------------------------------


Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT)]
Quantity = Annotated[int, Field(ge=1, le=1000)]
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Note = Annotated[str, StringConstraints(max_length=2000), NONBLANK, nonblank_schema(2000)]


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
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
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


class Money(BaseModel):
    amount: int
    currency: str


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


class Due(BaseModel):
    event: str
    at: str


class PaymentOut(BaseModel):
    id: str
    status: Literal["new", "pending", "failed", "succeeded", "cancelled", "refunding", "refunded"]
    provider: Literal["local", "stripe"]
    amount: Money
    # what the payer's client confirms the payment with (Stripe.js `confirmPayment`), while
    # there is something to pay; null for the other party
    client_secret: str | None = None


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


class CollectionIn(Input):
    name: Name
    product_ids: Annotated[
        list[EntityId], Field(max_length=200, json_schema_extra={"uniqueItems": True})
    ] = []


class CollectionPatch(Input):
    name: Name | None = None
    product_ids: (
        Annotated[list[EntityId], Field(max_length=200, json_schema_extra={"uniqueItems": True})]
        | None
    ) = None


class CollectionOut(BaseModel):
    id: str
    name: str
    shop: dict[str, object]
    owner_id: str
    created_at: str
    updated_at: str
    items: list[ProductOut] | None = None
    active: int | None = None
    cover_url: str | None = None


class CollectionPage(BaseModel):
    items: list[CollectionOut]
    next_cursor: str | None


# ---- notifications, saved searches, verification, the account lifecycle, socials ----------

NotificationKind = Literal["message", "offer", "order", "saved", "search", "review", "account"]


class NotificationOut(BaseModel):
    id: str
    kind: NotificationKind
    type: str
    title: str
    body: str
    link: str | None
    data: dict[str, object]
    created_at: str
    read_at: str | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    unread: int
    next_cursor: str | None


class NotificationsQuery(Query):
    cursor: Annotated[str, StringConstraints(max_length=100)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    unread: bool = Field(False, description="only the unread ones")


NotificationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
SearchText = Annotated[str, StringConstraints(max_length=200), NONBLANK, nonblank_schema(200)]


class NotificationsReadIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            # ids, or all: true
            "if": {"required": ["all"], "properties": {"all": {"const": True}}},
            "then": {"properties": {"ids": {"type": "null"}}},
            "else": {"required": ["ids"], "properties": {"ids": {"type": "array"}}},
        },
    )
    ids: Annotated[list[NotificationId], Field(max_length=100)] | None = None
    all: bool = False

    @model_validator(mode="after")
    def one_way(self) -> NotificationsReadIn:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true")
        return self


class ImageQuery(BaseModel):
    """Read by hand in the route (other parameters, e.g. a cache-buster, are ignored)."""

    size: Literal["full", "thumb"] = "full"


class BlockedUser(BaseModel):
    id: str
    handle: str
    display_name: str
    blocked_at: str | None


class BlockedPage(BaseModel):
    items: list[BlockedUser]
    next_cursor: str | None


class UnreadOut(BaseModel):
    unread: int


class ChannelSwitches(BaseModel):
    app: bool
    email: bool
    sms: bool


class ChannelPatch(Input):
    app: bool | None = None
    email: bool | None = None
    sms: bool | None = None


class NotificationSettings(BaseModel):
    message: ChannelSwitches
    offer: ChannelSwitches
    order: ChannelSwitches
    saved: ChannelSwitches
    search: ChannelSwitches
    review: ChannelSwitches


class NotificationSettingsPatch(Input):
    message: ChannelPatch | None = None
    offer: ChannelPatch | None = None
    order: ChannelPatch | None = None
    saved: ChannelPatch | None = None
    search: ChannelPatch | None = None
    review: ChannelPatch | None = None


class SearchIn(Input):
    name: Name | None = None
    q: SearchText | None = None
    tags: Annotated[list[TagText], Field(max_length=10)] = []
    near: PlaceIO | None = None
    radius_km: Annotated[float, Field(gt=0, le=200)] | None = None
    min_price: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None
    max_price: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None
    currency: Currency | None = None
    condition: Condition | None = None

    # something to watch (a null is as good as leaving the field out), and a radius only
    # around a place
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "allOf": [
                {  # tags, else words, else a place
                    "if": {"required": ["tags"], "properties": {"tags": {"minItems": 1}}},
                    "else": {
                        "if": {"required": ["q"], "properties": {"q": {"type": "string"}}},
                        "else": {"required": ["near"], "properties": {"near": {"type": "object"}}},
                    },
                },
                {
                    "if": {
                        "required": ["radius_km"],
                        "properties": {"radius_km": {"type": "number"}},
                    },
                    "then": {"required": ["near"], "properties": {"near": {"type": "object"}}},
                },
            ],
        },
    )

    @model_validator(mode="after")
    def sensible(self) -> SearchIn:
        if self.currency is not None and self.currency not in CURRENCIES:
            raise ValueError(f"unsupported currency {self.currency}")
        if self.radius_km is not None and self.near is None:
            raise ValueError("radius_km needs near")
        if not (self.tags or self.q is not None or self.near is not None):
            raise ValueError("a saved search needs tags, words or a place to watch")
        return self


class SearchPlace(BaseModel):
    lat: float
    lon: float
    radius_km: float


class SearchOut(BaseModel):
    id: str
    name: str | None
    q: str | None
    tags: list[str]
    place: SearchPlace | None
    min_price: int | None
    max_price: int | None
    currency: str | None
    condition: Condition | None
    created_at: str


class SearchList(BaseModel):
    items: list[SearchOut]


class VerifyIn(Input):
    phone: Phone | None = None


class CodeSent(BaseModel):
    channel: Literal["email", "phone"]
    sent_to: str
    expires_in: int


CODE_SENT = f"^[{SPACE}]*[0-9]{{6}}[{SPACE}]*$"
Code = Annotated[
    str,
    _sent_as(CODE_SENT, "the code is six digits"),
    WithJsonSchema({"type": "string", "pattern": CODE_SENT}),
]


class CodeIn(Input):
    code: Code


class ResetIn(Input):
    email: Email


class ResetConfirmIn(Input):
    email: Email
    code: Code
    password: Password


class PasswordChangeIn(Input):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    password: Password


class DeleteAccountIn(Input):
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


# the lists come from the settings: the contract names them (api.docs, `x-choices`)
Provider = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9_]{1,30}$"),
    WithJsonSchema({"type": "string", "x-choices": "provider"}),
]
SocialHandle = Annotated[
    str,
    BeforeValidator(_visible),
    StringConstraints(max_length=100),
    NONBLANK,
    visible_schema(100),
]


class SocialIn(Input):
    provider: Provider
    handle: SocialHandle


class SocialVerifyIn(Input):
    state: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    code: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class SocialOut(BaseModel):
    provider: str
    handle: str
    verified: bool
    verified_at: str | None


class SocialLinkOut(SocialOut):
    verify_url: str
    state: str


class SocialList(BaseModel):
    items: list[SocialOut]


class DevAuthorizeQuery(Query):
    state: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    handle: SocialHandle


class DevCode(BaseModel):
    code: str
    state: str


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


# ---- trust and safety ------------------------------------------------------------------------

Comment = Annotated[str, StringConstraints(max_length=2000), TRIMMED]


class ReviewIn(Input):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Comment = ""


class ReplyIn(Input):
    body: Annotated[str, StringConstraints(max_length=2000), NONBLANK, nonblank_schema(2000)]


class ReviewAuthor(BaseModel):
    id: str
    handle: str
    name: str


class ReviewProduct(BaseModel):
    id: str
    title: str


class ReviewReply(BaseModel):
    body: str
    at: str


class ReviewOut(BaseModel):
    id: str
    order_id: str
    rating: int
    comment: str
    role: Literal["buyer", "seller"]  # what the author was in the deal
    author: ReviewAuthor | None  # null once the author deleted their account
    subject_id: str
    products: list[ReviewProduct]
    created_at: str
    published: bool
    published_at: str | None
    reply: ReviewReply | None
    mine: bool


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    next_cursor: str | None


class ReviewState(BaseModel):
    order_id: str
    can_review: bool
    window_closes_at: str | None
    mine: ReviewOut | None
    theirs_written: bool  # the other side wrote theirs (shown once both wrote or at the close)
    theirs: ReviewOut | None


class ReviewsQuery(Query):
    role: Literal["buyer", "seller"] | None = Field(
        None, description="reviews written as buyer or as seller (the author's side)"
    )
    cursor: Annotated[str, StringConstraints(max_length=100)] | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 20


class ReportIn(Input):
    target: Target
    id: EntityId
    reason: Reason
    note: Note | None = None


class ReportOut(BaseModel):
    id: str
    status: Literal["open"]
    created_at: str
