"""Moving a marketplace from the embedded FalkorDB to Neo4j (`vendr db copy --to bolt://…`):
everything is copied, the check finds both graphs the same, and the same questions get the
same answers on both; a target that is not empty is refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graph.analytics import admin, copy
from graph.bootstrap import Services, bootstrap, shutdown
from graph.infra.errors import Invalid
from graph.infra.settings import Settings
from seeds.loader import seed
from tests.conftest import Api, Neo4jServer, make_settings, png_bytes, settings_env
from tests.test_deals_api import offer, order, parties

VENDR = Path(sys.executable).with_name("vendr")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def backend() -> str:
    return "falkordb"  # the source: what a laptop runs


@pytest.fixture
async def target(neo4j_server: Neo4jServer, data_dir: Path) -> AsyncIterator[Services]:
    """The Neo4j to copy into, empty before and after."""
    services = await bootstrap(make_settings(data_dir, "neo4j", neo4j_server))
    await services.store.drop_all()
    try:
        yield services
    finally:
        await services.store.drop_all()
        await shutdown(services)


async def marketplace(api: Api, services: Services) -> None:
    """A seeded market, and deals, chat and a photo made through the API on top."""
    await seed(services, users=30, products=80, interactions=600, seed=5)
    seller, buyer, _, product = await parties(api, quantity=3)
    await offer(api, buyer, product["id"], 5_000)
    placed = (await order(api, buyer, product["id"], 1)).json
    await api.call("post", f"/v1/orders/{placed['id']}/confirm", seller)
    room = placed["room_id"]
    await api.call("post", f"/v1/rooms/{room}/messages", buyer, json={"text": "see you at 6"})
    files = {"image": ("p.png", png_bytes(), "image/png")}
    assert (await api.call("put", "/v1/users/me/avatar", buyer, files=files)).status == 200


def comparable(rows: list[dict[str, Any]]) -> list[str]:
    """Rows as text, in order; whole floats as integers (the backends' `sum` differ) and lists
    as the sets they are (`collect` keeps no order either backend promises)."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, list):
            return sorted((plain(v) for v in value), key=json.dumps)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return [json.dumps(plain(row), sort_keys=True) for row in rows]


async def test_a_marketplace_moves_to_neo4j_whole_and_answers_alike(
    api: Api, services: Services, settings: Settings, target: Services
) -> None:
    await marketplace(api, services)
    password = {"VENDR_COPY_PASSWORD": target.settings.neo4j_password}
    done = await asyncio.to_thread(
        subprocess.run,
        [str(VENDR), "db", "copy", "--to", target.settings.graph_url],
        env=os.environ | settings_env(settings) | password,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "checked: the same nodes and relationships" in done.stdout
    found = await copy.check(services.store, target.store)
    assert found.differences == []
    assert found.source.counts["Product"] == 81
    assert sum(found.source.counts.values()) > 1000
    # the admins' and analysts' questions get the same answers from both, in the same order
    unlike = []
    for query in admin.all_queries(ROOT / "cypher"):
        source = await services.store.run_text(query.text("falkordb"), query.defaults, write=False)
        moved = await target.store.run_text(query.text("neo4j"), query.defaults, write=False)
        if comparable(moved) != comparable(source):
            unlike.append(query.name)
    assert unlike == []


async def test_a_copy_goes_into_an_empty_database_only(
    services: Services, target: Services
) -> None:
    await target.store.run_text("CREATE (:User {id: 'already-here'})", write=True)
    with pytest.raises(Invalid, match="not empty"):
        await copy.copy(services.store, target.store)


class Recording:
    """The real Neo4j store, with the rows each relationship statement carried written down."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.dialect = store.dialect
        self.rel_rows: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def run_text(self, text: str, params: Any = None, *, write: bool) -> Any:
        if text == copy.TARGET_RELS:
            self.rel_rows.append(len(params["rows"]))
        return await self._store.run_text(text, params, write=write)


async def test_a_copy_writes_at_most_a_batch_of_relationships_a_statement(
    services: Services, target: Services
) -> None:
    """Pages are read by start node, and one person starts hundreds of likes and views: a
    page of them written as one statement ran past the statement timeout at the benchmark
    scale (bench/restore.md). Written a batch at a time, whatever a page holds."""
    await seed(services, users=12, products=40, interactions=400, seed=3)
    recording = Recording(target.store)
    done = await copy.copy(services.store, recording, batch=25)  # type: ignore[arg-type]
    assert recording.rel_rows and max(recording.rel_rows) <= 25
    assert sum(recording.rel_rows) == done.relationships > 400
    assert (await copy.check(services.store, target.store)).differences == []
