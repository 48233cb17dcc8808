"""Admin Cypher files (`cypher/*.cypher`): loading, declared parameters and their defaults.

A file declares its parameters in a header line, `// params: limit=20, days=30`; values given on
the command line override the defaults. A file `NAME.neo4j.cypher` beside `NAME.cypher` replaces
it on Neo4j where the dialects differ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.store.dialect import Dialect

_PARAMS = re.compile(r"^\s*//\s*params:\s*(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class AdminQuery:
    path: Path
    falkordb: str
    neo4j: str
    defaults: dict[str, Any]

    def text(self, dialect: Dialect) -> str:
        return self.falkordb if dialect == "falkordb" else self.neo4j


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def declared_params(text: str) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for line in _PARAMS.findall(text):
        for item in filter(None, (part.strip() for part in line.split(","))):
            name, _, default = item.partition("=")
            defaults[name.strip()] = _value(default.strip()) if default else None
    return defaults


def load(path: Path) -> AdminQuery:
    text = path.read_text()
    neo4j_path = path.with_name(path.name.removesuffix(".cypher") + ".neo4j.cypher")
    neo4j = neo4j_path.read_text() if neo4j_path.exists() else text
    return AdminQuery(path=path, falkordb=text, neo4j=neo4j, defaults=declared_params(text))


def all_queries(folder: Path) -> list[AdminQuery]:
    return [
        load(p) for p in sorted(folder.glob("*.cypher")) if not p.name.endswith(".neo4j.cypher")
    ]
