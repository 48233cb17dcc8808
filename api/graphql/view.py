"""`/graphql` in the Sanic app: `POST` (and `GET` for queries) through strawberry's Sanic
view, and the `graphql-transport-ws` WebSocket on the same path.

Strawberry's Sanic view has no WebSocket support, and Sanic will not register a GET route
and a WebSocket route on one path. So one GET handler serves both: an upgrade request is
handed to Sanic's own WebSocket handshake (the handler is marked as a WebSocket handler so
Sanic expects no HTTP response from it), and strawberry's protocol handler then drives the
socket through a small adapter (`SanicWebSocket`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Mapping
from datetime import timedelta
from typing import Any, TypeGuard

from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.server.websockets.impl import WebsocketImplProtocol
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, WebSocketDisconnected
from strawberry.sanic.views import GraphQLView
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.auth import client_ip
from api.graphql.context import Context
from api.realtime import SocketCaps
from graph.infra.errors import Unauthorized

PATH = "/graphql"


class SocketRequest:
    """A WebSocket after Sanic's handshake, as the view's `run` takes it."""

    def __init__(self, request: Request, ws: WebsocketImplProtocol) -> None:
        self.request = request
        self.ws = ws


class SanicWebSocket(AsyncWebSocketAdapter):
    def __init__(self, view: Any, request: SocketRequest, response: WebsocketImplProtocol) -> None:
        super().__init__(view)
        self.ws = response

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        while True:
            raw = await self.ws.recv()
            if raw is None:  # the client went
                return
            try:
                yield json.loads(raw)
            except ValueError as exc:
                if not ignore_parsing_errors:
                    raise NonJsonMessageReceived from exc

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send(json.dumps(message))
        except Exception as exc:  # a closed connection, whichever way it closed
            raise WebSocketDisconnected from exc

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, reason=reason)


class VendrGraphQLView(GraphQLView[Context, None]):
    websocket_adapter_class = SanicWebSocket  # type: ignore[assignment]

    def __init__(self, schema: BaseSchema, *, ide: bool) -> None:
        super().__init__(
            schema=schema,
            graphql_ide="graphiql" if ide else None,
            allow_queries_via_get=True,
        )
        self.protocols = (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
        self.connection_init_wait_timeout = timedelta(seconds=10)
        self.max_subscriptions_per_connection = 20
        self.keep_alive = True
        self.keep_alive_interval = 15

    async def get_context(self, request: Any, response: Any = None) -> Context:
        if isinstance(request, SocketRequest):
            # who is calling is said in `connection_init` (on_ws_connect)
            return Context(
                request=request.request,
                services=request.request.app.ctx.services,
                socket=request.ws,
            )
        return await Context.of(request)

    def is_websocket_request(self, request: Any) -> TypeGuard[Any]:
        return isinstance(request, SocketRequest)

    async def pick_websocket_subprotocol(self, request: Any) -> str | None:
        return request.ws.subprotocol

    async def create_websocket_response(self, request: Any, subprotocol: str | None) -> Any:
        return request.ws

    def get_websocket_headers(self, request: Any) -> Mapping[str, str]:
        return request.request.headers

    async def on_ws_connect(self, context: Context) -> Any:
        """`connection_init` carries the token: `{"token": …}` or
        `{"Authorization": "Bearer …"}`; without a valid one the socket is refused (4403)."""
        params = context.connection_params or {}
        token = params.get("token") if isinstance(params, dict) else None
        header = params.get("Authorization") if isinstance(params, dict) else None
        if token is None and isinstance(header, str) and header.lower().startswith("bearer "):
            token = header[7:].strip()
        await context.authenticate(token if isinstance(token, str) else None)
        if not context.user_id:
            raise ConnectionRejectionError({"message": str(Unauthorized("a valid token"))})
        # the REST socket's per-person cap, held as long as this socket lives (`socket`)
        caps: SocketCaps = context.request.app.ctx.socket_caps
        held: contextlib.ExitStack = context.request.ctx.socket_holds
        if not held.enter_context(caps.hold(f"user:{context.user_id}", caps.per_user)):
            if context.socket is not None:  # the code REST's socket gives, not a bare 4403
                await context.socket.close(code=4429, reason="too many sockets for this account")
            raise ConnectionRejectionError({"message": "too many sockets for this account"})
        return None


def mount(app: Sanic, schema: BaseSchema, *, ide: bool) -> None:
    view = VendrGraphQLView(schema, ide=ide)

    async def socket(request: Request, ws: WebsocketImplProtocol) -> None:
        """One GraphQL socket, under the same caps as REST's `/v1/ws`: per client address
        from the upgrade on, per person once `connection_init` says who (`on_ws_connect`)."""
        caps: SocketCaps = request.app.ctx.socket_caps
        with contextlib.ExitStack() as held:
            if not held.enter_context(caps.hold(f"address:{client_ip(request)}", caps.per_address)):
                await ws.close(code=4429, reason="too many sockets from this address")
                return
            request.ctx.socket_holds = held
            await view.run(SocketRequest(request, ws))  # type: ignore[call-overload]

    async def get(request: Request) -> HTTPResponse | None:
        if request.headers.get("upgrade", "").lower() == "websocket":
            await app._websocket_handler(  # Sanic's own handshake and task bookkeeping
                socket, request, subprotocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL]
            )
            return None
        return await view.get(request)

    async def post(request: Request) -> HTTPResponse:
        return await view.post(request)

    # an upgrade answered by the handshake, not by a response: Sanic must not expect one
    get.is_websocket = True  # type: ignore[attr-defined]
    app.enable_websocket()
    app.add_route(get, PATH, methods=["GET"], name="graphql_get")
    app.add_route(post, PATH, methods=["POST"], name="graphql_post")
