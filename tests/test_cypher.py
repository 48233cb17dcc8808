"""Every statement exists for both backends: FalkorDB plans it, Neo4j's own linter passes it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from falkordb.asyncio import FalkorDB
from redis.exceptions import ResponseError

import api.app  # noqa: F401  - importing the app registers every statement the app can run
import graph.eventlog  # noqa: F401  - and the event log's own (export, replay, mirror)
import seeds.loader  # noqa: F401  - and the bulk loader its own
from graph.analytics import admin
from graph.infra.errors import DomainError, StoreError
from graph.infra.store import REGISTRY, schema
from graph.infra.store.dialect import render

ROOT = Path(__file__).resolve().parent.parent
LINTER = ROOT / "tests" / "cypher_lint.mjs"


def neo4j_lint(statements: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    node = shutil.which("node")
    assert node, "node is required to lint the Neo4j dialect (make test installs the linter)"
    payload = json.dumps([{"name": n, "text": t} for n, t in statements.items()])
    done = subprocess.run(
        [node, str(LINTER)], input=payload, capture_output=True, text=True, cwd=ROOT, check=True
    )
    return {r["name"]: r for r in json.loads(done.stdout)}


def all_neo4j_texts() -> dict[str, str]:
    texts = {name: st.neo4j for name, st in REGISTRY.items()}
    texts |= {f"schema[{i}]": ddl for i, ddl in enumerate(schema.neo4j_ddl())}
    texts |= {f"admin:{q.name}": q.neo4j for q in admin.all_queries(ROOT / "cypher")}
    return texts


def test_the_registry_is_not_empty_and_names_are_namespaced() -> None:
    assert len(REGISTRY) >= 10
    assert all("." in name for name in REGISTRY)


# The linter takes ~0.4 s a statement (four minutes for them all): `make lint` runs it. `make
# test` leaves it out, as it has something stronger: a real Neo4j 5 plans every statement
# (test_every_statement_is_planned_by_its_backend) and the API tests run them.
LINT_PARTS = 2  # halves, spread over the test workers


@pytest.mark.cypherlint
@pytest.mark.parametrize("part", range(LINT_PARTS), ids=lambda i: f"part{i + 1}of{LINT_PARTS}")
def test_every_neo4j_statement_lints_clean(part: int) -> None:
    texts = all_neo4j_texts()
    names = sorted(texts)[part::LINT_PARTS]
    assert names
    report = neo4j_lint({name: texts[name] for name in names})
    assert sorted(report) == names  # every statement it was given came back linted
    failures = {name: r["errors"] for name, r in report.items() if r["errors"]}
    assert not failures, json.dumps(failures, indent=2)


@pytest.mark.cypherlint
def test_the_linter_does_catch_falkordb_only_cypher() -> None:
    report = neo4j_lint(
        {
            "falkor-distance": render(
                "RETURN {{distance}}(point({latitude: 1, longitude: 2}), "
                "point({latitude: 1, longitude: 3})) AS d",
                "falkordb",
            ),
            "falkor-fulltext": render("{{product_fulltext}} RETURN node", "falkordb"),
            "syntax": "MATCH (n RETURN n",
        }
    )
    assert all(r["errors"] for r in report.values())


def explain_params(text: str) -> dict[str, Any]:
    """Nulls everywhere but the counts LIMIT and SKIP need."""
    counts = set(re.findall(r"(?:LIMIT|SKIP)\s+\$(\w+)", text))
    return {name: 1 if name in counts else None for name in re.findall(r"\$(\w+)", text)}


async def test_every_statement_is_planned_by_its_backend(services) -> None:
    """EXPLAIN parses and plans without running: catches syntax, unknown functions and
    procedures, and (on Neo4j) what the linter cannot know of the server. The API tests then
    execute the statements for real."""
    failures = {}
    if services.store.dialect == "falkordb":
        pool = services.store._pool
        graph = FalkorDB(connection_pool=pool).select_graph(services.store.graph_name)
        for name, st in REGISTRY.items():
            try:
                await graph.explain(st.falkordb, explain_params(st.falkordb))
            except ResponseError as exc:
                failures[name] = str(exc)
    else:
        for name, st in REGISTRY.items():
            try:
                await services.store.run_text(
                    "EXPLAIN " + st.neo4j, explain_params(st.neo4j), write=st.write
                )
            except (DomainError, StoreError) as exc:
                failures[name] = str(exc)
    assert not failures, failures


@pytest.mark.parametrize("query", admin.all_queries(ROOT / "cypher"), ids=lambda q: q.name)
async def test_admin_files_run_read_only(services, query) -> None:
    await services.accounts.signup(
        __import__("graph.accounts.commands", fromlist=["Signup"]).Signup(
            email="admin-check@example.org", password="long enough", display_name="Admin check"
        )
    )
    text = query.text(services.store.dialect)
    rows = await services.store.run_text(text, query.defaults, write=False)
    assert isinstance(rows, list)
    assert query.defaults, f"{query.name} should declare its parameters"


def test_dialect_fragments_are_spliced_only_from_the_table() -> None:
    with pytest.raises(KeyError):
        render("RETURN {{drop_everything}}", "neo4j")
