"""What a GraphQL client is told when something goes wrong.

- What the user did wrong (a value out of range, a conflict, something not found) comes back
  in the mutation's payload as typed `errors` ({field, code, message}) beside a null object:
  the client shows it to the person.
- Authentication failures, limits and server faults go to the top-level `errors`, each with
  `extensions.code` (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, BAD_USER_INPUT, RATE_LIMITED,
  UNAVAILABLE, INTERNAL_SERVER_ERROR) — queries report everything this way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.scalars import JSON

from graph.infra.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger("vendr.graphql")

T = TypeVar("T")

CODES: tuple[tuple[type[DomainError], str], ...] = (
    (Unauthorized, "UNAUTHENTICATED"),
    (Forbidden, "FORBIDDEN"),
    (NotFound, "NOT_FOUND"),
    (Conflict, "CONFLICT"),
    (Invalid, "BAD_USER_INPUT"),
    (RateLimited, "RATE_LIMITED"),
    (Unavailable, "UNAVAILABLE"),
)


def code_of(exc: DomainError) -> str:
    for kind, code in CODES:
        if isinstance(exc, kind):
            return code
    return "BAD_REQUEST"


@strawberry.type(description="Something the user did wrong, to show them")
class UserError:
    field: str | None = strawberry.field(description="the input field at fault (null: the whole)")
    code: str = strawberry.field(description="BAD_USER_INPUT, CONFLICT, NOT_FOUND, FORBIDDEN")
    message: str
    extra: JSON | None = strawberry.field(
        default=None,
        description="what REST's problem document carries beside it (the units left, the "
        "offer or report already open…), keys as REST spells them",
    )


def camel(path: str) -> str:
    """A field path as GraphQL clients spell it (`shipping.price_amount` ->
    `shipping.priceAmount`): the models name fields as REST does."""
    parts = []
    for part in path.split("."):
        head, *rest = part.split("_")
        parts.append(head + "".join(w[:1].upper() + w[1:] for w in rest))
    return ".".join(parts)


def user_errors(exc: DomainError) -> list[UserError]:
    code = code_of(exc)
    extra = cast(Any, dict(exc.extra) or None)  # JSON
    if exc.errors:
        return [
            UserError(field=camel(f), code=code, message=m, extra=extra)
            for f, m in exc.errors.items()
        ]
    return [UserError(field=None, code=code, message=exc.detail, extra=extra)]


def top_level(exc: DomainError) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code_of(exc), "status": exc.status}
    if exc.errors:
        extensions["errors"] = exc.errors
    if isinstance(exc, RateLimited):
        extensions["retryAfter"] = exc.retry_after
    extensions |= exc.extra
    return GraphQLError(exc.detail, extensions=extensions)


def user_input(message: str, field: str) -> GraphQLError:
    return top_level(Invalid(message, errors={field: message}))


# the errors that stay top-level even in a mutation: who you are, how much you may do, and
# whether the server can serve you are not a form's business
TOP_LEVEL = (Unauthorized, RateLimited, Unavailable)


async def payload(work: Callable[[], Awaitable[T]], fail: Callable[[list[UserError]], T]) -> T:
    """Run a mutation's work: a user's mistake becomes the payload's `errors` (`fail`);
    authentication, limits and unavailability are raised to the top level."""
    try:
        return await work()
    except TOP_LEVEL as exc:
        raise top_level(exc) from None
    except DomainError as exc:
        return fail(user_errors(exc))


class DomainErrors(MaskErrors):
    """Every error a resolver raised, as the client should see it: a domain error (a bad
    cursor, something not found, a limit) with its `extensions.code`, as REST would map it to a
    status; anything unexpected masked as INTERNAL_SERVER_ERROR (and logged with its traceback
    here, once). Errors of the document itself (syntax, validation, limits) pass as they are."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: error.original_error is not None)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, GraphQLError):  # raised on purpose (top_level, user_input)
            return error
        if isinstance(original, DomainError):
            shown = top_level(original)
            extensions = shown.extensions
        else:
            log.error("GraphQL resolver failed at %s", error.path, exc_info=original)
            shown = GraphQLError("internal server error")
            extensions = {"code": "INTERNAL_SERVER_ERROR", "status": 500}
        return GraphQLError(
            message=shown.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions=extensions,
        )
