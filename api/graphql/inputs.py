"""Inputs arrive as GraphQL types and are checked by the same pydantic models REST uses
(`api/routes/*_models.py`): every rule on a value holds in both adapters, written once."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel
from strawberry.types import Info

from api.graphql.context import Context
from api.parsing import validate

M = TypeVar("M", bound=BaseModel)


def plain(value: Any) -> Any:
    """A strawberry input (and what it nests) as plain JSON-like data, unset fields left out
    (so the model's defaults and its "absent" rules apply as they do to a REST body)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if item is not None:  # absent and null alike: REST's PATCH treats them alike too
                out[field.name] = plain(item)
        return out
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def checked(info: Info[Context, None], model: type[M], value: Any) -> M:
    """`value` (a strawberry input or a dict) validated as `model`: Invalid (422 in REST, a
    BAD_USER_INPUT error here) naming the fields at fault."""
    data = value if isinstance(value, dict) else plain(value)
    return validate(model, data, info.context.limits, "the input")
