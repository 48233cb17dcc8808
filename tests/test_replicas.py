"""FalkorDB read replicas: a real second FalkorDB server, `replicaof` the test process's embedded
one, serves the read-only statements; writes go to the primary and wait for it (read-your-own-
writes); a replica that lags, dies or was never there costs no request an error.

FalkorDB only: on Neo4j the driver routes reads itself (`routing_=READ`, graph.infra.store.neo4j).
Which server ran what is read from the servers' own counters (`INFO commandstats`).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from graph.bootstrap import Services, bootstrap, make_store, shutdown
from graph.infra import embedded, replica_local
from graph.infra.errors import Unavailable
from graph.infra.replica_local import ReplicaInfo
from graph.infra.settings import Settings
from graph.infra.store.falkordb import FalkorStore
from tests.conftest import BACKENDS, Api, make_settings
from tests.test_catalog_api import listing

pytestmark = pytest.mark.skipif("falkordb" not in BACKENDS, reason="replicas are FalkorDB's")


@pytest.fixture
def backend() -> str:
    return "falkordb"


@pytest.fixture(scope="module")
def replica(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaInfo]:
    """A replica of this test process's embedded server, for the module; stopped by pid."""
    primary = embedded.status(data_dir)
    assert primary is not None
    with replica_local.running(primary, tmp_path_factory.mktemp("replica")) as info:
        yield info


@pytest.fixture
def settings_overrides(replica: ReplicaInfo) -> dict[str, Any]:
    return {
        "graph_replica_urls": replica.graph_url,
        "graph_replica_wait_ms": 300,
        "graph_replica_check_seconds": 0.1,
    }


def primary_client(data_dir: Path) -> redis.Redis:
    info = embedded.status(data_dir)
    assert info is not None
    return redis.Redis(host="127.0.0.1", port=info.port, password=info.password)


def calls(client: redis.Redis, command: str, what: str = "calls") -> int:
    """How many times the server ran `command` (or failed or refused it), from its own counts."""
    stats = client.info("commandstats")
    for key, value in stats.items():
        if key.lower() == f"cmdstat_{command}".lower():
            return int(value.get(what, 0))
    return 0


def refused_writes(client: redis.Redis) -> int:
    errors = client.info("errorstats")
    return sum(int(v["count"]) for k, v in errors.items() if "READONLY" in k.upper())


def store(services: Services) -> FalkorStore:
    assert isinstance(services.store, FalkorStore)
    return services.store


def in_step(services: Services) -> bool:
    replicas = store(services).replicas
    return replicas is not None and bool(replicas.in_step())


