"""The feed's impressions: deck pages queued in Redis as they are dealt, moved into the log by the
worker a batch per statement, never lost when the graph refuses the write, capped, and purged by
retention like the other volume events."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from graph.bootstrap import Services, make_store
from graph.feed import impressions
from graph.infra import embedded
from graph.infra.errors import Unavailable
from graph.infra.ids import now_ms
from graph.infra.store import GraphStore, Statement
from tests.conftest import read

DAY_MS = 86_400_000

DEALT_EVENTS = """
MATCH (e:Event {type: 'feed.dealt'})
RETURN e.id AS id, e.at AS at, e.actor_id AS actor_id, e.subject_id AS subject_id,
       e.data AS data
ORDER BY at, id
"""


class Counted:
    """The real store, counting the statements run through it (by name)."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store
        self.dialect = store.dialect
        self.runs: list[str] = []

    async def run(self, st: Statement, params: Mapping[str, Any] | None = None) -> list[Any]:
        self.runs.append(st.name)
        return await self._store.run(st, params)


async def deal(
    services: Services,
    user_id: str,
    pages: Sequence[Sequence[str]],
    *,
    at: int,
    experiment: str | None = None,
    arm: str | None = None,
    blend: str = "handset",
) -> None:
    """Note pages as a deck does: on the pipeline that keeps the session, one page a round."""
    for i, ids in enumerate(pages):
        pipe = services.redis.pipeline(transaction=True)
        impressions.note(
            pipe,
            services.settings.redis_prefix,
            user_id,
            ids,
            blend=blend,
            experiment=experiment,
            arm=arm,
            now=at + i,
        )
        await pipe.execute()


async def dealt(services: Services) -> list[dict[str, Any]]:
    rows = await read(services, DEALT_EVENTS)
    return [row | {"data": json.loads(row["data"])} for row in rows]


@asynccontextmanager
async def gone(services: Services, home: Path) -> AsyncIterator[GraphStore]:
    """A store of the same kind as `services`' whose server is not there (any more): its writes
    really fail. FalkorDB: a server of its own, stopped once the store has connected to it;
    Neo4j: a driver for a port nothing listens on."""
    if services.store.dialect == "neo4j":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"bolt://127.0.0.1:{port}"
        store = make_store(services.settings.model_copy(update={"graph_url": url}))
    else:
        embedded.start(home)
        try:
            store = make_store(services.settings.model_copy(update={"data_dir": home}))
        finally:
            embedded.stop(home)
    try:
        yield store
    finally:
        with contextlib.suppress(Exception):
            await store.close()


async def test_pages_dealt_are_queued_and_written_by_one_statement_at_the_flush(
    services: Services,
) -> None:
    prefix = services.settings.redis_prefix
    at = now_ms()
    await deal(
        services, "u1", [["p1", "p2", "p3"], ["p4", "p5"]], at=at, experiment="t", arm="current"
    )
    await deal(services, "u2", [["p9"]], at=at + 10, blend="fit-7")
    await deal(services, "u3", [[]], at=at + 20)  # an empty page showed nothing
    assert await impressions.queued(services.redis, prefix) == 3
    assert await dealt(services) == []  # dealing wrote nothing to the graph

    store = Counted(services.store)
    assert await impressions.flush(store, services.redis, prefix) == 3  # type: ignore[arg-type]
    assert store.runs == ["feed.dealt"]  # three pages, eight cards: one statement
    assert await impressions.queued(services.redis, prefix) == 0
    events = await dealt(services)
    assert [(e["actor_id"], e["subject_id"], e["at"]) for e in events] == [
        ("u1", "u1", at),
        ("u1", "u1", at + 1),
        ("u2", "u2", at + 10),
    ]
    assert [e["data"] for e in events] == [
        {"ids": ["p1", "p2", "p3"], "blend": "handset", "experiment": "t", "arm": "current"},
        {"ids": ["p4", "p5"], "blend": "handset", "experiment": "t", "arm": "current"},
        {"ids": ["p9"], "blend": "fit-7", "experiment": None, "arm": None},
    ]
    assert await impressions.flush(store, services.redis, prefix) == 0  # type: ignore[arg-type]
    assert store.runs == ["feed.dealt"]  # an empty queue asks the graph nothing


