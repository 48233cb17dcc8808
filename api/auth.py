"""Bearer-token authentication and per-caller rate limits for routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from api.contract import openapi
from graph.bootstrap import Services
from graph.infra.errors import Unauthorized
from graph.infra.settings import networks

Handler = Callable[..., Awaitable[HTTPResponse]]


def services(request: Request) -> Services:
    return request.app.ctx.services


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def client_ip(request: Request) -> str:
    """The caller's address for limits: the peer, unless the peer is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the right (the nearest hop first)
    and the first address that is not itself a trusted proxy is the client; anything further
    left was written by the client and proves nothing. From anyone else the header is ignored,
    so a client cannot pick a fresh address per request to escape its limits."""
    peer = str(request.ip or "unknown")
    trusted = networks(request.app.ctx.settings.trusted_proxies)
    if not trusted:
        return peer
    forwarded = ",".join(request.headers.getall("x-forwarded-for", []))
    hops = [h for h in forwarded.split(",") if h.strip()] + [peer]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return hop.strip()[:64]  # garbage from the client side: its own bucket
        if not any(address in net for net in trusted):
            return str(address)
    return str(_address(hops[0]) or peer)


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

    return openapi.secured()(wrapper)


async def limit_writes(request: Request, rule: str = "write_user", cost: int = 1) -> None:
    await services(request).limiter.hit(rule, request.ctx.user_id, cost)


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

    return openapi.optional_token()(wrapper)