async def until(check: Any, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_reads_go_to_the_replica_and_writes_to_the_primary(
    services: Services, replica: ReplicaInfo, data_dir: Path
) -> None:
    primary, mirror = primary_client(data_dir), replica.client()
    await services.store.run_text("CREATE (:Thing {n: 1}), (:Thing {n: 2})", write=True)
    await until(lambda: in_step(services))

    ro_primary, ro_replica = calls(primary, "graph.ro_query"), calls(mirror, "graph.ro_query")
    writes = calls(primary, "graph.query")
    for _ in range(20):
        rows = await services.store.run_text(
            "MATCH (t:Thing) RETURN t.n AS n ORDER BY n", write=False
        )
        assert rows == [{"n": 1}, {"n": 2}]
    assert calls(mirror, "graph.ro_query") - ro_replica == 20
    assert calls(primary, "graph.ro_query") == ro_primary  # not one read on the primary
    assert calls(primary, "graph.query") == writes

    await services.store.run_text("MATCH (t:Thing {n: 1}) SET t.n = 3", write=True)
    assert calls(primary, "graph.query") == writes + 1  # the write: on the primary


async def test_a_write_is_on_the_replica_when_it_returns(
    services: Services, replica: ReplicaInfo
) -> None:
    """WAIT: once a write has returned, the replica holds it (read there directly, not routed)."""
    mirror = replica.client()
    graph = services.settings.graph_name
    await services.store.run_text("RETURN 1", write=False)  # the first check: in step
    for n in range(30):
        await services.store.run_text("CREATE (:Tick {n: $n})", {"n": n}, write=True)
        reply = mirror.execute_command(
            "GRAPH.RO_QUERY", graph, f"MATCH (t:Tick {{n: {n}}}) RETURN count(t)"
        )
        assert reply[1] == [[1]], n


async def test_read_your_writes_through_the_api(
    api: Api, services: Services, replica: ReplicaInfo, data_dir: Path
) -> None:
    mirror, primary = replica.client(), primary_client(data_dir)
    _, token = await api.signup()
    await until(lambda: in_step(services))
    served = calls(mirror, "graph.ro_query")
    # the primary is this test process's server: earlier tests' refused writes count there
    failed_before = calls(primary, "graph.query", "failed_calls")
    for i in range(5):
        product = await listing(api, token, title=f"Lamp number {i}")
        got = await api.call("get", f"/v1/products/{product['id']}")  # at once, on the replica
        assert got.status == 200, got.text
        assert got.json["title"] == f"Lamp number {i}"
        page = await api.call("get", "/v1/products")
        assert f"Lamp number {i}" in [p["title"] for p in page.json["items"]]
        mine = await api.call("get", "/v1/users/me", token)
        assert mine.status == 200
    assert calls(mirror, "graph.ro_query") > served  # the replica served them
    assert refused_writes(mirror) == 0  # and was never sent a write
    assert calls(mirror, "graph.query", "failed_calls") == 0
    assert calls(primary, "graph.query", "failed_calls") == failed_before


async def test_the_replica_refuses_writes_and_is_never_sent_one(
    api: Api, services: Services, replica: ReplicaInfo
) -> None:
    mirror = replica.client()
    graph = services.settings.graph_name
    # it is read-only: a write sent there would fail, so that none is sent shows in its counts
    with pytest.raises(redis.ResponseError, match=r"(?i)read.?only"):
        mirror.execute_command("GRAPH.QUERY", graph, "CREATE (:Nope)")
    refused = refused_writes(mirror) + calls(mirror, "graph.query", "failed_calls")
    _, token = await api.signup()
    await listing(api, token)
    profile = {"bio": "replicated"}
    assert (await api.call("patch", "/v1/users/me", token, json=profile)).status == 200
    assert (await api.call("get", "/v1/users/me", token)).json["bio"] == "replicated"
    assert refused_writes(mirror) + calls(mirror, "graph.query", "failed_calls") == refused


async def test_a_lagging_replica_is_left_until_it_catches_up(
    services: Services, replica: ReplicaInfo, data_dir: Path
) -> None:
    """A replica that stops answering (SIGSTOP: a hung machine) misses a write's WAIT: the
    write returns after graph_replica_wait_ms, reads go to the primary and see it; once the
    replica resumes and has caught up, it serves reads again."""
    fs, primary, mirror = store(services), primary_client(data_dir), replica.client()
    assert fs.replicas is not None
    await fs.run_text("CREATE (:Mark {n: 0})", write=True)
    await until(lambda: bool(fs.replicas and fs.replicas.in_step()))
    os.kill(replica.pid, signal.SIGSTOP)
    try:
        await fs.run_text("MATCH (m:Mark) SET m.n = 1", write=True)  # WAIT: 300 ms, then on
        assert fs.replicas.in_step() == []
        on_primary = calls(primary, "graph.ro_query")
        assert await fs.run_text("MATCH (m:Mark) RETURN m.n AS n", write=False) == [{"n": 1}]
        assert calls(primary, "graph.ro_query") == on_primary + 1
    finally:
        os.kill(replica.pid, signal.SIGCONT)
    await until(lambda: bool(fs.replicas and fs.replicas.in_step()))
    served = calls(mirror, "graph.ro_query")
    assert await fs.run_text("MATCH (m:Mark) RETURN m.n AS n", write=False) == [{"n": 1}]
    assert calls(mirror, "graph.ro_query") == served + 1


@pytest.fixture
async def own_replica(
    data_dir: Path, tmp_path: Path
) -> AsyncIterator[tuple[ReplicaInfo, Services]]:
    """A replica for one test (which kills it) and services reading from it."""
    primary = embedded.status(data_dir)
    assert primary is not None
    info = await asyncio.to_thread(replica_local.start, primary, tmp_path / "replica")
    try:
        svc = await bootstrap(
            make_settings(
                data_dir,
                graph_replica_urls=info.graph_url,
                graph_replica_wait_ms=300,
                graph_replica_check_seconds=0.1,
            )
        )
        try:
            yield info, svc
        finally:
            await svc.store.drop_all()
            await shutdown(svc)
    finally:
        replica_local.stop(info)


async def test_a_dead_replica_sends_reads_to_the_primary_without_errors(
    own_replica: tuple[ReplicaInfo, Services], data_dir: Path
) -> None:
    info, services = own_replica
    fs, primary = store(services), primary_client(data_dir)
    await fs.run_text("CREATE (:Thing {n: 7})", write=True)
    await until(lambda: bool(fs.replicas and fs.replicas.in_step()))
    assert await fs.run_text("MATCH (t:Thing) RETURN t.n AS n", write=False) == [{"n": 7}]
    replica_local.kill(info)  # SIGKILL: its connections drop, its port refuses
    on_primary = calls(primary, "graph.ro_query")
    for _ in range(10):  # the first finds it gone and is read again on the primary
        assert await fs.run_text("MATCH (t:Thing) RETURN t.n AS n", write=False) == [{"n": 7}]
    assert calls(primary, "graph.ro_query") == on_primary + 10
    assert fs.replicas is not None and fs.replicas.in_step() == []
    await fs.run_text("MATCH (t:Thing) SET t.n = 8", write=True)  # writes: no WAIT on it
    assert await fs.run_text("MATCH (t:Thing) RETURN t.n AS n", write=False) == [{"n": 8}]


async def test_a_dead_replica_through_the_api(
    own_replica: tuple[ReplicaInfo, Services], data_dir: Path
) -> None:
    from api.app import create_app

    info, services = own_replica
    app = create_app(services.settings, name="vendr_dead_replica")
    app.ctx.services = services
    async with Api(app) as api:
        _, token = await api.signup()
        product = await listing(api, token)
        replica_local.kill(info)
        for _ in range(5):
            got = await api.call("get", f"/v1/products/{product['id']}")
            assert got.status == 200, got.text
            page = await api.call("get", "/v1/products")
            assert page.status == 200, page.text
        assert (await api.call("get", "/v1/users/me", token)).status == 200
        second = await listing(api, token, title="After the replica died")
        assert (await api.call("get", f"/v1/products/{second['id']}")).status == 200


async def test_primary_gone_reads_go_on_from_the_replica_writes_are_503(
    tmp_path: Path,
) -> None:
    """Failover as written in graph.infra.store.falkordb: a primary of its own (not the test
    process's), its replica; the primary dies: reads go on, writes are Unavailable (503)."""
    home = tmp_path / "primary"
    primary, _ = await asyncio.to_thread(embedded.start, home)
    info = await asyncio.to_thread(replica_local.start, primary, tmp_path / "replica")
    settings = Settings(
        graph_url=f"falkordb://:{primary.password}@127.0.0.1:{primary.port}",
        env="dev",
        graph_name="failover",
        data_dir=home,
        graph_replica_urls=info.graph_url,
        graph_replica_wait_ms=300,
        graph_replica_check_seconds=0.1,
    )
    fs = make_store(settings)
    try:
        await fs.run_text("CREATE (:Thing {n: 1})", write=True)
        assert await fs.run_text("MATCH (t:Thing) RETURN t.n AS n", write=False) == [{"n": 1}]
        os.kill(primary.pid, signal.SIGKILL)
        await asyncio.sleep(0.5)  # checks run meanwhile: the primary does not answer
        for _ in range(5):
            assert await fs.run_text("MATCH (t:Thing) RETURN t.n AS n", write=False) == [{"n": 1}]
        with pytest.raises(Unavailable):
            await fs.run_text("CREATE (:Thing {n: 2})", write=True)
    finally:
        await fs.close()
        replica_local.stop(info)
        embedded.stop(home)
        if embedded.recorded(home) is None:
            (home / "falkordb" / "server.json").unlink(missing_ok=True)


@pytest.mark.skipif("neo4j" not in BACKENDS, reason="the Neo4j leg is off")
async def test_neo4j_runs_reads_as_read_transactions(request: pytest.FixtureRequest) -> None:
    """On Neo4j the driver routes: a statement that is not a write runs in a READ transaction
    (`routing_=READ`), which a `neo4j://` cluster sends to a secondary, and which the server
    itself holds to reading: a write there is refused (Invalid), not run on the leader."""
    from graph.infra.errors import Invalid
    from graph.infra.store.neo4j import Neo4jStore

    server = request.getfixturevalue("neo4j_server")
    neo = Neo4jStore.connect(server.uri, server.user, server.password, server.database)
    try:
        assert await neo.run_text("RETURN 1 AS one", write=False) == [{"one": 1}]
        with pytest.raises(Invalid):
            await neo.run_text("CREATE (:RoutedAsRead)", write=False)
        assert await neo.run_text("MATCH (n:RoutedAsRead) RETURN count(n) AS n", write=False) == [
            {"n": 0}
        ]
    finally:
        await neo.close()


async def test_closing_stops_the_watcher_even_when_a_check_swallows_its_cancellation(
    replica: ReplicaInfo, data_dir: Path
) -> None:
    """Python 3.11's `asyncio.wait_for` returns the answer instead of raising when the
    cancellation lands as the answer comes in: a watcher stopped only by cancelling would
    check on for ever and `close()` would never return (a test hung on it for 300 s). Here
    every check swallows its cancellation; closing still ends the watcher."""
    from graph.bootstrap import _pool
    from graph.infra.store.replicas import ReplicaSet

    class Stubborn(ReplicaSet):
        async def check(self) -> None:
            try:
                await super().check()
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass  # as wait_for does in that race

    info = embedded.status(data_dir)
    assert info is not None
    primary = _pool(info.url)
    replicas = Stubborn(
        primary,
        [(f"127.0.0.1:{replica.port}", _pool(replica.url))],
        "watched",
        wait_ms=300,
        check_seconds=0.01,
    )
    try:
        await replicas.started()
        await until(lambda: replicas.in_step() != [])
        for _ in range(20):  # cancelled wherever it happens to be: in a check or between two
            await asyncio.sleep(0.013)
            async with asyncio.timeout(5):
                await replicas.close()
            replicas._closed = False
            await replicas.started()
        async with asyncio.timeout(5):
            await replicas.close()
        assert replicas._watcher is None
    finally:
        await primary.aclose()