async def test_a_failed_write_puts_every_record_back_in_order(
    services: Services, tmp_path: Path
) -> None:
    prefix = services.settings.redis_prefix
    at = now_ms()
    await deal(services, "u1", [["a"], ["b"], ["c"], ["d"]], at=at)
    async with gone(services, tmp_path / "gone") as store:
        with pytest.raises(Unavailable):
            await impressions.flush(store, services.redis, prefix, batch=3)
    raw = await services.redis.lrange(impressions.key(prefix), 0, -1)
    assert [json.loads(r)["ids"] for r in raw] == [["a"], ["b"], ["c"], ["d"]]
    assert await dealt(services) == []
    # the next round writes them all, nothing lost, nothing twice
    assert await impressions.flush_all(services.store, services.redis, prefix, batch=3) == 4
    assert [e["data"]["ids"] for e in await dealt(services)] == [["a"], ["b"], ["c"], ["d"]]


async def test_a_batch_written_again_is_not_logged_twice(services: Services) -> None:
    prefix = services.settings.redis_prefix
    await deal(services, "u1", [["a", "b"]], at=now_ms())
    raw = await services.redis.lrange(impressions.key(prefix), 0, -1)
    assert await impressions.flush(services.store, services.redis, prefix) == 1
    # as if the write had landed but its answer was lost: the records come back
    await services.redis.rpush(impressions.key(prefix), *raw)
    assert await impressions.flush(services.store, services.redis, prefix) == 1
    assert len(await dealt(services)) == 1


async def test_flush_all_drains_the_queue_a_batch_per_statement(services: Services) -> None:
    prefix = services.settings.redis_prefix
    await deal(services, "u1", [[f"p{i}"] for i in range(7)], at=now_ms())
    store = Counted(services.store)
    written = await impressions.flush_all(store, services.redis, prefix, batch=3)  # type: ignore[arg-type]
    assert written == 7 and store.runs == ["feed.dealt"] * 3
    assert len(await dealt(services)) == 7


async def test_a_malformed_record_is_dropped_and_the_rest_written(services: Services) -> None:
    prefix = services.settings.redis_prefix
    await services.redis.rpush(impressions.key(prefix), b"not json", b'{"id": "x"}')
    await deal(services, "u1", [["a"]], at=now_ms())
    assert await impressions.flush(services.store, services.redis, prefix) == 1
    assert [e["data"]["ids"] for e in await dealt(services)] == [["a"]]
    assert await impressions.queued(services.redis, prefix) == 0


async def test_the_queue_keeps_the_newest_records_up_to_its_cap(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(impressions, "CAP", 5)
    prefix = services.settings.redis_prefix
    await deal(services, "u1", [[f"p{i}"] for i in range(8)], at=now_ms())
    raw = await services.redis.lrange(impressions.key(prefix), 0, -1)
    assert [json.loads(r)["ids"] for r in raw] == [[f"p{i}"] for i in range(3, 8)]


async def test_the_workers_round_writes_them_and_retention_purges_them(
    services: Services,
) -> None:
    now = now_ms()
    kept_days = services.settings.event_retention_days
    old = now - int((kept_days + 1) * DAY_MS)
    await deal(services, "u1", [["old"]], at=old)
    await deal(services, "u1", [["new1", "new2"], ["new3"]], at=now)
    report = await services.jobs.run_once()
    assert report.impressions == 3
    assert report.purged_events == 1  # the page dealt before the retention window
    assert await impressions.queued(services.redis, services.settings.redis_prefix) == 0
    assert [e["data"]["ids"] for e in await dealt(services)] == [["new1", "new2"], ["new3"]]
