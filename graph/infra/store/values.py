"""Driver values to plain Python: maps, lists, and points as {latitude, longitude}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    # neo4j spatial points expose .latitude / .longitude; falkordb nodes expose .properties
    if hasattr(value, "latitude") and hasattr(value, "longitude"):
        return {"latitude": float(value.latitude), "longitude": float(value.longitude)}
    if hasattr(value, "properties") and isinstance(value.properties, Mapping):
        return plain(value.properties)
    return value
