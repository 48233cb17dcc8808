"""The event log's schemas: what each state-changing statement records, so the log can rebuild
the graph (`vendr events replay`).

Every write statement is either a *source* or declared not to be one (`NOT_SOURCED`, with the
reason: derived values the sweeper recomputes, operational bookkeeping, or a by-product of a
source). A source statement appends one Event, in the same statement, whose `data` holds the
statement's facts: every parameter it was run with except the event's own id and time, which are
the Event's `id` and `at`, and except secrets. Replaying the Event runs the same statement with
the same facts, so the graph it rebuilds is the graph that was, by construction; the facts'
shape is declared here per statement (a pydantic model, `type`, `version`), checked against the
statement's parameters by a test, and upcast from older versions before a replay applies it.

Events a source statement makes beside its own (an order's payment, a room an offer opens) are
by-products: their ids are facts of the source, so replay makes them again, and they carry no
facts of their own.

`data` on the Event is JSON: `{"via": STATEMENT, "version": N, "facts": {...}}` for a source
event, a small object of its own for a by-product.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

# parameters every evented statement takes that are the Event itself, never facts
PLUMBING = frozenset({"event_id", "now", "event_data"})


class Facts(BaseModel):
    """A statement's facts: its parameters by name. Unknown names are refused, so a statement
    that gains a parameter without a schema change fails its schema test, not a replay."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Source:
    statement: str
    type: str  # the Event's type ('product.created'), or the first of several (see `types`)
    version: int
    model: builtins.type[Facts]
    # parameters never copied into the log; replay runs the statement with None for them
    secret: frozenset[str] = frozenset()
    # facts about a person that their account's deletion erases from their events: what the
    # deletion takes out of the graph, so an erased log still replays to the same graph
    personal: frozenset[str] = frozenset()
    # an UNWIND statement's list parameter: each row appends its own Event (with the row's own
    # `event_id` and `event_data`), whose facts are the shared parameters and that one row
    rows: str | None = None
    # the by-product Events it appends, by type (documentation and the by-product check)
    by_products: tuple[str, ...] = ()


SOURCES: dict[str, Source] = {}

# write statements that are not sources, and why: "derived: ..." (recomputed from facts by the
# sweeper), "operational: ..." (delivery, retries, claims: state of the machinery, not the
# marketplace), "cache: ..."
NOT_SOURCED: dict[str, str] = {}

# (statement, from_version) -> a function from those facts to the next version's
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}

# what the fidelity dump leaves out: properties the sweeper derives from facts ("Label.prop"),
# and labels whose nodes are machinery (delivery queues, claims) rather than the marketplace
DERIVED_PROPERTIES: set[str] = set()
OPERATIONAL_LABELS: set[str] = {"Event"}
# what the volume events (views, passes, room reads, logins) leave in the graph: facts a replay
# after the retention purge (graph.background.jobs) rebuilds for the window kept only
ACTIVITY_RELATIONSHIPS: set[str] = {"VIEWED", "PASSED"}
ACTIVITY_PROPERTIES: set[str] = {
    "User.last_login_at",
    "MEMBER.last_read_at",
    "MEMBER.unread",
}


def source(
    statement: str,
    type: str,
    model: builtins.type[Facts],
    *,
    version: int = 1,
    secret: tuple[str, ...] = (),
    personal: tuple[str, ...] = (),
    rows: str | None = None,
    by_products: tuple[str, ...] = (),
) -> None:
    if statement in SOURCES or statement in NOT_SOURCED:
        raise ValueError(f"statement {statement!r} declared twice")
    SOURCES[statement] = Source(
        statement,
        type,
        version,
        model,
        frozenset(secret),
        frozenset(personal),
        rows,
        tuple(by_products),
    )


def not_sourced(statement: str, why: str) -> None:
    if statement in SOURCES or statement in NOT_SOURCED:
        raise ValueError(f"statement {statement!r} declared twice")
    if why.split(":", 1)[0] not in {"derived", "operational", "cache", "by-product"}:
        raise ValueError(f"{statement}: say why it is not a source (derived|operational|...)")
    NOT_SOURCED[statement] = why


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "latitude") and hasattr(value, "longitude"):
        return {"latitude": value.latitude, "longitude": value.longitude}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not a fact the log can hold")


def _facts(src: Source, params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in params.items()
        if k not in PLUMBING and k not in src.secret and k != src.rows
    }


def _row_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in PLUMBING}


