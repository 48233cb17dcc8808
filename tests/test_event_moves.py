"""A backend move by the log: a marketplace built on the embedded FalkorDB, its log replayed
into an empty Neo4j, dumps to the same facts (the migration path the README gives)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graph.bootstrap import Services, bootstrap, shutdown
from graph.eventlog import differences, dump, replay
from tests.conftest import Api, Neo4jServer, make_settings
from tests.test_event_replay import MARKET, build, each, log_of

pytestmark = pytest.mark.usefixtures("ledger_checked")


@pytest.fixture
def backend() -> str:
    return "falkordb"  # the source: what a laptop runs


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return MARKET


@pytest.fixture
async def target(neo4j_server: Neo4jServer, data_dir: Path) -> AsyncIterator[Services]:
    services = await bootstrap(make_settings(data_dir, "neo4j", neo4j_server))
    await services.store.drop_all()
    try:
        yield services
    finally:
        await services.store.drop_all()
        await shutdown(services)


async def test_a_falkordb_marketplace_replayed_into_neo4j_is_the_same(
    api: Api, services: Services, target: Services
) -> None:
    await build(api, services)
    log = await log_of(services)
    done = await replay(target.store, each(log))
    assert done.diverged == [], done.summary()
    assert done.applied == sum(1 for e in log if e.get("via"))
    diff = differences(await dump(services.store), await dump(target.store))
    assert diff == [], "\n".join(diff)
