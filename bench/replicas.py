"""Read replicas: browse throughput with reads on a FalkorDB replica vs on the primary, while a
writer edits listings at a steady rate (each write waiting for the replica: `WAIT`).

One catalog is loaded into an embedded FalkorDB (the primary: append-only file, fsync on every
write, as `vendr serve` runs it), a second FalkorDB server is started as its replica
(`replicaof`, graph.infra.replica_local) and syncs it. Then four runs of the same length, in one
process, alternating where the reads go: the primary alone, the replica alone, each again with
the writer on. Readers are concurrent clients calling the browse service (the statements
`GET /v1/products` and `GET /v1/products/{id}` run, page cache off so every read reaches the
graph); the writer is the listing edit service (`PATCH /v1/products/{id}`: a read of the
listing, then the write). Which server served the reads is read from both servers' own counts.

    python -m bench.replicas [--users 2000 --products 20000 --interactions 100000]
                             [--clients 8 --seconds 5 --write-rate 15 --rounds 6]     (make bench)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench.catalog import WORDS
from bench.common import ROOT, machine, percentile
from graph.bootstrap import Services, bootstrap, shutdown
from graph.catalog.commands import Browse, UpdateProduct
from graph.infra import embedded, replica_local
from graph.infra.geo import Place
from graph.infra.ids import now_ms
from graph.infra.settings import Settings
from seeds.generator import CITIES, TAXONOMY, generate
from seeds.loader import load

REPORT = ROOT / "bench" / "replicas.md"
GRAPH = "bench_replicas"


@dataclass
class Phase:
    name: str
    reads_on: str  # "primary" | "replica"
    write_rate: float
    seconds: float = 0.0
    reads: list[float] = field(default_factory=list)  # ms each
    writes: list[float] = field(default_factory=list)
    read_errors: int = 0
    write_errors: int = 0
    served: dict[str, int] = field(default_factory=dict)  # RO_QUERY calls per server
    write_seconds: float = 0.0
    per_round: list[float] = field(default_factory=list)  # reads/s in each round

    @property
    def reads_per_s(self) -> float:
        return len(self.reads) / self.seconds if self.seconds else 0.0

    @property
    def writes_per_s(self) -> float:
        return len(self.writes) / self.write_seconds if self.write_seconds else 0.0


def read_command(i: int, product_ids: list[str]) -> Browse | str:
    """The i-th read of the browse mix (bench.catalog's kinds): a page, or a listing's id."""
    rng = random.Random(i)
    kind = rng.choices(
        ["newest", "near", "near_tag", "tag", "text", "tag_price", "hype", "detail"],
        weights=[20, 15, 10, 15, 10, 10, 5, 15],
    )[0]
    city = rng.choice(CITIES)
    cat = rng.choice(TAXONOMY)
    near = Place(city[1], city[2])
    match kind:
        case "near":
            return Browse(near=near, radius_km=10, sort="distance")
        case "near_tag":
            return Browse(near=near, radius_km=25, tags=(cat.name,))
        case "tag":
            return Browse(tags=(rng.choice(cat.tags),))
        case "text":
            return Browse(q=rng.choice(WORDS))
        case "tag_price":
            low, high = cat.price_range
            return Browse(
                tags=(cat.name,), min_price=low * 2, max_price=high // 2, sort="price_asc"
            )
        case "hype":
            return Browse(sort="hype")
        case "detail":
            return rng.choice(product_ids)
    return Browse()


def ro_queries(client: redis.Redis) -> int:
    for key, value in client.info("commandstats").items():
        if key.lower() == "cmdstat_graph.ro_query":
            return int(value.get("calls", 0))
    return 0


async def write_steadily(
    svc: Services, products: list[dict[str, Any]], rate: float, seconds: float, seed: int
) -> tuple[list[float], int]:
    """Edit listings `rate` times a second for `seconds`: (each edit's ms, errors)."""
    rng = random.Random(seed)
    took: list[float] = []
    errors = 0
    period = 1.0 / rate
    deadline = time.perf_counter() + seconds
    next_at = time.perf_counter()
    n = 0
    while time.perf_counter() < deadline:
        product = rng.choice(products)
        n += 1
        cmd = UpdateProduct(product["owner"], product["id"], title=f"{product['title']} {n}")
        t0 = time.perf_counter()
        try:
            await svc.catalog.update(cmd)
        except Exception:  # counted, reported; a bench goes on
            errors += 1
        else:
            took.append((time.perf_counter() - t0) * 1000)
        next_at += period  # a steady rate: a slow write is not made up by a burst
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return took, errors


def writer_process(
    settings: Settings,
    products: list[dict[str, Any]],
    rate: float,
    seconds: float,
    seed: int,
    out: Any,
) -> None:
    """The writer in a process of its own: its latencies are the database's and `WAIT`'s, not
    time spent queued behind the readers' Python on one event loop."""

    async def main() -> tuple[list[float], int]:
        svc = await bootstrap(settings, ensure_schema=False)
        try:
            if svc.store.dialect == "falkordb":
                await svc.store.run_text("RETURN 1", write=False)  # the replicas' first check
            out.put("ready")
            return await write_steadily(svc, products, rate, seconds, seed)
        finally:
            await shutdown(svc)

    out.put(asyncio.run(main()))


async def run_phase(
    phase: Phase,
    svc: Services,
    products: list[dict[str, Any]],
    clients: int,
    seconds: float,
    counters: dict[str, redis.Redis],
    start: int,
) -> None:
    ids = [p["id"] for p in products]
    writer = None
    if phase.write_rate:
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        writer = ctx.Process(
            target=writer_process,
            args=(svc.settings, products, phase.write_rate, seconds, start, results),
        )
        writer.start()
        ready = await asyncio.to_thread(results.get, True, 120)
        assert ready == "ready", ready
    before = {name: ro_queries(c) for name, c in counters.items()}
    deadline = time.perf_counter() + seconds
    counter = iter(range(start, start + 10**9))

    async def reader() -> None:
        while time.perf_counter() < deadline:
            cmd = read_command(next(counter), ids)
            t0 = time.perf_counter()
            try:
                if isinstance(cmd, str):
                    await svc.catalog.get(cmd)
                else:
                    await svc.browse.browse(cmd)
            except Exception:  # counted, reported; a bench goes on
                phase.read_errors += 1
                continue
            phase.reads.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    reads_before = len(phase.reads)
    await asyncio.gather(*(reader() for _ in range(clients)))
    took_s = time.perf_counter() - started
    phase.seconds += took_s
    phase.per_round.append((len(phase.reads) - reads_before) / took_s)
    for name, c in counters.items():
        phase.served[name] = phase.served.get(name, 0) + ro_queries(c) - before[name]
    if writer is not None:
        took, errors = await asyncio.to_thread(results.get, True, seconds + 120)
        writer.join(30)
        phase.writes += took
        phase.write_errors += errors
        phase.write_seconds += seconds


async def writes_alone(
    svc: Services, on_replica: Services, products: list[dict[str, Any]], n: int
) -> dict[str, list[float]]:
    """One write statement at a time, nothing else running, alternating between the store
    without replicas and the one that waits for the replica: what `WAIT` adds to a write."""
    took: dict[str, list[float]] = {"without WAIT": [], "with WAIT": []}
    for i in range(2 * n):
        name, target = ("with WAIT", on_replica) if i % 2 else ("without WAIT", svc)
        t0 = time.perf_counter()
        await target.store.run_text(
            "MATCH (p:Product {id: $id}) SET p.bench_touch = $i RETURN p.id",
            {"id": products[i % len(products)]["id"], "i": i},
            write=True,
        )
        took[name].append((time.perf_counter() - t0) * 1000)
    return took


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="vendr-bench-replicas-"))
    primary, _ = embedded.start(data_dir)
    replica = None
    services: list[Services] = []
    try:
        base = Settings(data_dir=data_dir, graph_name=GRAPH, rate_limits="off", cache_ttl_seconds=0)
        svc = await bootstrap(base)
        services.append(svc)
        await svc.store.drop_all()
        await svc.store.ensure_schema()
        data = generate(args.users, args.products, args.interactions, seed=7, now=now_ms())
        t0 = time.perf_counter()
        await load(svc, data)
        load_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        replica = await asyncio.to_thread(replica_local.start, primary, data_dir / "replica-server")
        sync_s = time.perf_counter() - t0
        on_replica = await bootstrap(
            base.model_copy(update={"graph_replica_urls": replica.graph_url}),
            ensure_schema=False,
        )
        services.append(on_replica)
        counters = {
            "primary": redis.Redis(port=primary.port, password=primary.password),
            "replica": replica.client(),
        }
        products = [p for p in data.products if p["status"] == "active"]
        # warm both servers' caches with the same mix (not measured)
        for warm in (svc, on_replica):
            await run_phase(Phase("warm", "", 0), warm, products, args.clients, 3, counters, 0)
        phases = [
            Phase("reads only", "primary", 0),
            Phase("reads only", "replica", 0),
            Phase("reads + writes", "primary", args.write_rate),
            Phase("reads + writes", "replica", args.write_rate),
        ]
        # rounds, each alternating primary and replica: a neighbour's burst on this shared
        # machine lands on both sides rather than on one
        for r in range(args.rounds):
            for k, phase in enumerate(phases):
                target = on_replica if phase.reads_on == "replica" else svc
                await run_phase(
                    phase,
                    target,
                    products,
                    args.clients,
                    args.seconds,
                    counters,
                    (r * len(phases) + k + 1) * 10**6,
                )
                print(f"after round {r + 1}: {_row(phase)}", flush=True)
        alone = await writes_alone(svc, on_replica, products, args.alone)
        print(
            "writes alone: "
            + ", ".join(f"{k} p50 {percentile(v, 50):.2f} ms" for k, v in alone.items()),
            flush=True,
        )
        return {
            "args": vars(args),
            "load_s": load_s,
            "sync_s": sync_s,
            "products": len(data.products),
            "users": len(data.users),
            "phases": phases,
            "alone": alone,
        }
    finally:
        for s in services:
            await shutdown(s)
        if replica is not None:
            replica_local.stop(replica)
        embedded.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def _median_ratio(replica: Phase, primary: Phase) -> float:
    return statistics.median(
        r / p for r, p in zip(replica.per_round, primary.per_round, strict=True)
    )