def with_facts(statement: str, params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The parameters a source statement runs with: its Event's `data` (or each row's) made
    from the facts. Other statements' parameters are returned as they are."""
    src = SOURCES.get(statement)
    if src is None or params is None:
        return params
    facts = _facts(src, params)
    if src.rows is None:
        return {
            **params,
            "event_data": _dumps({"via": statement, "version": src.version, "facts": facts}),
        }
    rows = [
        {
            **row,
            "event_data": _dumps(
                {
                    "via": statement,
                    "version": src.version,
                    "facts": facts | {src.rows: [_row_facts(row)]},
                }
            ),
        }
        for row in params[src.rows]
    ]
    return {**params, src.rows: rows}


def parse(data: Any) -> tuple[str, int, dict[str, Any]] | None:
    """(statement, version, facts) of a source Event's `data`, or None for a by-product or an
    event written before the log held facts."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, dict) or "via" not in data or "facts" not in data:
        return None
    return str(data["via"]), int(data.get("version", 1)), dict(data["facts"])


def upcast(statement: str, version: int, facts: dict[str, Any]) -> dict[str, Any]:
    """The facts at the statement's current version, validated against its schema."""
    src = SOURCES.get(statement)
    if src is None:
        raise KeyError(f"no statement {statement!r} records events (an event from a newer Vendr?)")
    if version > src.version:
        raise ValueError(f"{statement} v{version} is newer than this Vendr's v{src.version}")
    while version < src.version:
        step = UPCASTERS.get((statement, version))
        if step is None:
            raise ValueError(f"no upcaster for {statement} v{version}")
        facts = step(facts)
        version += 1
    src.model.model_validate(facts)
    return facts


def replay_params(src: Source, event_id: str, at: int, facts: dict[str, Any]) -> dict[str, Any]:
    """The parameters that re-run a source statement for one of its Events (its `event_data`
    is made again from them by `with_facts`, as the first time)."""
    params = {**facts, "event_id": event_id, "now": at}
    for name in src.secret:
        params[name] = None
    if src.rows is not None:
        params[src.rows] = [{**row, "event_id": event_id} for row in facts[src.rows]]
    return params


def erase(data: Any) -> str | None:
    """A source Event's `data` with the personal facts it holds replaced by None (an account's
    deletion), or None when it holds none."""
    parsed = parse(data)
    if parsed is None:
        return None
    via, version, facts = parsed
    src = SOURCES.get(via)
    if src is None or not src.personal:
        return None
    touched = False
    for name in src.personal:
        if facts.get(name) is not None:
            facts[name] = None
            touched = True
    if src.rows is not None:
        for row in facts.get(src.rows, []):
            for name in src.personal:
                if row.get(name) is not None:
                    row[name] = None
                    touched = True
    if not touched:
        return None
    return _dumps({"via": via, "version": version, "facts": facts, "erased": True})


# ---------------------------------------------------------------------------------------------
# The schemas, a section per package. Each source names its statement (as registered in
# graph/infra/store/cypher.py), its Event type, and its facts' model.
# ---------------------------------------------------------------------------------------------

# == accounts, moderation, trust, notify, feed ==

# Personal facts here are what a deleted account's Events lose (graph.accounts.erasure): exactly
# what `lifecycle.delete_account` takes out of the graph (User names and places, Credential,
# SocialAccount, saved searches, listings' exact places), so a replay of the erased log still
# converges on the graph the deletion left; the statements treat a None fact as "no change". What
# the graph keeps for the other party (messages, reviews, a report's note) the log keeps too.


class _AccountsOutbox(Facts):
    """The `$ob_*` parameters of an outbox record (graph.notify.records.OUTBOX_NODE) a source
    writes beside its change; `ob_secret` (a code) is always a secret."""

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


_OUTBOX_SECRET = ("ob_secret",)


class UserSignedUp(Facts):
    id: str
    email: str | None
    phone: str | None
    handle: str | None
    display_name: str | None
    kind: str
    shop_name: str | None
    shop_id: str


class AccountRef(Facts):
    id: str


class UserUpdated(Facts):
    id: str
    display_name: str | None
    handle: str | None
    bio: str | None
    city: str | None
    show_city: bool | None
    location: dict[str, Any] | None
    shop_name: str | None


class AvatarSet(Facts):
    id: str
    image_id: str


class UserBlocked(Facts):
    user_id: str
    other_id: str


class EmailVerified(Facts):
    user_id: str
    email: str | None


