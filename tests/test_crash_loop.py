"""A short crash loop (issue 15): orders in a burst against a real server, the database killed
with SIGKILL at a random moment (the embedded FalkorDB, or Neo4j's JVM), everything
restarted; every acknowledged order is there, none is half-written, the stock adds up; and
HTTP workers killed mid-request are replaced while no acknowledged order is lost. `make soak`
runs twenty of each (bench/crash.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash import crash_loop, worker_loop
from graph.infra import embedded, neo4j_local
from tests.conftest import BACKENDS


@pytest.mark.parametrize("backend", BACKENDS)
async def test_acknowledged_orders_survive_the_database_being_killed(
    tmp_path: Path, backend: str
) -> None:
    # two crashes on FalkorDB (the second after a recovery); one on Neo4j, whose restart and
    # recovery take a minute a crash here (`make soak` runs twenty)
    cycles = 1 if backend == "neo4j" else 2
    report = await crash_loop(tmp_path, cycles=cycles, seed=11, backend=backend)
    assert len(report.cycles) == cycles
    assert all(c.acknowledged > 0 for c in report.cycles)  # each crash met orders in flight
    assert report.missing == []
    assert report.half_written == 0
    assert report.orders_in_graph >= len(report.acknowledged)
    assert report.stock_left == report.stock_expected
    # nothing left running
    assert embedded.status(tmp_path) is None and neo4j_local.recorded(tmp_path) is None


async def test_a_worker_killed_mid_request_is_replaced_and_loses_nothing(tmp_path: Path) -> None:
    report = await worker_loop(tmp_path, kills=2, seed=5)  # raises unless each is replaced
    assert len(report.cycles) == 2
    assert all(c.acknowledged > 0 for c in report.cycles)
    assert report.missing == []
    assert report.half_written == 0
    assert report.stock_left == report.stock_expected
    assert embedded.status(tmp_path) is None
