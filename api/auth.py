"""Bearer-token authentication and per-caller rate limits for routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from graph.bootstrap import Services
from graph.errors import Unauthorized

Handler = Callable[..., Awaitable[HTTPResponse]]


def services(request: Request) -> Services:
    return request.app.ctx.services


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def client_ip(request: Request) -> str:
    return str(request.remote_addr or request.ip or "unknown")


def authenticated(handler: Handler) -> Handler:
    """Resolve the bearer token to request.ctx.user_id, or answer 401."""

    @wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        token = bearer(request)
        user_id = await services(request).sessions.resolve(token) if token else None
        if not user_id:
            raise Unauthorized("a valid bearer token is required")
        request.ctx.user_id = user_id
        request.ctx.token = token
        return await handler(request, *args, **kwargs)

    return openapi.secured("token")(wrapper)


async def limit_writes(request: Request, rule: str = "write_user") -> None:
    await services(request).limiter.hit(rule, request.ctx.user_id)


def optional_user(handler: Handler) -> Handler:
    """Like `authenticated`, but anonymous callers pass with request.ctx.user_id = None.
    A token that is sent must be valid: a stale token is a 401, not a silent downgrade."""

    @wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        token = bearer(request)
        request.ctx.user_id = None
        request.ctx.token = token
        if token:
            user_id = await services(request).sessions.resolve(token)
            if not user_id:
                raise Unauthorized("the bearer token is not valid")
            request.ctx.user_id = user_id
        return await handler(request, *args, **kwargs)

    return wrapper