def _row(p: Phase) -> str:
    reads = f"| {p.name} | {p.reads_on} | {p.reads_per_s:,.0f} | {percentile(p.reads, 50):.1f} "
    reads += f"| {percentile(p.reads, 99):.1f} "
    if p.writes:
        writes = (
            f"| {p.writes_per_s:.0f} | {percentile(p.writes, 50):.1f} "
            f"| {percentile(p.writes, 99):.1f} "
        )
    else:
        writes = "| – | – | – "
    total = sum(p.served.values()) or 1
    share = 100 * p.served.get("replica", 0) / total
    return reads + writes + f"| {share:.0f} % | {p.read_errors + p.write_errors} |"


def report(result: dict[str, Any], out: Path) -> None:
    a = result["args"]
    ph: list[Phase] = result["phases"]
    by = {(p.name, p.reads_on): p for p in ph}
    idle_p, idle_r = by[("reads only", "primary")], by[("reads only", "replica")]
    busy_p, busy_r = by[("reads + writes", "primary")], by[("reads + writes", "replica")]
    alone: dict[str, list[float]] = result["alone"]
    lines = [
        "# Read replicas (FalkorDB)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()} · `python -m bench.replicas"
        f" --users {a['users']} --products {a['products']} --interactions {a['interactions']}"
        f" --clients {a['clients']} --seconds {a['seconds']:g} --write-rate {a['write_rate']:g}"
        f" --rounds {a['rounds']}`",
        "",
        "**The machine has 2 cores, shared with other work while this ran**: the primary, the "
        "replica and the benchmark's own Python process (readers, writer) all run on them, so "
        "absolute figures are this box's; compare the rows of this one run with each other. "
        "On separate machines a replica adds its own cores: this run cannot show that, only "
        "what moving the reads off the primary does to reads and writes.",
        "",
        f"Catalog: {result['users']:,} users, {result['products']:,} listings, "
        f"{a['interactions']:,} interactions (smaller than bench/catalog.py's 10k users / 100k "
        f"listings / 1M interactions, to keep the run within minutes), loaded in "
        f"{result['load_s']:.0f} s; the "
        f"replica's first full sync of it took {result['sync_s']:.1f} s. "
        f"{a['clients']} concurrent readers run the browse mix of bench/catalog.py (newest, "
        f"near, near+tag, tag, text, tag+price, hype pages and listing details) through the "
        f"browse service, page cache off, in one process; the writer, in a process of its own, "
        f"edits a listing's title {a['write_rate']:g} times a second if it can (the edit "
        f"service: a read of the listing, the write, the page cache's version bumped). Each row "
        f"adds up {a['rounds']} rounds of {a['seconds']:g} s, the four runs alternating within "
        f"each round. *Served by replica* counts `GRAPH.RO_QUERY` on each server during the row.",
        "",
        "| run | reads on | reads/s | read p50 ms | read p99 ms | writes/s | write p50 ms "
        "| write p99 ms | served by replica | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(p) for p in ph),
        "",
        "Ratios (replica / primary, same run):",
        "",
        f"- reads/s, the median of the {len(idle_p.per_round)} rounds' own ratios (each round "
        f"puts the two sides seconds apart, so a neighbour's burst skews fewer of them): "
        f"reads only **{_median_ratio(idle_r, idle_p):.2f}x**, reads while writing "
        f"**{_median_ratio(busy_r, busy_p):.2f}x**",
        f"- reads only: throughput **{idle_r.reads_per_s / idle_p.reads_per_s:.2f}x**, "
        f"p99 {percentile(idle_r.reads, 99) / percentile(idle_p.reads, 99):.2f}x",
        f"- reads while writing: throughput **{busy_r.reads_per_s / busy_p.reads_per_s:.2f}x**, "
        f"p50 {percentile(busy_r.reads, 50) / percentile(busy_p.reads, 50):.2f}x, "
        f"p99 {percentile(busy_r.reads, 99) / percentile(busy_p.reads, 99):.2f}x",
        f"- the listing edits (the writer: a read, the write; on the replica side its read on "
        f"the replica and `WAIT` after the write): p50 {percentile(busy_r.writes, 50):.1f} ms "
        f"vs {percentile(busy_p.writes, 50):.1f} ms on the primary alone "
        f"({percentile(busy_r.writes, 50) - percentile(busy_p.writes, 50):+.1f} ms), p99 "
        f"{percentile(busy_r.writes, 99):.1f} vs {percentile(busy_p.writes, 99):.1f} ms",
        "",
        f"One write statement at a time with nothing else running ({len(alone['with WAIT'])} "
        f"each way, alternating), to isolate what `WAIT` adds:",
        "",
        "| one write | p50 ms | p99 ms |",
        "|---|---:|---:|",
        *(
            f"| {name} | {percentile(v, 50):.2f} | {percentile(v, 99):.2f} |"
            for name, v in alone.items()
        ),
        "",
        "What each side pays: on the primary, each write is fsynced to the append-only file and "
        "holds the graph's write lock while it runs, and reads there wait on both; the replica "
        "applies the same writes from the replication stream without fsync (its durability is "
        "the primary's) but still takes the write lock to apply them. `WAIT` makes each write "
        "return only once the replica holds it (read-your-own-writes, "
        "graph.infra.store.falkordb): its cost is the replication round trip plus the replica's "
        "time to apply the write: the difference between the two rows of the last table.",
        "",
        "What one machine cannot show: capacity. Here the primary, the replica and the clients "
        "share 2 cores, so moving reads to the replica moves CPU work from one process to "
        "another on the same cores, and the replica's own applying of every write is extra work "
        "on them: a ratio near or under 1x is what this box can give, not what a replica on its "
        "own machine gives. There reads scale with the replicas' cores (N replicas of the same "
        "size: up to N times the read capacity, the primary's cores left to the writes), at the "
        "price per write measured above. The figures that do carry over are that every read of "
        "the replica runs went to it (served by replica), none failed, and the cost of `WAIT`.",
    ]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--write-rate", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--alone", type=int, default=300, help="writes each way, one at a time")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    report(asyncio.run(run(args)), args.out)


if __name__ == "__main__":
    main()
