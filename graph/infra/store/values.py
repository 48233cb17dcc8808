"""Driver values to plain Python: maps, lists, and points as {latitude, longitude}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    # points expose .latitude / .longitude; a neo4j point is a tuple too, so this comes first
    if hasattr(value, "latitude") and hasattr(value, "longitude"):
        return {"latitude": float(value.latitude), "longitude": float(value.longitude)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    # falkordb nodes expose .properties
    if hasattr(value, "properties") and isinstance(value.properties, Mapping):
        return plain(value.properties)
    return value
