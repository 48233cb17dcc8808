"""Realtime over GraphQL (`graphql-transport-ws` on `/graphql`): the per-user pushes the REST
socket (`/v1/ws`) forwards, as typed subscriptions, under the REST socket's rules.

- Each subscription listens on the caller's channel through the worker's `Hub` (one Redis
  pub/sub per worker) and keeps the pushes of its kind, built with the types' `build` from the
  same shapes REST sends.
- A `session.revoked` for this token, or for every session of the account (logout,
  suspension, deletion), closes the socket with 4401, as `/v1/ws` does; so does a token
  already revoked when a subscription starts (the socket authenticated once, at
  `connection_init`).
- `roomMessages` is for the room's parties: anyone else gets an `error` for the subscription
  (NOT_FOUND, as REST's 404) and nothing. The room is read again whenever a message for it
  arrives: once REST hides it (a block between the parties, a suspended party), the
  subscription ends with the same NOT_FOUND instead of delivering. A block publishes nothing,
  so the end comes with the room's next line (a blocked party cannot chat; deal lines can
  still come).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import orjson
import strawberry
from strawberry.types import Info

from api.graphql.context import Context, require
from api.graphql.errors import top_level
from api.graphql.types import Message, Notification, Offer, Order, build
from graph.accounts.sessions import session_digest
from graph.deals.machine import OFFER, ORDER
from graph.infra.errors import NotFound
from graph.infra.machine import open_events

Info_ = Info[Context, None]

REVOKED_CODE = 4401  # the REST socket's code for a session that ended
# after closing, a subscription waits this long for the socket's end to cancel it
CLOSE_GRACE_S = 30.0


async def _revoked(context: Context) -> None:
    """The session this socket was opened with is over: close the socket as REST does, and
    wait for its end to cancel the subscription (nothing more may be sent on it)."""
    if context.socket is None:  # not over a socket: the stream just ends
        return
    await context.socket.close(code=REVOKED_CODE, reason="session revoked")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), CLOSE_GRACE_S)


async def _pushes(context: Context, user_id: str) -> AsyncGenerator[dict[str, Any], None]:
    """The pushes to the caller's channel, decoded, until the session is revoked."""
    hub = context.request.app.ctx.hub
    channel = context.services.notifier.channel(user_id)
    session = session_digest(context.token or "")
    queue = await hub.subscribe(channel)
    try:
        # read after subscribing: a revocation from here on is in the queue
        # from Redis, not the worker's cache: the socket stays open on what it reads here
        sessions = context.services.sessions
        if not context.token or await sessions.resolve(context.token, fresh=True) != user_id:
            await _revoked(context)
            return
        while True:
            payload = orjson.loads(await queue.get())
            if not isinstance(payload, dict):
                continue
            kind = payload.get("type")
            if kind == "session.revoked" and payload.get("session") in (None, session):
                await _revoked(context)
                return
            yield payload
    finally:
        await hub.unsubscribe(channel, queue)


async def _of_kind(
    context: Context, user_id: str, kind: str
) -> AsyncGenerator[dict[str, Any], None]:
    """The bodies of the caller's pushes of one `kind` (`offer.updated` -> its `offer`)."""
    field = kind.split(".")[0]
    async with contextlib.aclosing(_pushes(context, user_id)) as pushes:
        async for push in pushes:
            body = push.get(field)
            if push.get("type") == kind and isinstance(body, dict):
                yield body


async def _visible_room(context: Context, user_id: str, room_id: str) -> None:
    """NOT_FOUND unless the caller is a party to the room and REST shows it to them."""
    try:
        await context.services.messaging.room(user_id, room_id)
    except NotFound as exc:
        raise top_level(exc) from None


def _role(buyer_id: object, user_id: str) -> str:
    return "buyer" if buyer_id == user_id else "seller"


async def _room_messages(
    context: Context, user_id: str, room_id: str
) -> AsyncGenerator[Message, None]:
    async with contextlib.aclosing(_pushes(context, user_id)) as pushes:
        async for push in pushes:
            message = push.get("message")
            if push.get("type") != "message.created" or push.get("room_id") != room_id:
                continue
            if not isinstance(message, dict):
                continue
            # still shown to the caller? (a block or a suspension since ends it here)
            await _visible_room(context, user_id, room_id)
            yield build(Message, message)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="New lines in one of your rooms (chat and the deals' system lines); "
        "NOT_FOUND for a room that is not yours, and when a block or a suspension hides it"
    )
    async def room_messages(
        self, info: Info_, room_id: strawberry.ID
    ) -> AsyncGenerator[Message, None]:
        user_id = require(info)
        # checked before anything streams: a stranger gets an error and nothing
        await _visible_room(info.context, user_id, str(room_id))
        return _room_messages(info.context, user_id, str(room_id))

    @strawberry.subscription(description="Your offers as they move, as buyer or as seller")
    async def offer_updated(self, info: Info_) -> AsyncGenerator[Offer, None]:
        user_id = require(info)
        async with contextlib.aclosing(_of_kind(info.context, user_id, "offer.updated")) as it:
            async for offer in it:
                role = _role(offer.get("buyer_id"), user_id)
                actions = open_events(OFFER, offer["status"], role=role, made_by=offer["made_by"])
                yield build(Offer, offer | {"actions": actions})

    @strawberry.subscription(description="Your orders as they move, as buyer or as seller")
    async def order_updated(self, info: Info_) -> AsyncGenerator[Order, None]:
        user_id = require(info)
        async with contextlib.aclosing(_of_kind(info.context, user_id, "order.updated")) as it:
            async for order in it:
                actions = open_events(
                    ORDER, order["status"], role=_role(order["buyer"]["id"], user_id)
                )
                yield build(Order, order | {"actions": actions})

    @strawberry.subscription(description="Your in-app notifications as they are delivered")
    async def notification_created(self, info: Info_) -> AsyncGenerator[Notification, None]:
        user_id = require(info)
        notes = _of_kind(info.context, user_id, "notification.created")
        async with contextlib.aclosing(notes) as it:
            async for note in it:
                yield build(Notification, note)
