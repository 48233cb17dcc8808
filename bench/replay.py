"""Replaying the event log (`python -m bench.replay`, in `make bench`; report: bench/replay.md).

At each scale (10k users / 100k listings / 1M interactions by default, smaller ones first) a
generated marketplace is bulk-loaded on the embedded FalkorDB, a day of people's own actions
is added through the services (swipes, saves, views, rooms and messages: one event each), the
whole log is read, and it is replayed into an empty graph on the same server: the bulk load a
batch at a time (one event per batch of rows), the people's events one statement each. Reported:
events and rows per second of each part, and whether the two graphs dump the same.
`--scales 1000x10000x100000` picks others; `--backends falkordb,neo4j` adds Neo4j (the replay's
target is then the other backend's empty database, a backend move).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.common import ROOT, Database, await_indexes, machine
from graph.bootstrap import Services, bootstrap, make_store, shutdown
from graph.eventlog import Replayed, differences, dump, export, replay
from seeds.generator import generate
from seeds.loader import load

REPORT = ROOT / "bench" / "replay.md"
DATA = ROOT / "var" / "bench-replay"
DEFAULT_SCALES = ("1000x10000x100000", "10000x100000x1000000")
ACTIONS = 5_000  # people's own events added on top of the bulk load


@dataclass
class Part:
    events: int
    rows: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class Run:
    scale: str
    read_s: float
    total: Replayed
    bulk: Part
    actions: Part
    same: bool
    differences: list[str]


async def actions(services: Services, n: int, seed: int = 1) -> int:
    """People's own events through the services, the way the API makes them: swipes, saves,
    views, rooms opened and messages sent."""
    rng = random.Random(seed)
    users = [
        r["id"]
        for r in await services.store.run_text(
            "MATCH (u:User) RETURN u.id AS id ORDER BY id LIMIT 2000", write=False
        )
    ]
    products = await services.store.run_text(
        "MATCH (s:User)-[:LISTED]->(p:Product) WHERE p.status = 'active' "
        "RETURN p.id AS id, s.id AS seller ORDER BY id LIMIT 5000",
        write=False,
    )
    made = 0
    while made < n:
        user = rng.choice(users)
        item = rng.choice(products)
        if item["seller"] == user:
            continue
        kind = rng.random()
        if kind < 0.4:
            await services.feed.swipes(user, [(item["id"], rng.choice(["left", "right"]))])
        elif kind < 0.6:
            await services.feed.save(user, item["id"])
        elif kind < 0.8:
            await services.feed.viewed(user, item["id"])
        else:
            room, _ = await services.messaging.open_room(user, item["id"])
            await services.messaging.send(user, room["id"], "Is it still there?")
            made += 1
        made += 1
    return made


async def _log(services: Services) -> list[dict[str, Any]]:
    return [row async for row in export.events(services.store, 0, None)]


def _rows(event: dict[str, Any]) -> int:
    data = event.get("data")
    if event.get("via", "").startswith("seeds.") and isinstance(data, dict):
        return len(data.get("rows", []))
    return 1


async def _timed(target: Any, events: list[dict[str, Any]]) -> tuple[Replayed, float]:
    async def each() -> AsyncIterator[dict[str, Any]]:
        for event in events:
            yield event

    started = time.perf_counter()
    done = await replay(target, each())
    return done, time.perf_counter() - started


async def run_scale(database: Database, target: Database, scale: str) -> Run:
    users, products, interactions = (int(x) for x in scale.split("x"))
    data = generate(users, products, interactions, seed=5, now=int(time.time() * 1000))
    database.fresh()
    if target is not database:
        target.fresh()
    services = await bootstrap(database.settings(graph_name="replay_source"))
    # Neo4j Community has one database: its own default
    name = {"graph_name": "replay_target"} if target.backend == "falkordb" else {}
    there = make_store(target.settings(**name))
    try:
        await await_indexes(services.store)
        await load(services, data)
        await actions(services, ACTIONS)
        started = time.perf_counter()
        log = await _log(services)
        read_s = time.perf_counter() - started
        bulk = [e for e in log if e.get("via", "").startswith("seeds.")]
        own = [e for e in log if not e.get("via", "").startswith("seeds.")]
        await there.drop_all()
        await there.ensure_schema()
        await await_indexes(there)
        first, bulk_s = await _timed(there, bulk)
        second, own_s = await _timed(there, own)
        total = Replayed(
            read=first.read + second.read,
            applied=first.applied + second.applied,
            skipped=first.skipped + second.skipped,
            by_products=first.by_products + second.by_products,
            diverged=first.diverged + second.diverged,
            seconds=bulk_s + own_s,
        )
        diff = differences(await dump(services.store), await dump(there))
        return Run(
            scale,
            read_s,
            total,
            Part(len(bulk), sum(map(_rows, bulk)), bulk_s),
            Part(sum(1 for e in own if e.get("via")), sum(1 for e in own if e.get("via")), own_s),
            not diff,
            diff[:5],
        )
    finally:
        await there.drop_all()
        await there.close()
        await shutdown(services)


def report(runs: list[tuple[str, Run]], seconds: float) -> str:
    lines = [
        "# Replaying the event log",
        "",
        f"_{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; `python -m bench.replay` "
        f"({seconds:.0f} s)._",
        "",
        "A generated marketplace bulk-loaded (each batch of up to 5,000 rows one event), then "
        f"{ACTIONS:,} people's own events through the services (swipes, saves, views, rooms, "
        "messages: one event each); the whole log read back, replayed into an empty graph, "
        "and the two graphs' fact dumps compared (`vendr events dump`).",
        "",
        "| backends | scale (users x listings x interactions) | events | read the log | bulk "
        "load replayed | people's events replayed | diverged | same facts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, run in runs:
        lines.append(
            f"| {label} | {run.scale} | {run.total.read:,} | {run.read_s:.1f} s | "
            f"{run.bulk.events:,} events ({run.bulk.rows:,} rows) in {run.bulk.seconds:.1f} s: "
            f"**{run.bulk.rows_per_s:,.0f} rows/s** | {run.actions.events:,} in "
            f"{run.actions.seconds:.1f} s: **{run.actions.events_per_s:,.0f} events/s** | "
            f"{len(run.total.diverged)} | {'yes' if run.same else 'NO'} |"
        )
    lines += [""]
    for label, run in runs:
        if run.differences:
            lines += [f"Differences at {label} {run.scale} (first five):", ""]
            lines += [f"    {d[:200]}" for d in run.differences] + [""]
    lines += [
        "People's events replay one statement each, as the app ran them, in the log's order, "
        "pipelined a page (500) at a time on one connection: the rate is the server's own time "
        "per statement (FalkorDB runs a graph's writes one at a time, so a replay is not spread "
        "over connections), lower on the larger graph. Bulk loads replay a batch per statement. "
        "Rows of one batched run (a sweep's expiries, a swipe batch) are joined again into one "
        "statement.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default=",".join(DEFAULT_SCALES))
    parser.add_argument(
        "--backends",
        default="falkordb",
        help="falkordb (source and target), or falkordb,neo4j (FalkorDB's log into Neo4j too)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    falkordb = Database.for_bench("falkordb", DATA / "falkordb")
    pairs = [("FalkorDB → FalkorDB", falkordb, falkordb)]
    if "neo4j" in args.backends.split(","):
        pairs.append(("FalkorDB → Neo4j", falkordb, Database.for_bench("neo4j", DATA / "neo4j")))
    runs = []
    try:
        for scale in args.scales.split(","):
            for label, source, target in pairs:
                run = asyncio.run(run_scale(source, target, scale))
                runs.append((label, run))
                print(label, scale, run.total.summary(), "same" if run.same else "DIFFERENT")
    finally:
        for _, source, target in pairs:
            source.stop()
            target.stop()
    text = report(runs, time.monotonic() - started)
    REPORT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
