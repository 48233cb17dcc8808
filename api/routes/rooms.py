from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import orjson
from sanic import Blueprint, Request, Websocket
from sanic.response import HTTPResponse, empty, json, raw

from api.auth import authenticated, client_ip, limit_writes, services
from api.contract import openapi, refusals
from api.parsing import JsonLimits, json_body, limits, loads, query_args, validate
from api.realtime import SocketCaps
from api.routes import rooms_models
from api.routes.rooms_models import (
    MessageIn,
    MessageOut,
    MessagePage,
    MessagesQuery,
    RoomIn,
    RoomOut,
    RoomPage,
    RoomsQuery,
    WsQuery,
)
from graph.accounts.sessions import session_digest
from graph.infra.errors import DomainError
from graph.notify import Notifier

bp = Blueprint("rooms", url_prefix="/v1")

AUTH_TIMEOUT_S = 10.0


@bp.post("/rooms")
@openapi.refuses(refusals.NOT_OWN_LISTING)
@openapi.summary("The buyer's room with the seller about a listing (created once)")
@openapi.body({"application/json": RoomIn})
@openapi.response(201, {"application/json": RoomOut})
@openapi.response(200, {"application/json": RoomOut})
@openapi.response(404, None, "no such listing (or its seller blocks you)")
@authenticated
async def open_room(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, RoomIn)
    room, created = await services(request).messaging.open_room(
        request.ctx.user_id, body.product_id
    )
    return json(rooms_models.room(room), status=201 if created else 200)


@bp.get("/rooms")
@openapi.query(RoomsQuery)
@openapi.summary("Your rooms, newest activity first, with the last message and unread count")
@openapi.response(200, {"application/json": RoomPage})
@authenticated
async def rooms(request: Request) -> HTTPResponse:
    query = query_args(request, RoomsQuery)
    cursor = services(request).cursors.decode(query.cursor, "rooms") if query.cursor else None
    rows = await services(request).messaging.rooms(
        request.ctx.user_id, query.role, cursor, query.limit + 1
    )
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = services(request).cursors.encode(
            "rooms", page[-1]["last_message_at"], page[-1]["id"]
        )
    return json({"items": [rooms_models.room(r) for r in page], "next_cursor": next_cursor})


@bp.get("/rooms/<room_id:str>/messages")
@openapi.query(MessagesQuery)
@openapi.summary("A room's messages, newest first")
@openapi.response(200, {"application/json": MessagePage})
@authenticated
async def messages(request: Request, room_id: str) -> HTTPResponse:
    # the answer's bytes, held by this worker for a few seconds per reader, cursor and limit
    # (graph.accounts.tokens, `RoomPages`): every change to what a page shows is pushed
    query = query_args(request, MessagesQuery)
    svc = services(request)
    user_id = request.ctx.user_id
    pages = svc.sessions.rooms
    key = pages.key(room_id, user_id, query.cursor, query.limit)
    if (held := pages.get(key)) is not None:
        return raw(held, content_type="application/json")
    generation = pages.generation
    before = svc.cursors.decode(query.cursor, "messages")[1] if query.cursor else None
    rows, members = await svc.messaging.page(user_id, room_id, before, query.limit + 1)
    page = rows[: query.limit]
    next_cursor = (
        svc.cursors.encode("messages", 0, page[-1]["id"]) if len(rows) > query.limit else None
    )
    body = orjson.dumps(
        {"items": [rooms_models.message(r) for r in page], "next_cursor": next_cursor}
    )
    pages.put(key, body, room_id, members, generation)  # (a non-member's 404 raised before)
    return raw(body, content_type="application/json")


@bp.post("/rooms/<room_id:str>/messages")
@openapi.summary("Send a message; members connected anywhere get it over the WebSocket")
@openapi.body({"application/json": MessageIn})
@openapi.response(201, {"application/json": MessageOut})
@authenticated
async def send(request: Request, room_id: str) -> HTTPResponse:
    svc = services(request)
    await svc.limiter.hit("message_user", request.ctx.user_id)
    body = json_body(request, MessageIn)
    row = await svc.messaging.send(request.ctx.user_id, room_id, body.text)
    message = rooms_models.message(row)
    # the graph has it: now tell both members' connections, wherever they are
    await _pushes(request).publish(
        svc.notifier,
        [row["recipient_id"], request.ctx.user_id],
        {"type": "message.created", "room_id": room_id, "message": message},
    )
    return json(message, status=201)


