"""A canonical dump of a graph's facts (`vendr events dump`): every node with its labels and
properties and every relationship with its type, ends and properties, as sorted JSON lines, less
what is not a fact of the marketplace (graph/infra/events/: the properties the sweeper derives,
the machinery's labels, the log itself). Two graphs hold the same marketplace when their dumps
are equal: how a replay is proven faithful, and a backend move checked.

Nodes are named by their own keys (an `id`, a tag's `name`, an account's `key`...), never by the
store's internal ids, which differ between two graphs holding the same facts.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from typing import Any

from graph.infra.events import (
    ACTIVITY_PROPERTIES,
    ACTIVITY_RELATIONSHIPS,
    DERIVED_PROPERTIES,
    OPERATIONAL_LABELS,
)
from graph.infra.store import GraphStore
from graph.infra.store.dialect import render

# every node, in pages by internal id (FalkorDB's `id`, Neo4j's `elementId`)
NODES = """
MATCH (n) WHERE $after IS NULL OR {{element_id}}(n) > $after
RETURN {{element_id}}(n) AS id, labels(n) AS labels, properties(n) AS props
ORDER BY id LIMIT $batch
"""


def canonical(value: Any) -> Any:
    """Properties as the check compares them: points to 7 decimals (a centimetre), whole
    floats as integers (FalkorDB and Neo4j differ in what `sum` or `round` return)."""
    if isinstance(value, dict):
        if set(value) == {"latitude", "longitude"}:
            return [round(float(value["latitude"]), 7), round(float(value["longitude"]), 7)]
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def line(*parts: Any) -> str:
    return json.dumps([canonical(p) for p in parts], sort_keys=True, separators=(",", ":"))


async def pages(store: GraphStore, text: str, batch: int) -> AsyncIterator[list[dict[str, Any]]]:
    text, after = render(text, store.dialect), None
    while True:
        rows = await store.run_text(text, {"after": after, "batch": batch}, write=False)
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


BATCH = 5_000
# the property that names a node, by preference; a node with none is named by all its facts
KEYS = ("id", "key", "name", "text")


def _single(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", float(value)))[0])


def _point(value: Any) -> Any:
    """A point at the precision FalkorDB keeps (32-bit coordinates, under a metre): the same
    place written to either backend dumps the same."""
    if isinstance(value, dict) and set(value) == {"latitude", "longitude"}:
        return {k: _single(v) for k, v in value.items()}
    return value


def _facts(names: list[str], props: dict[str, Any], left_out: set[str]) -> dict[str, Any]:
    return {
        k: _point(v)
        for k, v in props.items()
        if not any(f"{name}.{k}" in left_out for name in names)
    }


def _identity(labels: list[str], props: dict[str, Any]) -> str:
    for key in KEYS:
        if props.get(key) is not None:
            return f"{':'.join(labels)}:{key}={props[key]}"
    return f"{':'.join(labels)}:{line(props)}"


# every relationship, by pages of the nodes it starts from: a node's id is a seek in both
# stores, a relationship's only a scan, once a page (quadratic at a million edges)
RELS_FROM = """
MATCH (a) WHERE $after IS NULL OR {{element_id}}(a) > $after
WITH a ORDER BY {{element_id}}(a) LIMIT $batch
OPTIONAL MATCH (a)-[r]->(b)
RETURN {{element_id}}(a) AS id, type(r) AS type, properties(r) AS props,
       {{element_id}}(b) AS end
ORDER BY id
"""


async def dump(store: GraphStore, batch: int = BATCH, *, activity: bool = True) -> list[str]:
    """The graph's facts as sorted lines; without `activity`, less what the volume events leave
    (views, passes, logins, read markers: the part a replay after the retention purge lacks)."""
    left_out = DERIVED_PROPERTIES if activity else DERIVED_PROPERTIES | ACTIVITY_PROPERTIES
    names: dict[Any, str] = {}
    lines: list[str] = []
    async for rows in pages(store, NODES, batch):
        for row in rows:
            labels = sorted(row["labels"])
            if OPERATIONAL_LABELS.intersection(labels):
                continue
            props = _facts(labels, row["props"], left_out)
            names[row["id"]] = _identity(labels, canonical(props))
            lines.append(line("node", labels, props))
    async for rows in pages(store, RELS_FROM, batch):
        for row in rows:
            if row["type"] is None:
                continue  # a node nothing starts from
            start, end = names.get(row["id"]), names.get(row["end"])
            if start is None or end is None:
                continue  # an end is machinery
            if not activity and row["type"] in ACTIVITY_RELATIONSHIPS:
                continue
            props = _facts([row["type"]], row["props"], left_out)
            lines.append(line("rel", row["type"], start, end, props))
    return sorted(lines)


def differences(before: list[str], after: list[str], limit: int = 40) -> list[str]:
    """What one dump has that the other has not (`-` only before, `+` only after), at most
    `limit` lines."""
    old, new = set(before), set(after)
    out = [f"- {line}" for line in before if line not in new]
    out += [f"+ {line}" for line in after if line not in old]
    return out[:limit]
