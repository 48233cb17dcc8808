"""The few places where FalkorDB's and Neo4j 5's Cypher differ, in one table.

Statements are written in the common openCypher subset; where they must differ they name a
fragment as `{{name}}`, replaced here once at import time (never with a value). A subquery
that reads variables of the outer query opens with `{{scope a, b}}`: FalkorDB imports them
with a leading `WITH`, Neo4j 5 with a scope clause (its `WITH` form is deprecated since 5.23).
"""

from __future__ import annotations

import re
from typing import Literal

Dialect = Literal["falkordb", "neo4j"]
DIALECTS: tuple[Dialect, ...] = ("falkordb", "neo4j")

FRAGMENTS: dict[str, dict[Dialect, str]] = {
    # a node's or relationship's id in the store (for paging through everything, in order)
    "element_id": {"falkordb": "id", "neo4j": "elementId"},
    # great-circle distance in metres between two WGS-84 points
    "distance": {"falkordb": "distance", "neo4j": "point.distance"},
    # full-text query over Product title + description, yielding `node` and `score`
    "product_fulltext": {
        "falkordb": "CALL db.idx.fulltext.queryNodes('Product', $q) YIELD node, score",
        "neo4j": "CALL db.index.fulltext.queryNodes('product_text', $q) YIELD node, score",
    },
}

_MACRO = re.compile(r"\{\{(\w+)(?: (\w+(?:, \w+)*))?\}\}")


def scope(names: str, dialect: Dialect) -> str:
    """The opening of a subquery that imports the variables `names` ("a, b")."""
    return f"CALL ({names}) {{" if dialect == "neo4j" else f"CALL {{ WITH {names}"


def render(text: str, dialect: Dialect) -> str:
    def fragment(match: re.Match[str]) -> str:
        name, names = match.group(1), match.group(2)
        if name == "scope" and names:
            return scope(names, dialect)
        if name not in FRAGMENTS or names:
            raise KeyError(f"unknown dialect fragment {match.group(0)}")
        return FRAGMENTS[name][dialect]

    return _MACRO.sub(fragment, text)
