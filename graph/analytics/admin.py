"""The Cypher library (`cypher/**/*.cypher`): admin files and the analysts' named queries.

A file opens with comment lines saying what it answers (the first is its one-line description),
then declares its parameters in a header line, `// params: limit=20, days=30`; values given on
the command line override the defaults. A file `NAME.neo4j.cypher` beside `NAME.cypher` replaces
it on Neo4j where the dialects differ. A file's name is its path under the library without the
suffix: `stale_listings`, `insights/listings`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.infra.settings import Settings
from graph.infra.store.dialect import Dialect

_PARAMS = re.compile(r"^\s*//\s*params:\s*(.*)$", re.MULTILINE)
_NAME = re.compile(r"[a-z0-9_]+(/[a-z0-9_]+)*")


@dataclass(frozen=True)
class AdminQuery:
    path: Path
    falkordb: str
    neo4j: str
    defaults: dict[str, Any]
    name: str = ""

    @property
    def description(self) -> str:
        """The file's opening comment, up to its parameters line."""
        lines = []
        for line in self.falkordb.splitlines():
            text = line.strip()
            if not text.startswith("//") or _PARAMS.match(text):
                break
            lines.append(text.removeprefix("//").strip())
        return " ".join(lines)

    @property
    def summary(self) -> str:
        """The opening comment's first line: what `vendr cypher list` shows."""
        first = self.falkordb.lstrip().splitlines()[0] if self.falkordb.strip() else ""
        return first.removeprefix("//").strip() if first.startswith("//") else ""

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


def load(path: Path, name: str = "") -> AdminQuery:
    text = path.read_text()
    neo4j_path = path.with_name(path.name.removesuffix(".cypher") + ".neo4j.cypher")
    neo4j = neo4j_path.read_text() if neo4j_path.exists() else text
    return AdminQuery(
        path=path,
        falkordb=text,
        neo4j=neo4j,
        defaults=declared_params(text),
        name=name or path.name.removesuffix(".cypher"),
    )


def all_queries(folder: Path) -> list[AdminQuery]:
    """Every file in the library, sub-folders included, by name."""
    return [
        load(p, p.relative_to(folder).as_posix().removesuffix(".cypher"))
        for p in sorted(folder.rglob("*.cypher"))
        if not p.name.endswith(".neo4j.cypher")
    ]


def library(settings: Settings) -> Path:
    """Where the library lives: `VENDR_CYPHER_DIR`, else the project's own `cypher/` folder."""
    if settings.cypher_dir is not None:
        return settings.cypher_dir
    beside = Path(__file__).resolve().parents[2] / "cypher"
    return beside if beside.is_dir() else Path("cypher")


def find(folder: Path, name: str) -> AdminQuery:
    """The file named `name` (`stale_listings`, `insights/listings`); KeyError names the known."""
    path = (folder / f"{name}.cypher").resolve()
    if not _NAME.fullmatch(name) or not path.is_file() or not path.is_relative_to(folder.resolve()):
        known = ", ".join(q.name for q in all_queries(folder))
        raise KeyError(f"no Cypher file {name!r} in {folder}; known: {known}")
    return load(path, name)
