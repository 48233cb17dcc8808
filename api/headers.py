"""Security and caching headers on every answer, set once here rather than route by route:
answers from handlers, problem documents, 404s and refusals from middleware alike."""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

# the docs page (api.contract.routes) is ReDoc from its CDN: the script from there, the
# document from here, the inline styles ReDoc writes, and its search worker, made from a blob
DOCS_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src https://cdn.redoc.ly",
        "style-src 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "worker-src blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
# answers carrying a token, a one-time code or a password's outcome, whoever asks
PRIVATE_PATHS = ("/v1/auth/", "/v1/dev/", "/v1/ws")


def private(request: Request) -> bool:
    """An answer for one caller: to a request with credentials, or from the routes that hand
    out tokens and codes (signup and login come before any token)."""
    return "authorization" in request.headers or request.path.startswith(PRIVATE_PATHS)


def secure(request: Request, response: BaseHTTPResponse) -> None:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if (response.content_type or "").startswith("text/html"):
        headers["Content-Security-Policy"] = DOCS_CSP
        headers["X-Frame-Options"] = "DENY"
    if "cache-control" in headers:
        return  # the route's own rule: images are content-addressed, public and immutable
    if private(request):
        headers["Cache-Control"] = "no-store"
    elif request.path.startswith("/v1/"):
        # an anonymous answer a cache may keep: the same URL answers others differently with
        # a token (a seller sees their listing's exact point; a stale token is a 401)
        vary = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
        if "authorization" not in (v.lower() for v in vary):
            headers["Vary"] = ", ".join([*vary, "Authorization"])


def install(app: Sanic) -> None:
    @app.on_response
    async def security_headers(request: Request, response: BaseHTTPResponse) -> None:
        secure(request, response)
