"""The event log's schemas of the synthetic marketplace's bulk load."""

from __future__ import annotations

from graph.infra.events.core import (
    Facts,
    source,
)

# The synthetic marketplace's bulk load (seeds/loader.py): each batch of rows is one source event,
# so `make run`'s demo data and the benchmark sets replay as they were loaded, a batch at a time.


class _SeedUser(Facts):
    id: str
    handle: str
    display_name: str
    kind: str
    city: str | None
    created_at: int
    email: str
    email_verified: bool | None = None
    phone_verified: bool | None = None
    lat: float
    lon: float
    shop_id: str | None = None
    shop_name: str | None = None


class _SeedImage(Facts):
    id: str
    w: int
    h: int
    bytes: int


class _SeedProduct(Facts):
    id: str
    owner: str
    title: str
    description: str
    price: int
    currency: str
    condition: str
    local_pickup: bool
    ships: bool
    shipping_price: int | None
    status: str
    quantity: int
    created_at: int
    expires_at: int
    lat: float
    lon: float
    place: dict[str, float]
    images: list[str]
    tags: list[str]


class _SeedEdge(Facts):
    u: str
    p: str
    at: int


class _SeedRoom(Facts):
    id: str
    key: str
    at: int
    buyer: str
    seller: str
    product: str
    open_offer_id: str | None = None


class _SeedOffer(Facts):
    id: str
    maker: str
    product: str
    amount: int
    currency: str
    quantity: int
    status: str
    by: str
    buyer_id: str
    seller_id: str
    room_id: str
    thread_id: str
    round: int
    created_at: int
    updated_at: int
    closed_at: int | None = None
    due_at: int | None = None
    due_event: str | None = None
    order_id: str | None = None


class _SeedCounter(Facts):
    new: str
    old: str


class _SeedOrder(Facts):
    id: str
    buyer: str
    seller: str
    product: str
    status: str
    quantity: int
    amount: int
    currency: str
    unit_price: int
    room_id: str | None = None
    offer_id: str | None = None
    created_at: int
    updated_at: int
    confirmed_at: int | None = None
    completed_at: int | None = None
    cancelled_at: int | None = None
    cancelled_by: str | None = None
    due_at: int | None = None
    due_event: str | None = None


class _SeedReview(Facts):
    id: str
    order_id: str
    author: str
    subject: str
    rating: int
    comment: str
    role: str
    created_at: int
    published_at: int | None = None
    due_at: int | None = None


class _SeedEvent(Facts):
    id: str
    type: str
    at: int
    actor_id: str | None
    subject_id: str | None
    data: str


class SeedUsers(Facts):
    rows: list[_SeedUser]


class SeedImages(Facts):
    rows: list[_SeedImage]


class SeedProducts(Facts):
    rows: list[_SeedProduct]
    place_cell: float | int


class SeedEdges(Facts):
    rows: list[_SeedEdge]


class SeedRooms(Facts):
    rows: list[_SeedRoom]


class SeedOffers(Facts):
    rows: list[_SeedOffer]


class SeedCounters(Facts):
    rows: list[_SeedCounter]


class SeedOrders(Facts):
    rows: list[_SeedOrder]


class SeedReviews(Facts):
    rows: list[_SeedReview]


class SeedEvents(Facts):
    rows: list[_SeedEvent]


source("seeds.users", "seed.loaded", SeedUsers, secret=("password_hash",))
source("seeds.images", "seed.loaded", SeedImages)
source("seeds.products", "seed.loaded", SeedProducts)
for _kind in ("viewed", "liked", "passed", "saved"):
    source(f"seeds.{_kind}", "seed.loaded", SeedEdges)
source("seeds.rooms", "seed.loaded", SeedRooms)
source("seeds.offers", "seed.loaded", SeedOffers)
source("seeds.counters", "seed.loaded", SeedCounters)
source("seeds.orders", "seed.loaded", SeedOrders)
source("seeds.reviews", "seed.loaded", SeedReviews)
# the synthetic history's analytics events are rows of this one: made again by its replay
source("seeds.events", "seed.loaded", SeedEvents)
