"""The graph store port: run one parameterised statement, get plain dicts back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from graph.store.cypher import Statement
from graph.store.dialect import Dialect

Row = dict[str, Any]
Params = Mapping[str, Any]


class GraphStore(Protocol):
    dialect: Dialect

    async def run(self, st: Statement, params: Params | None = None) -> list[Row]:
        """Run a registered statement (read or write as registered). Each statement is atomic."""
        ...

    async def run_text(self, text: str, params: Params | None = None, *, write: bool) -> list[Row]:
        """Run an ad-hoc statement (admin files); read-only unless `write`."""
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
