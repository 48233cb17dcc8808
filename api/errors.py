"""One error handler: every failure leaves as RFC 9457 problem+json, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, json

from graph.infra.errors import DomainError, RateLimited

log = logging.getLogger("vendr.api")

PROBLEM = "application/problem+json"


class BadRequest(DomainError):
    status = 400
    title = "Bad request"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HTTPResponse:
    body: dict[str, Any] = {
        **(extra or {}),
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return json(body, status=status, headers=headers, content_type=PROBLEM)


def handle(request: Request, exc: Exception) -> HTTPResponse:
    if isinstance(exc, RateLimited):
        return problem(
            exc.status, exc.title, exc.detail, headers={"Retry-After": str(exc.retry_after)}
        )
    if isinstance(exc, DomainError):
        return problem(
            exc.status, exc.title, exc.detail, errors=exc.errors or None, extra=exc.extra
        )
    if isinstance(exc, SanicException):
        status = exc.status_code
        title = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}.get(
            status, "Bad request" if status < 500 else "Server error"
        )
        detail = str(exc) if status < 500 else "the server could not handle this request"
        headers = dict(getattr(exc, "headers", None) or {})
        if status == 405 and "Allow" not in headers:  # RFC 9110: say what the path takes
            headers["Allow"] = ", ".join(_allowed(request))
        return problem(status, title, detail, headers=headers or None)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "Server error", "the server could not handle this request")


def _allowed(request: Request) -> list[str]:
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except SanicException:
            continue
        allowed.append(method)
    return allowed


def install(app: Sanic) -> None:
    app.error_handler.add(Exception, handle)
