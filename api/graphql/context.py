"""What every resolver gets: the request, the services, and who is calling (resolved once per
request from the bearer token; for a WebSocket, from `connection_init`'s payload)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sanic import Request, Websocket
from strawberry.types import Info

from api.auth import bearer, client_ip
from api.graphql.errors import top_level
from api.parsing import JsonLimits
from graph.bootstrap import Services
from graph.infra.errors import Unauthorized


@dataclass
class Context:
    request: Request
    services: Services
    user_id: str | None = None
    token: str | None = None
    connection_params: dict[str, Any] | None = None
    # the graphql-transport-ws socket (None over HTTP): a subscription closes it with 4401
    # when the session it was opened with is revoked
    socket: Websocket | None = None
    # per-request memo for loaders (a page's sellers, say) and the statements count
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return client_ip(self.request)

    @property
    def limits(self) -> JsonLimits:
        return JsonLimits.of(self.services.settings)

    async def authenticate(self, token: str | None) -> None:
        self.token = token
        self.user_id = await self.services.sessions.resolve(token) if token else None

    @classmethod
    async def of(cls, request: Request) -> Context:
        ctx = cls(request=request, services=request.app.ctx.services)
        await ctx.authenticate(bearer(request))
        return ctx


def ctx(info: Info[Context, None]) -> Context:
    return info.context


def viewer(info: Info[Context, None]) -> str | None:
    """The caller's id, None for an anonymous caller; a token that no longer works (logged
    out, suspended, deleted) is refused, as REST refuses it, not taken as anonymous."""
    if info.context.token and not info.context.user_id:
        raise top_level(Unauthorized("the token is not valid"))
    return info.context.user_id


def require(info: Info[Context, None]) -> str:
    """The caller's id, or a top-level UNAUTHENTICATED error."""
    user_id = info.context.user_id
    if not user_id:
        raise top_level(Unauthorized("a valid bearer token is required"))
    return user_id


async def limit_writes(info: Info[Context, None], rule: str = "write_user", cost: int = 1) -> None:
    """The same per-account write limits REST applies."""
    await info.context.services.limiter.hit(rule, require(info), cost)
