"""Moving a marketplace from one graph to another (`vendr db copy --to bolt://…`): from the
embedded FalkorDB to Neo4j, every node with its labels and properties and every relationship
with its type and properties, in batches; then a check that both hold the same graph.

The target must be empty. Nodes are matched to their relationships by their source ids, kept
on them under a temporary label while the copy runs. Labels and relationship types reach the
target as parameters (Neo4j's dynamic labels), never spliced into the text, and only those the
app's own statements use are copied. Redis (sessions, caches) is not part of the graph: point
the servers at the same Redis, or let people sign in again.

The check compares, per label and per relationship type, the count and an order-free digest
of every node's labels and properties and every relationship's type, properties and ends: the
same on both, or the copy is reported as different.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neo4j.spatial import WGS84Point

from graph.eventlog import NODES, RELS_FROM, line, pages
from graph.infra.errors import Invalid
from graph.infra.store import REGISTRY, GraphStore

BATCH = 5_000
MARK = "_Copy"  # the temporary label of copied nodes, indexed on their source id
DIGEST_MOD = 2**256

# each relationship with its ends as the check reads them (labels and properties, not ids), by
# pages of start nodes as RELS_FROM
DIGEST_RELS = """
MATCH (a) WHERE $after IS NULL OR {{element_id}}(a) > $after
WITH a ORDER BY {{element_id}}(a) LIMIT $batch
OPTIONAL MATCH (a)-[r]->(b)
RETURN {{element_id}}(a) AS id, type(r) AS type, properties(r) AS props,
       labels(a) AS a_labels, properties(a) AS a_props,
       labels(b) AS b_labels, properties(b) AS b_props
ORDER BY id
"""
# writing on a Neo4j target
TARGET_EMPTY = "MATCH (n) RETURN count(n) > 0 AS found"
TARGET_INDEX = f"CREATE INDEX copy_source_id IF NOT EXISTS FOR (n:{MARK}) ON (n.source_id)"
TARGET_NODES = f"""
UNWIND $rows AS row
CREATE (n:$(row.labels + ['{MARK}']))
SET n = row.props, n.source_id = row.id
"""
TARGET_RELS = f"""
UNWIND $rows AS row
MATCH (a:{MARK} {{source_id: row.start}})
MATCH (b:{MARK} {{source_id: row.end}})
CREATE (a)-[r:$(row.type)]->(b)
SET r = row.props
"""
TARGET_UNMARK = f"""
MATCH (n:{MARK}) WITH n LIMIT $batch
REMOVE n:{MARK}, n.source_id
RETURN count(n) AS done
"""
TARGET_DROP_INDEX = "DROP INDEX copy_source_id IF EXISTS"


def _names() -> tuple[frozenset[str], frozenset[str]]:
    """The labels and relationship types the app's statements name: what a copy may carry."""
    texts = " ".join(st.neo4j for st in REGISTRY.values())
    labels = re.findall(r"\(\s*\w*\s*:\s*([A-Z]\w*)", texts)
    types = re.findall(r"\[\s*\w*\s*:\s*([A-Z_|]+)", texts)
    return frozenset(labels), frozenset(t for group in types for t in group.split("|") if t)


@dataclass
class Copied:
    nodes: int = 0
    relationships: int = 0


@dataclass
class Side:
    """What the check reads of one graph: per label (or relationship type) a count and a digest."""

    counts: dict[str, int] = field(default_factory=dict)
    digests: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, line: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        value = int.from_bytes(hashlib.sha256(line.encode()).digest(), "big")
        self.digests[key] = (self.digests.get(key, 0) + value) % DIGEST_MOD


@dataclass
class Check:
    source: Side
    target: Side

    @property
    def differences(self) -> list[str]:
        keys = sorted(set(self.source.counts) | set(self.target.counts))
        out = []
        for key in keys:
            a, b = self.source.counts.get(key, 0), self.target.counts.get(key, 0)
            if a != b:
                out.append(f"{key}: {a} in the source, {b} in the target")
            elif self.source.digests.get(key) != self.target.digests.get(key):
                out.append(f"{key}: {a} each, but not the same properties")
        return out


def _for_target(props: dict[str, Any]) -> dict[str, Any]:
    """Points as the driver sends them; the rest as read."""
    return {
        k: WGS84Point((v["longitude"], v["latitude"]))
        if isinstance(v, dict) and set(v) == {"latitude", "longitude"}
        else v
        for k, v in props.items()
    }


async def copy(
    source: GraphStore,
    target: GraphStore,
    *,
    batch: int = BATCH,
    progress: Callable[[str, int], None] | None = None,
) -> Copied:
    """Copy `source` into the empty Neo4j `target`, its schema made first."""
    if target.dialect != "neo4j":
        raise Invalid("the target of a copy is a Neo4j database (bolt:// or neo4j://)")
    if (await target.run_text(TARGET_EMPTY, write=False))[0]["found"]:
        raise Invalid("the target database is not empty: a copy goes into an empty one")
    labels, types = _names()
    await target.ensure_schema()
    await target.run_text(TARGET_INDEX, write=True)
    done = Copied()
    async for rows in pages(source, NODES, batch):
        unknown = {name for row in rows for name in row["labels"]} - labels
        if unknown:
            raise Invalid(f"labels no statement of the app names: {', '.join(sorted(unknown))}")
        nodes = [{**row, "props": _for_target(row["props"])} for row in rows]
        await target.run_text(TARGET_NODES, {"rows": nodes}, write=True)
        done.nodes += len(rows)
        if progress:
            progress("nodes", len(rows))
    async for page in pages(source, RELS_FROM, batch):
        rows = [row for row in page if row["type"] is not None]  # a node nothing starts from
        unknown = {row["type"] for row in rows} - types
        if unknown:
            raise Invalid(f"relationship types no statement names: {', '.join(sorted(unknown))}")
        rels = [{**row, "start": row["id"], "props": _for_target(row["props"])} for row in rows]
        # a page is `batch` start nodes, and a person's hundreds of likes and views come with
        # them: written `batch` relationships a statement, or one statement is too long to run
        for start in range(0, len(rels), batch):
            await target.run_text(TARGET_RELS, {"rows": rels[start : start + batch]}, write=True)
        done.relationships += len(rows)
        if progress:
            progress("relationships", len(rows))
    while (await target.run_text(TARGET_UNMARK, {"batch": batch}, write=True))[0]["done"]:
        pass
    await target.run_text(TARGET_DROP_INDEX, write=True)
    return done


async def read_side(store: GraphStore, batch: int = BATCH) -> Side:
    side = Side()
    async for rows in pages(store, NODES, batch):
        for row in rows:
            labels = sorted(row["labels"])
            side.add(":".join(labels), line(labels, row["props"]))
    async for rows in pages(store, DIGEST_RELS, batch):
        for row in rows:
            if row["type"] is None:
                continue
            ends = (
                sorted(row["a_labels"]),
                row["a_props"],
                sorted(row["b_labels"]),
                row["b_props"],
            )
            side.add(f"-[:{row['type']}]->", line(row["type"], row["props"], *ends))
    return side


async def check(source: GraphStore, target: GraphStore, batch: int = BATCH) -> Check:
    return Check(await read_side(source, batch), await read_side(target, batch))
