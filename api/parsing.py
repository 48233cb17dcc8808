"""Edge validation: JSON bodies into request models, NUL bytes refused, sizes and shapes bounded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sanic import Request

from api.errors import BadRequest, PayloadTooLarge
from graph.infra.errors import Invalid
from graph.infra.settings import Settings

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class JsonLimits:
    """The shape a client's JSON may have: nesting, values in all, items per array, members
    per object (graph.infra.settings says why these sizes)."""

    depth: int
    items: int
    array: int
    keys: int

    @classmethod
    def of(cls, settings: Settings) -> JsonLimits:
        return cls(
            settings.max_json_depth,
            settings.max_json_items,
            settings.max_json_array,
            settings.max_json_keys,
        )


def limits(request: Request) -> JsonLimits:
    return JsonLimits.of(request.app.ctx.services.settings)


def check(data: Any, limits: JsonLimits, what: str = "the body") -> None:
    """Refuse JSON past `limits` (400) or with a NUL byte in a key or a string (422), in one
    pass with a stack of its own: nothing recurses, so no nesting can overflow Python's stack,
    and the walk stops at the first value past a limit."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > limits.items:
            raise BadRequest(f"{what} holds more than {limits.items} values")
        if isinstance(value, str):
            if "\x00" in value:
                raise Invalid("text must not contain NUL bytes", errors={"body": "NUL byte"})
        elif isinstance(value, dict | list):
            if depth >= limits.depth:
                raise BadRequest(f"{what} is nested deeper than {limits.depth} levels")
            if isinstance(value, list):
                if len(value) > limits.array:
                    raise BadRequest(f"an array in {what} has more than {limits.array} items")
                stack.extend((item, depth + 1) for item in value)
            else:
                if len(value) > limits.keys:
                    raise BadRequest(f"an object in {what} has more than {limits.keys} members")
                if any("\x00" in key for key in value):
                    raise Invalid("text must not contain NUL bytes", errors={"body": "NUL byte"})
                stack.extend((item, depth + 1) for item in value.values())


def loads(raw: bytes | str, limits: JsonLimits, what: str = "the JSON body") -> Any:
    """Client JSON, parsed and checked. orjson refuses NaN and Infinity, and nesting past 1024
    by itself (in Rust: no Python stack is spent), which is past any limit here too."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):  # orjson's own, at 1024
            raise BadRequest(f"{what} is nested deeper than {limits.depth} levels") from None
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    check(data, limits, what)
    return data


def field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        errors.setdefault(loc, err["msg"].removeprefix("Value error, "))
    return errors


def invalid(exc: ValidationError) -> Invalid:
    """One problem names its field and says what is wrong in `detail`; several are listed in
    `errors`, field by field."""
    errors = field_errors(exc)
    if len(errors) == 1:
        [(field, message)] = errors.items()
        detail = message if field == "body" else f"{field}: {message}"
        return Invalid(detail, errors=errors)
    return Invalid("the request has invalid fields", errors=errors)


def validate(model: type[M], data: Any, limits: JsonLimits, what: str = "the query") -> M:
    """A query's parameters as `model`: a query past the limits is a 422, as every other value
    a query's model refuses (a body's shape is a 400: not the JSON an operation takes)."""
    try:
        check(data, limits, what)
    except BadRequest as exc:
        raise Invalid(exc.detail) from None
    return _model(model, data)


def _model(model: type[M], data: Any) -> M:
    """`data` as `model`; only for data `check` has passed (pydantic's walk recurses)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from exc


def json_body(request: Request, model: type[M]) -> M:
    limit = request.app.ctx.services.settings.max_json_bytes
    raw = request.body or b""
    if len(raw) > limit:
        raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes")
    return _model(model, loads(raw, limits(request)) if raw else {})


def query_args(request: Request, model: type[M], *, lists: Iterable[str] = ()) -> M:
    """Query string into a model; `lists` name parameters that may repeat or be comma-separated."""
    data: dict[str, Any] = {}
    for key, values in request.args.items():
        if key in lists:
            data[key] = [v.strip() for value in values for v in value.split(",") if v.strip()]
        else:
            data[key] = values[-1]
    return validate(model, data, limits(request), "the query")
