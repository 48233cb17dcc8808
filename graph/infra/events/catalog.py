"""The event log's schemas of the catalog, the background worker and messaging."""

from __future__ import annotations

from graph.infra.events.core import (
    DERIVED_PROPERTIES,
    OPERATIONAL_LABELS,
    Facts,
    not_sourced,
    source,
)


class _CatalogOutbox(Facts):
    """`record`'s parameters (graph.notify): the notification a statement writes beside its
    change (its `ob_secret`, a code, is a secret where a statement takes one)."""

    ob_id: str
    ob_key: str
    ob_kind: str
    ob_type: str
    ob_recipients: list[str] | None
    ob_audience: str | None
    ob_channels: list[str] | None
    ob_actor_id: str
    ob_subject_id: str
    ob_data: str
    ob_to: str | None


class ProductCreated(_CatalogOutbox):
    user_id: str
    id: str
    title: str
    description: str
    price: int
    currency: str
    condition: str
    local_pickup: bool
    ships: bool
    shipping_price: int | None
    quantity: int
    location: dict[str, float] | None  # the exact point, the seller's only
    place: dict[str, float]
    place_cell: int
    image_ids: list[str]
    tags: list[str]
    expires_at: int


class ProductChanges(Facts):
    title: str | None = None
    description: str | None = None
    condition: str | None = None
    local_pickup: bool | None = None
    quantity: int | None = None
    status: str | None = None
    price: int | None = None
    currency: str | None = None
    ships: bool | None = None
    shipping_price: int | None = None


class ProductUpdated(Facts):
    user_id: str
    id: str
    editable: list[str]
    status: str | None
    status_from: list[str]
    changes: ProductChanges
    location: dict[str, float] | None
    place: dict[str, float] | None
    place_cell: int | None
    tags: list[str] | None
    image_ids: list[str] | None
    ob_id: str
    savers_type: str
    savers_actor: str


class ProductOwned(Facts):
    user_id: str
    id: str


class ProductRenewed(ProductOwned):
    expires_at: int


class ImageUploaded(Facts):
    user_id: str
    id: str  # the sha256 of the stored bytes: the blob's key (and `id + ".thumb"`)
    w: int
    h: int
    bytes: int


class SearchSaved(Facts):
    user_id: str
    id: str
    name: str | None
    q: str | None
    words: list[str] | None
    tags: list[str]
    lat: float | None
    lon: float | None
    radius_km: float | None
    min_price: int | None
    max_price: int | None
    currency: str | None
    condition: str | None
    indexed_by: str
    index_tags: list[str]
    index_words: list[str] | None
    index_cells: list[str]
    max: int


class SearchDeleted(Facts):
    user_id: str
    id: str


class SweptRow(Facts):
    id: str


class ProductsExpired(Facts):
    rows: list[SweptRow]
    savers_type: str
    savers_actor: str


class PurgedRows(Facts):
    rows: list[SweptRow]
    cutoff: int


class RoomOpened(Facts):
    buyer_id: str
    product_id: str
    room_key: str
    room_id: str


class RoomRow(Facts):
    product_id: str
    room_key: str
    room_id: str


class RoomsOpened(Facts):
    buyer_id: str
    rooms: list[RoomRow]


class MessageSent(Facts):
    user_id: str
    room_id: str
    id: str
    body: str | None


class RoomRead(Facts):
    user_id: str
    room_id: str


source(
    "catalog.create",
    "product.created",
    ProductCreated,
    secret=("ob_secret",),
    personal=("location",),
)
source("catalog.update", "product.updated", ProductUpdated, personal=("location",))
source("catalog.delete", "product.deleted", ProductOwned)
source("catalog.renew", "product.renewed", ProductRenewed)
not_sourced(
    "catalog.place",
    "derived: a listing's public place is the centre of its location's grid cell at the "
    "configured size; the sweeper places listings again when that size changes",
)
source("images.save", "image.uploaded", ImageUploaded)
source(
    "searches.create",
    "search.saved",
    SearchSaved,
    personal=("name", "q", "words", "index_words", "lat", "lon"),
)
source("searches.delete", "search.deleted", SearchDeleted)

source("jobs.expire", "product.expired", ProductsExpired, rows="rows")
source("jobs.purge_products", "product.purged", PurgedRows, rows="rows")
source("jobs.purge_images", "image.purged", PurgedRows, rows="rows")
not_sourced(
    "jobs.purge_events",
    "operational: retention deletes volume Events (views, passes, reads, logins): the log's "
    "own upkeep; what they left in the graph is activity (ACTIVITY_*)",
)
not_sourced(
    "jobs.hype",
    "derived: Product.hype and Product.likes, from engagement edges, offers and messages",
)
not_sourced(
    "jobs.hype_of", "derived: Product.hype and Product.likes, as jobs.hype, for listings engaged"
)

source("messaging.open_room", "room.opened", RoomOpened)
source("messaging.open_rooms", "room.opened", RoomsOpened, rows="rooms")
source("messaging.send", "message.sent", MessageSent)
not_sourced(
    "messaging.send_many",
    "by-product: messaging.send for several rooms at once (a worker's group commit); each "
    "row appends messaging.send's own Event with that message's facts, replayed one by one",
)
source("messaging.read", "room.read", RoomRead)

DERIVED_PROPERTIES.update({"Product.hype", "Product.likes", "Product.place", "Product.place_cell"})
# the words saved searches watch: an index MERGEd and never removed, whose nodes an erased
# account's search (its words nulled in the log) would not make again
OPERATIONAL_LABELS.update({"Word"})
