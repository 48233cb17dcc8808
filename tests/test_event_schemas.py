"""The event log's schemas against the statements they describe: every write statement is a
source of facts or says why not, and a source's declared facts are exactly its parameters."""

from __future__ import annotations

import re

import pytest

import api.app  # noqa: F401  (registers every statement)
import graph.worker  # noqa: F401
import seeds.loader  # noqa: F401
from graph.infra.events import NOT_SOURCED, PLUMBING, SOURCES, upcast
from graph.infra.store.cypher import REGISTRY

PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _params(text: str) -> set[str]:
    return set(PARAM.findall(text))


def _row_fields(text: str, rows: str) -> set[str]:
    fields: set[str] = set()
    for alias in re.findall(rf"UNWIND \${rows} AS (\w+)", text):
        fields |= set(re.findall(rf"\b{alias}\.(\w+)", text))
    return fields


WRITES = sorted(name for name, st in REGISTRY.items() if st.write)


@pytest.mark.parametrize("name", WRITES)
def test_every_write_statement_is_a_source_or_says_why_not(name: str) -> None:
    assert name in SOURCES or name in NOT_SOURCED, (
        f"{name} writes: declare it in graph/infra/events/ (source(...) or not_sourced(...))"
    )


def test_declarations_name_registered_write_statements() -> None:
    for name in [*SOURCES, *NOT_SOURCED]:
        assert name in REGISTRY, f"{name} is declared but no statement has that name"
        assert REGISTRY[name].write, f"{name} is declared but does not write"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_sources_facts_are_its_parameters(name: str) -> None:
    src = SOURCES[name]
    st = REGISTRY[name]
    for text in (st.falkordb, st.neo4j):
        assert "$event_data" in text or (src.rows and ".event_data" in text), (
            f"{name} must append its Event with data: $event_data"
        )
        used = _params(text) - PLUMBING - src.secret
        declared = set(src.model.model_fields)
        assert used == declared, (
            f"{name}: parameters {sorted(used - declared)} are not declared, "
            f"declared {sorted(declared - used)} are not used"
        )
        rows = src.rows or ("rows" if "rows" in src.model.model_fields else None)
        if rows:
            row_model = src.model.model_fields[rows].annotation.__args__[0]  # list[Row]
            used_rows = _row_fields(text, rows) - PLUMBING
            assert used_rows == set(row_model.model_fields), (
                f"{name}: row fields {sorted(used_rows)} vs {sorted(row_model.model_fields)}"
            )
    assert src.secret.isdisjoint(src.model.model_fields)
    assert src.personal <= set(src.model.model_fields) | (
        set(src.model.model_fields[src.rows].annotation.__args__[0].model_fields)
        if src.rows
        else set()
    )


def test_upcast_refuses_unknown_and_newer_versions() -> None:
    with pytest.raises(KeyError):
        upcast("no.such.statement", 1, {})
    name, src = next(iter(SOURCES.items()))
    with pytest.raises(ValueError, match="newer"):
        upcast(name, src.version + 1, {})