class PhoneVerified(Facts):
    user_id: str
    phone: str | None


class PasswordSet(_AccountsOutbox):
    user_id: str
    event_type: str


class AccountDeleted(Facts):
    user_id: str
    tombstone: str
    deals_end_reason: str
    deals_end_grace_ms: int


class SocialLinked(Facts):
    user_id: str
    provider: str
    handle: str | None
    key: str | None


class SocialVerified(Facts):
    user_id: str
    provider: str
    key: str | None


class SocialUnlinked(Facts):
    user_id: str
    provider: str


source("accounts.signup", "user.signed_up", UserSignedUp, secret=("password_hash",),
       personal=("email", "phone", "handle", "display_name"))  # fmt: skip
# a new hash of the same password: the log keeps when, never the hash
source("accounts.rehash", "credential.rehashed", AccountRef, secret=("password_hash",))
# volume: purged by retention (graph.background.jobs); leaves User.last_login_at
source("accounts.logged_in", "user.logged_in", AccountRef)
source("accounts.update_profile", "user.updated", UserUpdated,
       personal=("display_name", "handle", "bio", "city", "location"))  # fmt: skip
source("accounts.set_avatar", "user.avatar_set", AvatarSet)
source("accounts.block", "user.blocked", UserBlocked)
source("accounts.unblock", "user.unblocked", UserBlocked)
source("lifecycle.confirm_email", "user.email_verified", EmailVerified, personal=("email",))
source("lifecycle.confirm_phone", "user.phone_verified", PhoneVerified, personal=("phone",))
# type 'password.changed' or 'password.reset' ($event_type)
source("lifecycle.set_password", "password.changed", PasswordSet,
       secret=("password_hash", *_OUTBOX_SECRET), personal=("ob_to",))  # fmt: skip
source("lifecycle.delete_account", "user.deleted", AccountDeleted)
source("socials.link", "social.linked", SocialLinked, personal=("handle", "key"))
source("socials.verify", "social.verified", SocialVerified, personal=("key",))
source("socials.unlink", "social.unlinked", SocialUnlinked)
not_sourced("lifecycle.notice", "operational: an account notice (a code) in the outbox alone")
not_sourced("lifecycle.erase_events", "operational: erasure of a deleted account's personal facts")
not_sourced("lifecycle.forget_dealt", "operational: a deleted account's impressions go")
not_sourced("ending.clear", "operational: the mark of an account whose deals have all ended")
not_sourced("ending.postpone", "operational: when the worker tries a marked account's deals again")


class ReportFiled(Facts):
    user_id: str
    target: str
    target_id: str
    id: str
    reason: str
    note: str | None


class ModerationDecision(Facts):
    target: str
    target_id: str
    owner_id: str
    admin: str
    reason: str
    action: str
    outcome: str


class Suspension(ModerationDecision):
    deals_end_reason: str
    deals_end_grace_ms: int


class Reinstated(Facts):
    user_id: str
    admin: str
    reason: str


class MarkedTrusted(Reinstated):
    trusted: bool


for _target in ("product", "user", "message", "review"):
    source(f"reports.file_{_target}", "report.filed", ReportFiled)
for _what in ("product", "message", "review"):
    source(f"moderation.hide_{_what}", "moderation.hide", ModerationDecision)
source("moderation.dismiss", "moderation.dismiss", ModerationDecision)
source("moderation.suspend", "moderation.suspend", Suspension)
source("moderation.reinstate", "moderation.reinstate", Reinstated)
source("moderation.mark_trusted", "moderation.trusted", MarkedTrusted)


class ReviewWritten(_AccountsOutbox):
    order_id: str
    user_id: str
    subject_id: str
    role: str
    id: str
    rating: int
    comment: str | None
    window_ms: int


class ReviewReplied(Facts):
    id: str
    user_id: str
    body: str | None


class ReviewsPublished(Facts):
    batch: int


class FlaggedMember(Facts):
    user_id: str
    report_id: str
    ring_id: str
    note: str
    evidence: str


class RingFlagged(Facts):
    rows: list[FlaggedMember]


source("reviews.write", "review.written", ReviewWritten, secret=_OUTBOX_SECRET)
source("reviews.reply", "review.replied", ReviewReplied)
source("reviews.publish_due", "reviews.published", ReviewsPublished)
# one Event per member: 'report.filed' for a new report, 'report.refreshed' for new evidence
source("trust.flag_ring", "report.filed", RingFlagged, rows="rows")
not_sourced("trust.write", "derived: trust scores the sweeper recomputes from facts")
not_sourced("trust.run_event", "derived: a note of a trust recomputation (its counts)")


