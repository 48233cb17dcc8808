"""The graph store port: run one parameterised statement, get plain dicts back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from graph.infra.store.cypher import Statement
from graph.infra.store.dialect import Dialect

Row = dict[str, Any]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Table:
    """Rows with the statement's own column names, which an empty result still has."""

    columns: list[str]
    rows: list[Row]


class GraphStore(Protocol):
    dialect: Dialect

    async def run(self, st: Statement, params: Params | None = None) -> list[Row]:
        """Run a registered statement (read or write as registered). Each statement is atomic."""
        ...

    async def run_many(self, runs: Sequence[tuple[Statement, Params]]) -> None:
        """Run write statements in the order given, each as `run` would, without waiting for
        one before sending the next (a replay's pages); their rows are not returned."""
        ...

    async def run_text(self, text: str, params: Params | None = None, *, write: bool) -> list[Row]:
        """Run an ad-hoc statement (admin files); read-only unless `write`."""
        ...

    async def run_table(self, text: str, params: Params | None = None, *, write: bool) -> Table:
        """`run_text`, keeping the column names (tables and data frames of admin files)."""
        ...

    def text_query(self, words: list[str]) -> str:
        """A full-text query matching all `words` (the last as a prefix), in this backend's syntax.
        Words are plain lowercase word characters, so nothing in them is query syntax."""
        ...

    async def ensure_schema(self) -> None:
        """Create indexes and constraints; idempotent."""
        ...

    async def ping(self) -> bool: ...

    async def drop_all(self) -> None:
        """Delete every node and relationship (tests and `vendr db reset`)."""
        ...

    async def close(self) -> None: ...
