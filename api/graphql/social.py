"""People between themselves: rooms and messages, the swipe feed and saved listings, reviews
and reports, notifications, and your profile — the same services, limits and shapes as REST's
`rooms`, `feed`, `trust`, `notifications` and `users` routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from pydantic import BaseModel
from strawberry.scalars import JSON
from strawberry.types import Info

from api.graphql.context import Context, limit_writes, require, viewer
from api.graphql.core import DonePayload, PlaceInput
from api.graphql.errors import UserError, camel, payload, top_level
from api.graphql.inputs import checked
from api.graphql.relay import Connection, connection, keyset
from api.graphql.types import Me, Message, Notification, Product, Review, Role, Room, build
from api.routes import feed_models, rooms_models, trust_models, users_models
from api.routes.feed_models import FeedQuery, SwipeIn
from api.routes.notifications_models import NotificationsQuery, NotificationsReadIn
from api.routes.rooms_models import MessageIn, MessagesQuery, RoomIn, RoomsQuery
from api.routes.trust_models import ReportIn, ReviewIn, ReviewsQuery
from api.routes.users_models import ProfilePatch
from graph.accounts.commands import UpdateProfile
from graph.infra.errors import DomainError, Invalid
from graph.infra.geo import Place as GeoPlace
from graph.infra.ids import iso

Info_ = Info[Context, None]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

FIRST = strawberry.argument(description="how many (REST's `limit`, with its bounds)")
AFTER = strawberry.argument(description="the `endCursor` (or an edge's `cursor`) to go on after")

# REST's page parameters as GraphQL spells them
_PAGE_NAMES = {"limit": "first", "cursor": "after"}


# ---- enums, inputs, object types --------------------------------------------------------


@strawberry.enum
class SwipeDirection(Enum):
    RIGHT = "right"
    LEFT = "left"


@strawberry.enum(description="What a report is about (graph.moderation.service.Target)")
class ReportTarget(Enum):
    PRODUCT = "product"
    USER = "user"
    MESSAGE = "message"
    REVIEW = "review"


@strawberry.enum(description="Why it is reported (graph.moderation.service.Reason)")
class ReportReason(Enum):
    SCAM = "scam"
    COUNTERFEIT = "counterfeit"
    PROHIBITED = "prohibited"
    SPAM = "spam"
    HARASSMENT = "harassment"
    OFFENSIVE = "offensive"
    WRONG_CATEGORY = "wrong_category"
    OTHER = "other"


@strawberry.input(description="A profile change: only the fields given change")
class ProfileInput:
    display_name: str | None = None
    handle: str | None = None
    bio: str | None = None
    city: str | None = None
    location: PlaceInput | None = None
    show_city: bool | None = None
    shop_name: str | None = None


@strawberry.type(description="A card of your swipe deck: the listing, its score and why")
class FeedCard:
    product: Product
    score: float
    reasons: list[str] = strawberry.field(description="why this card, as text")
    explain: JSON = strawberry.field(description="the reasons as data")


@strawberry.type(description="Your notifications, newest first, and how many are unread")
class NotificationConnection(Connection[Notification]):
    unread: int


@strawberry.type
class Report:
    id: strawberry.ID
    status: str
    created_at: str


# ---- payloads ---------------------------------------------------------------------------


@strawberry.type
class MePayload:
    user: Me | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RoomPayload:
    room: Room | None = None
    created: bool | None = strawberry.field(
        default=None, description="whether this call opened it (false: it was open already)"
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MessagePayload:
    message: Message | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SwipePayload:
    product_id: strawberry.ID | None = None
    direction: SwipeDirection | None = None
    room: Room | None = strawberry.field(
        default=None, description="a right swipe opens (or returns) your room with the seller"
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReviewPayload:
    review: Review | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReportPayload:
    report: Report | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UnreadPayload:
    unread: int | None = strawberry.field(default=None, description="unread notifications left")
    errors: list[UserError] = strawberry.field(default_factory=list)


# ---- helpers ----------------------------------------------------------------------------


def _renamed(exc: DomainError) -> DomainError:
    """An Invalid about REST's page parameters, named as GraphQL's arguments are."""
    if not isinstance(exc, Invalid) or not exc.errors:
        return exc
    errors = {camel(_PAGE_NAMES.get(f, f)): m for f, m in exc.errors.items()}
    detail = exc.detail
    if len(errors) == 1:
        [(field, message)] = errors.items()
        detail = f"{field}: {message}"
    return Invalid(detail, errors=errors, extra=exc.extra)


async def answer(work: Callable[[], Awaitable[T]]) -> T:
    """A query's work: what goes wrong (a bad cursor, a hidden room, a limit) is a top-level
    error with its `extensions.code`, never a bare exception (an INTERNAL one to a client)."""
    try:
        return await work()
    except DomainError as exc:
        raise top_level(_renamed(exc)) from None


def page_query(info: Info_, model: type[M], first: int, after: str | None, **more: Any) -> M:
    """`first`/`after` (and a query's other arguments) checked by REST's query model, so each
    list keeps REST's bounds; Invalid names the GraphQL arguments."""
    data = {"limit": first, **{k: v for k, v in more.items() if v is not None}}
    if after is not None:
        data["cursor"] = after
    return checked(info, model, data)


def _ms(text: str) -> int:
    """An `iso()` timestamp (millisecond precision) back to epoch ms, exactly."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _card(c: Any) -> FeedCard:
    shape = feed_models.card(c)
    return FeedCard(
        product=build(Product, shape["product"]),
        score=shape["score"],
        reasons=shape["reasons"],
        explain=shape["explain"],
    )


# ---- queries ----------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(
        description="Your rooms, newest activity first, with the last message and unread count"
    )
    async def rooms(
        self,
        info: Info_,
        role: Role | None = None,
        first: Annotated[int, FIRST] = 20,
        after: Annotated[str | None, AFTER] = None,
    ) -> Connection[Room]:
        user_id, svc = require(info), info.context.services

        async def work() -> Connection[Room]:
            query = page_query(info, RoomsQuery, first, after, role=role.value if role else None)
            cursor = svc.cursors.decode(query.cursor, "rooms") if query.cursor else None
            rows = await svc.messaging.rooms(user_id, query.role, cursor, query.limit + 1)
            page, cursor_of, end = keyset(
                rows,
                query.limit,
                lambda r: svc.cursors.encode("rooms", r["last_message_at"], r["id"]),
            )
            nodes = [build(Room, rooms_models.room(r)) for r in page]
            return connection(nodes, end, cursor_of)

        return await answer(work)

    @strawberry.field(description="A room's messages, newest first (only its two members)")
    async def messages(
        self,
        info: Info_,
        room_id: strawberry.ID,
        first: Annotated[int, FIRST] = 20,
        after: Annotated[str | None, AFTER] = None,
    ) -> Connection[Message]:
        user_id, svc = require(info), info.context.services

        async def work() -> Connection[Message]:
            query = page_query(info, MessagesQuery, first, after)
            before = svc.cursors.decode(query.cursor, "messages")[1] if query.cursor else None
            rows = await svc.messaging.messages(user_id, str(room_id), before, query.limit + 1)
            page, cursor_of, end = keyset(
                rows, query.limit, lambda r: svc.cursors.encode("messages", 0, r["id"])
            )
            return connection(
                [build(Message, rooms_models.message(r)) for r in page], end, cursor_of
            )

        return await answer(work)

    @strawberry.field(
        description="The next cards of your swipe session (each call deals the next page: no "
        "card twice; sold, blocked or swiped since are left out)"
    )
    async def feed(
        self,
        info: Info_,
        first: Annotated[int, strawberry.argument(description="1 to 50")] = 20,
        near: Annotated[
            PlaceInput | None, strawberry.argument(description="defaults to your profile's")
        ] = None,
        radius_km: float | None = None,
        fresh: Annotated[
            bool, strawberry.argument(description="start a new swipe session")
        ] = False,
    ) -> list[FeedCard]:
        user_id, svc = require(info), info.context.services

        async def work() -> list[FeedCard]:
            place = {"lat": near.lat, "lon": near.lon} if near is not None else None
            query = page_query(
                info, FeedQuery, first, None, near=place, radius_km=radius_km, fresh=fresh
            )
            at = GeoPlace(query.near.lat, query.near.lon) if query.near else None
            cards = await svc.feed.deck(
                user_id, at, query.radius_km, query.limit, fresh=query.fresh
            )
            return [_card(c) for c in cards]

        return await answer(work)

    @strawberry.field(description="Your in-app notifications, newest first, with the unread count")
    async def notifications(
        self,
        info: Info_,
        first: Annotated[int, FIRST] = 20,
        after: Annotated[str | None, AFTER] = None,
        unread_only: Annotated[
            bool, strawberry.argument(description="only the unread ones")
        ] = False,
    ) -> NotificationConnection:
        user_id, svc = require(info), info.context.services

        async def work() -> NotificationConnection:
            query = page_query(info, NotificationsQuery, first, after, unread=unread_only)
            cursors = svc.cursors
            position = cursors.decode(query.cursor, "notifications") if query.cursor else None
            items, nxt, unread = await svc.outbox.inbox(
                user_id, position, query.limit, query.unread
            )
            end = cursors.encode("notifications", *nxt) if nxt else None
            page = connection(
                [build(Notification, item) for item in items],
                end,
                lambda i: cursors.encode(
                    "notifications", _ms(items[i]["created_at"]), items[i]["id"]
                ),
            )
            return NotificationConnection(edges=page.edges, page_info=page.page_info, unread=unread)

        return await answer(work)

    @strawberry.field(description="Published reviews of a person, newest first")
    async def reviews(
        self,
        info: Info_,
        user_id: strawberry.ID,
        role: Annotated[
            Role | None,
            strawberry.argument(description="reviews written as buyer or as seller"),
        ] = None,
        first: Annotated[int, strawberry.argument(description="1 to 50")] = 20,
        after: Annotated[str | None, AFTER] = None,
    ) -> Connection[Review]:
        me, svc = viewer(info), info.context.services

        async def work() -> Connection[Review]:
            query = page_query(info, ReviewsQuery, first, after, role=role.value if role else None)
            await svc.accounts.public_profile(str(user_id), me)  # NOT_FOUND when hidden
            position = svc.cursors.decode(query.cursor, "reviews") if query.cursor else None
            items, nxt = await svc.reviews.of_user(
                str(user_id), me, role=query.role, after=position, limit=query.limit
            )
            end = svc.cursors.encode("reviews", *nxt) if nxt else None
            return connection(
                [build(Review, trust_models.review(r)) for r in items],
                end,
                lambda i: svc.cursors.encode(
                    "reviews", int(items[i]["published_at"]), str(items[i]["id"])
                ),
            )

        return await answer(work)


# ---- mutations --------------------------------------------------------------------------


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Change names, handle, bio, place and visibility")
    async def update_profile(self, info: Info_, input: ProfileInput) -> MePayload:
        async def work() -> MePayload:
            await limit_writes(info)
            body = checked(info, ProfilePatch, input)
            fields = body.model_dump(exclude_unset=True, exclude={"location"})
            location = (
                GeoPlace(lat=body.location.lat, lon=body.location.lon) if body.location else None
            )
            row = await info.context.services.accounts.update_profile(
                UpdateProfile(user_id=require(info), location=location, **fields)
            )
            return MePayload(user=build(Me, users_models.user_me(row)))

        return await payload(work, lambda errors: MePayload(errors=errors))

    @strawberry.mutation(
        description="Your room (as the buyer) with a listing's seller, opened once: REST's "
        "POST /v1/rooms"
    )
    async def create_room(self, info: Info_, product_id: strawberry.ID) -> RoomPayload:
        async def work() -> RoomPayload:
            await limit_writes(info)
            body = checked(info, RoomIn, {"product_id": str(product_id)})
            room, created = await info.context.services.messaging.open_room(
                require(info), body.product_id
            )
            return RoomPayload(room=build(Room, rooms_models.room(room)), created=created)

        return await payload(work, lambda errors: RoomPayload(errors=errors))

    @strawberry.mutation(
        description="Send a message; both members' connections get it (message.created)"
    )
    async def send_message(self, info: Info_, room_id: strawberry.ID, text: str) -> MessagePayload:
        svc = info.context.services

        async def work() -> MessagePayload:
            user_id = require(info)
            await limit_writes(info, "message_user")
            body = checked(info, MessageIn, {"text": text})
            row = await svc.messaging.send(user_id, str(room_id), body.text)
            message = rooms_models.message(row)
            # the graph has it: now tell both members' connections, wherever they are
            await svc.notifier.publish(
                [row["recipient_id"], user_id],
                {"type": "message.created", "room_id": str(room_id), "message": message},
            )
            return MessagePayload(message=build(Message, message))

        return await payload(work, lambda errors: MessagePayload(errors=errors))

    @strawberry.mutation(
        description="Swipe right (like; opens your room with the seller) or left (pass)"
    )
    async def swipe(
        self, info: Info_, product_id: strawberry.ID, direction: SwipeDirection
    ) -> SwipePayload:
        svc = info.context.services

        async def work() -> SwipePayload:
            user_id = require(info)
            await limit_writes(info, "swipe_user")
            body = checked(info, SwipeIn, {"dir": direction.value})
            if body.dir == "right":  # it opens a room: the room-opening rate applies as well
                await limit_writes(info)
            await svc.feed.swipe(user_id, str(product_id), body.dir)
            if body.dir == "left":
                return SwipePayload(product_id=product_id, direction=SwipeDirection.LEFT)
            room, _ = await svc.messaging.open_room(user_id, str(product_id))
            return SwipePayload(
                product_id=product_id,
                direction=SwipeDirection.RIGHT,
                room=build(Room, rooms_models.room(room)),
            )

        return await payload(work, lambda errors: SwipePayload(errors=errors))

    @strawberry.mutation(description="Save a listing for later")
    async def save(self, info: Info_, product_id: strawberry.ID) -> DonePayload:
        async def work() -> DonePayload:
            await limit_writes(info)
            await info.context.services.feed.save(require(info), str(product_id))
            return DonePayload(ok=True)

        return await payload(work, lambda errors: DonePayload(errors=errors))

    @strawberry.mutation(description="Forget a saved listing")
    async def unsave(self, info: Info_, product_id: strawberry.ID) -> DonePayload:
        async def work() -> DonePayload:
            await limit_writes(info)
            await info.context.services.feed.unsave(require(info), str(product_id))
            return DonePayload(ok=True)

        return await payload(work, lambda errors: DonePayload(errors=errors))

    @strawberry.mutation(
        description="Review the other side of a completed order (once, within the window; "
        "blind until both wrote or the window closed)"
    )
    async def write_review(
        self, info: Info_, order_id: strawberry.ID, rating: int, comment: str | None = None
    ) -> ReviewPayload:
        async def work() -> ReviewPayload:
            await limit_writes(info, "review_user")
            data: dict[str, Any] = {"rating": rating}
            if comment is not None:
                data["comment"] = comment
            body = checked(info, ReviewIn, data)
            review, _ = await info.context.services.reviews.write(
                require(info), str(order_id), body.rating, body.comment
            )
            return ReviewPayload(review=build(Review, trust_models.review(review)))

        return await payload(work, lambda errors: ReviewPayload(errors=errors))

    @strawberry.mutation(
        description="Report a listing, an account, a message or a review to the moderators"
    )
    async def report(
        self,
        info: Info_,
        target: ReportTarget,
        id: strawberry.ID,
        reason: ReportReason,
        note: str | None = None,
    ) -> ReportPayload:
        async def work() -> ReportPayload:
            await limit_writes(info, "report_user")
            data: dict[str, Any] = {"target": target.value, "id": str(id), "reason": reason.value}
            if note is not None:
                data["note"] = note
            body = checked(info, ReportIn, data)
            filed = await info.context.services.reports.file(
                require(info), body.target, body.id, body.reason, body.note
            )
            return ReportPayload(
                report=Report(
                    id=filed["id"],
                    status=filed["status"],
                    created_at=iso(filed["created_at"]) or "",
                )
            )

        return await payload(work, lambda errors: ReportPayload(errors=errors))

    @strawberry.mutation(description="Mark notifications read: those named by `ids`, or all")
    async def mark_notifications_read(
        self,
        info: Info_,
        ids: Annotated[
            list[strawberry.ID] | None, strawberry.argument(description="null: all of them")
        ] = None,
    ) -> UnreadPayload:
        async def work() -> UnreadPayload:
            await limit_writes(info)
            data: dict[str, Any] = {"all": True} if ids is None else {"ids": [str(i) for i in ids]}
            body = checked(info, NotificationsReadIn, data)
            unread = await info.context.services.outbox.mark_read(
                require(info), None if body.all else body.ids
            )
            return UnreadPayload(unread=unread)

        return await payload(work, lambda errors: UnreadPayload(errors=errors))