class NotifySettings(Facts):
    user_id: str
    pairs: list[str]


source("outbox.set_settings", "user.notifications_set", NotifySettings)
for _name, _why in {
    "outbox.fan_out": "records into Notifications, by the worker",
    "outbox.claim": "a lease on due notifications",
    "outbox.record": "a delivery's outcome",
    "outbox.mark_read": "the inbox's read marks",
    "outbox.purge": "old notifications dropped",
    "outbox.purge_records": "fanned-out records dropped",
    "outbox.unread_chats": "unread-chat reminders queued (MEMBER.mailed_at)",
}.items():
    not_sourced(_name, "operational: " + _why)


class FeedTarget(Facts):
    user_id: str
    product_id: str


class FeedSwipe(Facts):
    product_id: str
    dir: str


class Swiped(Facts):
    user_id: str
    swipes: list[FeedSwipe]


class InterestsSet(Facts):
    user_id: str
    tags: list[str]


# one Event per listing swiped: 'product.liked', 'product.unliked' (a pass that takes a like
# back: kept) or 'product.passed' (volume, purged by retention: their PASSED edges stay)
source("feed.swipes", "product.liked", Swiped, rows="swipes")
# the feed's impressions (graph.feed.impressions), written by the worker in batches: a log of
# what decks showed, for the learner and the experiment report, that changes nothing in the
# marketplace, so a replay has nothing to rebuild from them (volume, purged by retention)
not_sourced(
    "feed.dealt",
    "operational: the feed's impression log (cards dealt, under which blend and arm)",
)
source("feed.save", "product.saved", FeedTarget)
source("feed.unsave", "product.unsaved", FeedTarget)
# volume: purged by retention; leaves VIEWED edges (at, count). Views are queued and written in
# batches (graph.feed.views): one Event per view, at the time it was seen; `feed.view` wrote
# them one at a time before, and replays the log's older ones
source("feed.view", "product.viewed", FeedTarget)


class FeedView(Facts):
    user_id: str
    product_id: str
    at: int


class Viewed(Facts):
    rows: list[FeedView]


source("feed.views", "product.viewed", Viewed, rows="rows")
source("feed.set_interests", "user.interests", InterestsSet)


class BlendFitted(Facts):
    blend_id: str
    version: str
    weights: str  # JSON: feature -> weight (graph.feed.blend.FEATURES)
    fitted_at: int
    shipped: bool
    reason: str
    figures: str  # JSON: the shadow evaluation's figures


# the background worker's fit of the deck's blend and its decision (shipped or kept), with the
# figures it was judged on: a fact (the blend decks ranked with), so replay rebuilds it
source("feed.blend_fitted", "feed.blend_fitted", BlendFitted)

DERIVED_PROPERTIES.update(
    {
        # the trust sweeper's (trust.write); signup starts trust_score at 0
        "User.trust_score",
        "User.trust_components",
        "User.trust_network",
        "User.trust_at",
        # secrets: replay runs without them
        "Credential.password_hash",
        # operational: the deal-ending mark, cleared by the finisher (graph.accounts.ending)
        "User.deals_end_reason",
        "User.deals_end_at",
        "User.deals_end_due_at",
        # operational: lock markers written before a statement's checks, facts or not
        "Order.review_checked_at",
        "Review.reply_checked_at",
        # operational: when an unread-chat reminder was queued (outbox.unread_chats)
        "MEMBER.mailed_at",
    }
)
# the outbox and the notifications fanned out of it are delivery machinery: written by sources
# (records, with ids from their facts) and by the worker (notifications, read and sent marks)
OPERATIONAL_LABELS.update({"Outbox", "Notification"})

# == end accounts ==

# == catalog, background, messaging ==


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


# == end catalog ==

# == deals, payments ==
# Deals and money. Deal timers and the provider's webhooks run these statements too: their
# `now` and what the provider said are facts, so a replay never asks the provider anything.
# Per-deal lines every deal statement shares (graph.deals.common.announce) and the room a
# first deal opens (graph.messaging.room_merge) are facts of each statement below.


class _SystemLine(Facts):
    # the room's system line and the outbox record beside it (graph.messaging.system_params)
    extra_unread: int
    ob_type: str
    ob_kind: str
    sys_id: str
    sys_kind: str
    sys_text: str
    sys_data: str


