"""The few places where FalkorDB's and Neo4j 5's Cypher differ, in one table.

Statements are written in the common openCypher subset; where they must differ they name a
fragment as `{{name}}`, replaced here once at import time (never with a value).
"""

from __future__ import annotations

import re
from typing import Literal

Dialect = Literal["falkordb", "neo4j"]
DIALECTS: tuple[Dialect, ...] = ("falkordb", "neo4j")

FRAGMENTS: dict[str, dict[Dialect, str]] = {
    # great-circle distance in metres between two WGS-84 points
    "distance": {"falkordb": "distance", "neo4j": "point.distance"},
    # full-text query over Product title + description, yielding `node` and `score`
    "product_fulltext": {
        "falkordb": "CALL db.idx.fulltext.queryNodes('Product', $q) YIELD node, score",
        "neo4j": "CALL db.index.fulltext.queryNodes('product_text', $q) YIELD node, score",
    },
}

_MACRO = re.compile(r"\{\{(\w+)\}\}")


def render(text: str, dialect: Dialect) -> str:
    def fragment(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in FRAGMENTS:
            raise KeyError(f"unknown dialect fragment {{{{{name}}}}}")
        return FRAGMENTS[name][dialect]

    return _MACRO.sub(fragment, text)
