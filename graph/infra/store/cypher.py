"""Every Cypher statement the app can run, registered by name in one place.

A test executes each FalkorDB text and lints each Neo4j text with Neo4j's own linter, so a
statement that exists here exists, checked, for both backends.
"""

from __future__ import annotations

from dataclasses import dataclass

from graph.infra.store.dialect import Dialect, render


@dataclass(frozen=True)
class Statement:
    name: str
    falkordb: str
    neo4j: str
    write: bool

    def text(self, dialect: Dialect) -> str:
        return self.falkordb if dialect == "falkordb" else self.neo4j


REGISTRY: dict[str, Statement] = {}


def statement(name: str, text: str, *, write: bool = False, neo4j: str | None = None) -> Statement:
    """Register a statement. `neo4j` overrides the text for Neo4j when the common form won't do."""
    if name in REGISTRY:
        raise ValueError(f"statement {name!r} registered twice")
    st = Statement(
        name=name,
        falkordb=render(text, "falkordb").strip(),
        neo4j=render(neo4j if neo4j is not None else text, "neo4j").strip(),
        write=write,
    )
    REGISTRY[name] = st
    return st