class _RoomOpened(Facts):
    # the room a deal opens if it is the first (its 'room.opened' is a by-product)
    room_key: str
    room_id: str
    room_event_id: str


class OfferMade(_SystemLine, _RoomOpened):
    buyer_id: str
    product_id: str
    amount: int
    currency: str
    quantity: int
    offer_id: str
    thread_id: str
    round: int
    by: str
    due_at: int | None
    due_event: str | None
    note: str | None
    note_id: str
    actor_id: str


class _OfferMove(_SystemLine):
    id: str
    role: str
    actor_id: str
    made_by: str | None


class OfferClosed(_OfferMove):
    target: str
    event_type: str


class OfferCountered(OfferClosed):
    offer_id: str
    amount: int
    quantity: int
    thread_id: str
    round: int
    by: str
    due_at: int | None
    due_event: str | None


class OfferAccepted(_OfferMove):
    order_id: str
    order_event_id: str
    offer_id: str
    quantity: int
    order_status: str
    due_at: int | None
    due_event: str | None


class OrderPlaced(_SystemLine, _RoomOpened):
    buyer_id: str
    product_id: str
    quantity: int
    order_id: str
    offer_id: str | None
    order_status: str
    due_at: int | None
    due_event: str | None
    actor_id: str


class OrderMoved(_SystemLine):
    id: str
    source: str
    target: str
    event: str
    role: str
    actor_id: str
    restock: bool
    complete: bool
    ended: list[str]
    due_at: int | None
    due_event: str | None
    cancelled_by: str | None
    event_type: str
    savers_type: str
    savers_actor: str
    # what the move owes its payment (graph.payments.owed), its Event a by-product
    payment: str | None
    release_at: int | None
    payment_event_id: str


class CartPut(Facts):
    user_id: str
    product_id: str
    quantity: int
    max_lines: int


class CartRemoved(Facts):
    user_id: str
    product_id: str


class CheckoutLine(Facts):
    product_id: str
    quantity: int
    unit_price: int
    currency: str
    seller_id: str
    order_id: str


class CheckoutOrder(Facts):
    order_id: str
    order_event_id: str
    seller_id: str
    currency: str
    amount: int
    quantity: int
    first_product_id: str
    room_key: str
    room_id: str
    room_event_id: str
    sys_id: str
    sys_text: str
    sys_data: str


class CheckedOut(Facts):
    buyer_id: str
    lines: list[CheckoutLine]
    orders: list[CheckoutOrder]
    order_status: str
    due_at: int | None
    due_event: str | None


class CollectionCreatedEmpty(Facts):
    user_id: str
    id: str
    name: str
    max: int


class CollectionCreated(CollectionCreatedEmpty):
    product_ids: list[str]


class CollectionUpdated(Facts):
    user_id: str
    id: str
    name: str | None
    product_ids: list[str] | None


class CollectionDeleted(Facts):
    user_id: str
    id: str


class PaymentCreated(Facts):
    subject_id: str
    payable: str
    key: str
    payment_id: str
    purpose: str
    payer_id: str
    provider: str
    capture: str
    payee_id: str | None
    fee_bps: int


class PaymentIntent(Facts):
    id: str
    intent_id: str


class Posting(Facts):
    owner: str
    bucket: str
    amount: int


class PaymentMoved(Facts):
    id: str
    source: str
    target: str
    failure: str | None
    owed: str | None
    actor_id: str
    event_type: str
    postings: list[Posting]


class PaymentCallDone(Facts):
    id: str
    owed: str
    amount: int | None
    refund_id: str | None
    event_type: str


class PaymentCallFailed(Facts):
    id: str
    owed: str
    at: int | None
    error: str


class RefundAsked(Facts):
    id: str
    amount: int
    actor_id: str
    reason: str


class _MoneyBack(Facts):
    id: str
    before: int
    platform_bucket: str
    fee_part: int
    seller_part: int


class PaymentRefunded(_MoneyBack):
    total: int
    delta: int


class DisputeOpened(_MoneyBack):
    dispute_id: str
    amount: int


class DisputeClosed(Facts):
    dispute_id: str
    outcome: str
    platform_bucket: str


class PayoutAccountOpened(Facts):
    user_id: str
    account_id: str


class PayoutAccountUpdated(Facts):
    account_id: str
    enabled: bool


class Released(Facts):
    id: str


class SharesReleased(Facts):
    rows: list[Released]


