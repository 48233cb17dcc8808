"""Edge validation: JSON bodies into request models, NUL bytes refused, sizes bounded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sanic import Request

from api.errors import BadRequest, PayloadTooLarge
from graph.infra.errors import Invalid

M = TypeVar("M", bound=BaseModel)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


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


def validate(model: type[M], data: Any) -> M:
    if _has_nul(data):
        raise Invalid("text must not contain NUL bytes", errors={"body": "NUL byte"})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from exc


def json_body(request: Request, model: type[M]) -> M:
    limit = request.app.ctx.services.settings.max_json_bytes
    raw = request.body or b""
    if len(raw) > limit:
        raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes")
    try:
        # orjson refuses nesting deeper than 1024 (json.loads would overflow the stack) and
        # the non-JSON literals NaN and Infinity
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    return validate(model, data)


def query_args(request: Request, model: type[M], *, lists: Iterable[str] = ()) -> M:
    """Query string into a model; `lists` name parameters that may repeat or be comma-separated."""
    data: dict[str, Any] = {}
    for key, values in request.args.items():
        if key in lists:
            data[key] = [v.strip() for value in values for v in value.split(",") if v.strip()]
        else:
            data[key] = values[-1]
    return validate(model, data)