class _Pushes:
    """The pushes of the messages this worker has just written, published together. The
    senders of a batch of messages (graph.messaging's group commit) are answered in one turn of
    the loop, so their pushes are queued together and go to Redis in one round trip; one round
    trip at a time, so in the order the messages were written. Each send still answers only
    once its push has been published (or has failed: clients catch up from history)."""

    def __init__(self) -> None:
        self._queued: list[tuple[Notifier, list[str], dict[str, Any], asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def publish(self, notifier: Notifier, user_ids: list[str], push: dict[str, Any]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((notifier, user_ids, push, done))
        sender = self._sender
        if sender is None or sender.done() or sender.get_loop() is not done.get_loop():
            self._sender = asyncio.create_task(self._send(), name="message-pushes")
        await done

    async def _send(self) -> None:
        while self._queued:
            queued, self._queued = self._queued, []
            try:
                for notifier, group in itertools.groupby(queued, key=lambda q: q[0]):
                    await notifier.publish_many([(users, push) for _, users, push, _ in group])
            except Exception as exc:  # each sender gets what went wrong
                for *_, done in queued:
                    if not done.done():
                        done.set_exception(exc)
            finally:
                for *_, done in queued:
                    if not done.done():
                        done.set_result(None)


def _pushes(request: Request) -> _Pushes:
    ctx = request.app.ctx
    pushes = getattr(ctx, "message_pushes", None)
    if pushes is None:
        pushes = ctx.message_pushes = _Pushes()
    return pushes


@bp.post("/rooms/<room_id:str>/read")
@openapi.summary("Mark the room read up to now")
@openapi.response(204, None)
@authenticated
async def read(request: Request, room_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).messaging.read(request.ctx.user_id, room_id)
    return empty()


async def _first_frame_token(ws: Websocket, shape: JsonLimits) -> str | None:
    """The token of a first frame `{type: auth, token}`; a frame that is not JSON, or JSON past
    the limits bodies have, raises the DomainError a body would."""
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout=AUTH_TIMEOUT_S)
    except TimeoutError:
        return None
    frame = loads(raw or b"{}", shape, "the frame")
    if isinstance(frame, dict) and frame.get("type") == "auth":
        token = frame.get("token")
        return token if isinstance(token, str) else None
    return None


@bp.websocket("/ws")
async def ws(request: Request, ws: Websocket) -> None:
    """Realtime pushes (message.created, offer/order updates, notifications) for your rooms.
    `?token=` or a first frame `{type: auth, token}`; `?after=` the last message id seen
    replays newer ones. OpenAPI does not describe sockets: the README does."""
    caps: SocketCaps = request.app.ctx.socket_caps
    svc = services(request)
    with contextlib.ExitStack() as held:
        if not held.enter_context(caps.hold(f"address:{client_ip(request)}", caps.per_address)):
            await ws.close(code=4429, reason="too many sockets from this address")
            return
        shape = limits(request)
        try:
            query = validate(WsQuery, {k: v[-1] for k, v in request.args.items()}, shape)
        except DomainError as exc:
            await ws.close(code=4422, reason=exc.detail[:100])
            return
        try:
            token = query.token or await _first_frame_token(ws, shape)
        except DomainError as exc:  # the code says which: 4400 the shape, 4422 a NUL byte
            await ws.close(code=4000 + exc.status, reason=exc.detail[:100])
            return
        # from Redis, not the worker's cache: the socket stays open on what it reads here
        user_id = await svc.sessions.resolve(token, fresh=True) if token else None
        if not user_id:
            await ws.close(code=4401, reason="unauthorized")
            return
        if not held.enter_context(caps.hold(f"user:{user_id}", caps.per_user)):
            await ws.close(code=4429, reason="too many sockets for this account")
            return
        await _stream(request, ws, user_id, query.after, token)


async def _stream(
    request: Request, ws: Websocket, user_id: str, after: str | None, token: str | None
) -> None:
    svc = services(request)
    hub = request.app.ctx.hub
    channel = svc.notifier.channel(user_id)
    queue = await hub.subscribe(channel)  # before the replay: nothing falls between the two
    try:
        last_id = ""
        if after:
            for row in await svc.messaging.missed(user_id, after):
                message = rooms_models.message(row)
                await ws.send(_push(message))
                last_id = message["id"]
        await ws.send(orjson.dumps({"type": "ready"}).decode())
        await _pump(ws, queue, last_id, session_digest(token or ""))
    finally:
        await hub.unsubscribe(channel, queue)


def _push(message: dict[str, Any]) -> str:
    payload = {"type": "message.created", "room_id": message["room_id"], "message": message}
    return orjson.dumps(payload).decode()


# put on a socket's queue when its client goes: told apart by identity, never equal to a push
_CLOSED = bytes(bytearray(b"\x00closed"))


async def _pump(ws: Websocket, queue: asyncio.Queue[bytes], last_id: str, session: str) -> None:
    """Forward pushes until the client goes; skip what the replay already sent. A push is
    read as JSON only when it may need to be acted on (a revocation, or a replay to skip)."""
    closed = asyncio.create_task(_until_closed(ws))

    def wake(_: asyncio.Task[None]) -> None:
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(_CLOSED)

    closed.add_done_callback(wake)
    try:
        while not closed.done():
            raw = await queue.get()
            if raw is _CLOSED:
                break
            text = raw.decode() if isinstance(raw, bytes) else raw
            if last_id or "session.revoked" in text:
                payload = orjson.loads(raw)
                if payload.get("type") == "session.revoked" and payload.get("session") in (
                    None,
                    session,
                ):
                    # signed out (this token, or every session): the socket goes with the token
                    await ws.send(text)
                    await ws.close(code=4401, reason="session revoked")
                    break
                message_id = payload.get("message", {}).get("id", "")
                if message_id and message_id <= last_id:
                    continue
            await ws.send(text)
    finally:
        closed.remove_done_callback(wake)
        closed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closed


async def _until_closed(ws: Websocket) -> None:
    """Read (and ignore) client frames until the connection ends."""
    with contextlib.suppress(Exception):
        while await ws.recv() is not None:
            pass