class PayoutCreated(Facts):
    user_id: str
    key: str
    minimum: int
    payout_id: str
    trigger: str
    actor_id: str


class PayoutSettled(Facts):
    id: str
    transfer_id: str | None
    failure: str | None


class PromotionCreated(Facts):
    user_id: str
    product_id: str
    id: str
    plan: str
    days: float
    boost: float
    amount: int
    currency: str
    due_at: int | None
    due_event: str | None


class PromotionMoved(Facts):
    id: str
    source: str
    target: str
    event: str
    role: str
    actor_id: str
    due_at: int | None
    due_event: str | None
    event_type: str
    payment: str | None
    release_at: int | None
    payment_event_id: str


_PAYMENT_OWED = ("payment.refunding", "payment.capturing", "payment.cancelled")

source("offers.make", "offer.made", OfferMade, by_products=("room.opened",))
source("offers.close", "offer.declined", OfferClosed)  # or withdrawn, expired (`event_type`)
source("offers.counter", "offer.countered", OfferCountered)
source("offers.accept", "offer.accepted", OfferAccepted, by_products=("order.placed",))
source("orders.place", "order.placed", OrderPlaced, by_products=("room.opened",))
source("orders.move", "order.confirmed", OrderMoved, by_products=_PAYMENT_OWED)
source("cart.put", "cart.line_put", CartPut)
source("cart.remove", "cart.line_removed", CartRemoved)
source("cart.checkout", "cart.checked_out", CheckedOut, by_products=("order.placed", "room.opened"))
source("collections.create", "collection.created", CollectionCreated)
source("collections.create_empty", "collection.created", CollectionCreatedEmpty)
source("collections.update", "collection.updated", CollectionUpdated)
source("collections.delete", "collection.deleted", CollectionDeleted)

source("payments.open_order", "payment.created", PaymentCreated)
source("payments.open_promotion", "payment.created", PaymentCreated)
# the provider's client secret lets the payer pay: never in the log (a rebuilt graph has none)
source("payments.intent", "payment.intent_created", PaymentIntent, secret=("client_secret",))
source("payments.move", "payment.succeeded", PaymentMoved)  # any PAYMENT move (`event_type`)
source("payments.owed_done", "payment.refund_sent", PaymentCallDone)
# a refused call leaves the payment owing it (a create owed from then on): a fact
source("payments.owed_retry", "payment.call_failed", PaymentCallFailed)
source("payments.ask_refund", "payment.refund_asked", RefundAsked)
source("payments.refunded", "payment.refunded", PaymentRefunded)
source("payments.dispute_opened", "payment.disputed", DisputeOpened)
source("payments.dispute_closed", "payment.dispute_won", DisputeClosed)
source("payouts.account_opened", "payouts.account_opened", PayoutAccountOpened)
source("payouts.account_updated", "payouts.account_updated", PayoutAccountUpdated)
source("payouts.release", "payment.released", SharesReleased, rows="rows")
source("payouts.create", "payout.created", PayoutCreated)
source("payouts.settled", "payout.paid", PayoutSettled)
source("promotions.create", "promotion.created", PromotionCreated)
source("promotions.move", "promotion.active", PromotionMoved, by_products=_PAYMENT_OWED)

not_sourced("payments.retry", "operational: an operator resets an owed call's backoff")
not_sourced("payouts.retry_later", "operational: when to ask for an owed transfer again")
not_sourced("payments.webhook_claim", "operational: a delivery's claim on a webhook event id")
not_sourced("payments.webhook_done", "operational: what a webhook delivery did, for duplicates")

DERIVED_PROPERTIES.update(
    {
        # stamps a statement writes to take a lock before it reads (kept when it then refuses)
        "Room.negotiated_at",
        "Product.stock_checked_at",
        "Product.promotion_checked_at",
        "Offer.locked_at",
        "Order.locked_at",
        "Payment.locked_at",
        "Promotion.locked_at",
        "Payout.locked_at",
        "Account.payout_checked_at",
        # when an owed provider call is tried again, and how often it was (the retry machinery)
        "Payment.owed_at",
        "Payment.owed_attempts",
        "Payout.owed_at",
        "Payout.owed_attempts",
        "Payout.owed_error",
        # a secret the log does not hold
        "Payment.client_secret",
    }
)
OPERATIONAL_LABELS.update({"WebhookEvent"})

# == end deals ==

# == seeds ==
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

# == end seeds ==
