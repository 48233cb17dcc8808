"""Crash loop: orders in a burst against a real server, the database killed (-9) at a random
moment, everything restarted, and then: every order the API acknowledged is in the graph,
whole (its line to the listing, its event), and the stock adds up — nothing half-written. On
each backend: the embedded FalkorDB, and Neo4j (its JVM killed; Redis, the embedded server,
lives on). Then the same with an HTTP worker killed (-9) mid-request: the server starts a new
one.

    python -m bench.crash [--cycles 20] [--out bench/crash.md]     (make soak)

The test suite runs a short version (tests/test_crash_loop.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from bench.common import BIN, ROOT, Database, free_port, machine, server
from graph.bootstrap import bootstrap, shutdown
from graph.infra import embedded
from graph.infra.settings import Settings

STOCK = 100_000  # the most a listing may hold
BUYERS = 8
PASSWORD = "correct horse battery"  # noqa: S105 - the throwaway accounts of a test run


@dataclass
class Cycle:
    killed: str = "database"  # or "worker"
    acknowledged: int = 0
    failed: int = 0  # answered with an error or cut off while the database was down
    killed_after_s: float = 0.0
    restart_s: float = 0.0  # database replay and server up; for a worker, its replacement up
    killed_at: float = 0.0  # time.monotonic() of the kill


@dataclass
class Report:
    cycles: list[Cycle] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)
    half_written: int = 0
    orders_in_graph: int = 0
    stock_left: int = 0
    stock_expected: int = 0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.half_written and self.stock_left == self.stock_expected


def _env(data_dir: Path, port: int, workers: int = 1) -> dict[str, str]:
    return {
        "VENDR_DATA_DIR": str(data_dir),
        "VENDR_PORT": str(port),
        "VENDR_WORKERS": str(workers),
        "VENDR_BACKGROUND": "off",
        "VENDR_RATE_LIMITS": "off",
        "VENDR_ARGON2_MEMORY_KIB": "8192",
        "VENDR_ARGON2_TIME_COST": "1",
    }


def _setup(base: str) -> tuple[str, list[str]]:
    """A seller's listing with plenty of stock, and buyers with tokens (kept in Redis, which
    is the same server and survives the crashes with the graph)."""
    with httpx.Client(base_url=base, timeout=30) as http:

        def signup(name: str, **extra: str) -> str:
            body = {"email": f"{name}@crash.test", "password": PASSWORD, "display_name": name}
            response = http.post("/v1/auth/signup", json=body | extra)
            assert response.status_code == 201, response.text
            return str(response.json()["token"])

        seller = signup("seller", kind="business", shop_name="Crash lamps")
        auth = {"authorization": f"Bearer {seller}"}
        raw = io.BytesIO()  # the listing needs one real photo
        Image.new("RGB", (32, 32), "teal").save(raw, "PNG")
        image = http.post("/v1/images", headers=auth, files={"image": ("p.png", raw.getvalue())})
        image.raise_for_status()
        listing = {
            "title": "Crash-test lamp",
            "price": {"amount": 100, "currency": "EUR"},
            "quantity": STOCK,
            "location": {"lat": 52.37, "lon": 4.89},
            "image_ids": [image.json()["id"]],
        }
        product = http.post("/v1/products", headers=auth, json=listing)
        assert product.status_code == 201, product.text
        return str(product.json()["id"]), [signup(f"buyer{n}") for n in range(BUYERS)]


async def _burst(
    base: str, product_id: str, tokens: list[str], victim: int, rng: random.Random, cycle: Cycle
) -> set[str]:
    """Buyers order one unit at a time until `victim` (the database, or an HTTP worker) is
    killed under them."""
    acked: set[str] = set()
    killed, flowing = asyncio.Event(), asyncio.Event()

    async def buyer(token: str) -> None:
        headers = {"authorization": f"Bearer {token}"}
        # a connection per order: the kernel spreads them over the workers, so a killed
        # worker has orders in flight
        fresh = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, timeout=10, limits=fresh) as http:
            while not killed.is_set():
                try:
                    r = await http.post(
                        f"/v1/products/{product_id}/orders", headers=headers, json={"quantity": 1}
                    )
                except httpx.HTTPError:
                    cycle.failed += 1
                    continue
                if r.status_code == 201:
                    acked.add(r.json()["id"])
                    flowing.set()
                else:
                    cycle.failed += 1

    async def killer() -> None:
        # at a random moment once orders flow (a cold server's first answers take a while)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(flowing.wait(), 30)
        cycle.killed_after_s = round(rng.uniform(0.02, 0.8), 3)
        await asyncio.sleep(cycle.killed_after_s)
        os.kill(victim, signal.SIGKILL)
        cycle.killed_at = time.monotonic()
        await asyncio.sleep(0.3)  # requests in flight meet the dead database
        killed.set()

    await asyncio.gather(killer(), *(buyer(t) for t in tokens))
    cycle.acknowledged = len(acked)
    return acked


async def _verify(settings: Settings, report: Report, product_id: str) -> None:
    services = await bootstrap(settings, ensure_schema=False)
    try:
        store = services.store
        found = await store.run_text(
            "MATCH (o:Order) WHERE o.id IN $ids RETURN o.id AS id",
            {"ids": sorted(report.acknowledged)},
            write=False,
        )
        report.missing = sorted(report.acknowledged - {r["id"] for r in found})
        whole = await store.run_text(
            """
            MATCH (o:Order)
            OPTIONAL MATCH (o)-[line:OF]->(:Product)
            OPTIONAL MATCH (e:Event {type: 'order.placed', subject_id: o.id})
            WITH o, count(DISTINCT line) AS lines, count(DISTINCT e) AS events
            RETURN count(o) AS orders,
                   toInteger(sum(CASE WHEN lines = 1 AND events = 1 THEN 0 ELSE 1 END)) AS broken,
                   toInteger(sum(o.quantity)) AS units
            """,
            {},
            write=False,
        )
        report.orders_in_graph = int(whole[0]["orders"])
        report.half_written = int(whole[0]["broken"] or 0)
        stock = await store.run_text(
            "MATCH (p:Product {id: $id}) RETURN p.quantity AS q", {"id": product_id}, write=False
        )
        report.stock_left = int(stock[0]["q"])
        report.stock_expected = STOCK - int(whole[0]["units"] or 0)
    finally:
        await shutdown(services)


def http_workers(server_pid: int) -> list[int]:
    """The server's HTTP worker processes (Sanic names each in its environment)."""
    found = []
    for child in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split():
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            if any(v.startswith(b"SANIC_WORKER_NAME=Sanic-Server") for v in environ):
                found.append(int(child))
    return sorted(found)


async def _replaced(base: str, server_pid: int, victim: int, workers: int, started: float) -> float:
    """Seconds from the kill until a new worker stands in the dead one's place and the
    server answers."""
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while time.monotonic() - started < 60:
            alive = http_workers(server_pid)
            if len(alive) == workers and victim not in alive:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/v1/heartbeat")).status_code == 200:
                        return round(time.monotonic() - started, 3)
            await asyncio.sleep(0.1)
    raise RuntimeError("the killed worker was not replaced within a minute")


async def worker_loop(data_dir: Path, kills: int, seed: int = 7, workers: int = 2) -> Report:
    """One server with `workers` HTTP workers; `kills` times, one of them killed mid-burst,
    then the wait until the server has `workers` again."""
    rng = random.Random(seed)
    report = Report()
    embedded.start(data_dir)
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        vendr = [str(BIN / "vendr"), "serve"]
        with server(vendr, _env(data_dir, port, workers), f"{base}/v1/heartbeat") as proc:
            product_id, tokens = _setup(base)
            for _ in range(kills):
                cycle = Cycle(killed="worker")
                victim = rng.choice(http_workers(proc.pid))
                report.acknowledged |= await _burst(base, product_id, tokens, victim, rng, cycle)
                cycle.restart_s = await _replaced(base, proc.pid, victim, workers, cycle.killed_at)
                report.cycles.append(cycle)
        await _verify(Settings(data_dir=data_dir, rate_limits="off"), report, product_id)
    finally:
        embedded.stop(data_dir)
    return report


async def crash_loop(
    data_dir: Path, cycles: int, seed: int = 7, backend: str = "falkordb"
) -> Report:
    rng = random.Random(seed)
    report = Report()
    product_id, tokens = "", list[str]()
    database = Database(backend, data_dir)
    try:
        for n in range(cycles):
            cycle = Cycle()
            started = time.monotonic()
            # after a crash: FalkorDB replays its append-only file, Neo4j its transaction log
            victim, reach = database.start()
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            vendr = [str(BIN / "vendr"), "serve"]
            with server(vendr, _env(data_dir, port) | reach, f"{base}/v1/heartbeat"):
                cycle.restart_s = round(time.monotonic() - started, 3)
                if n == 0:
                    product_id, tokens = _setup(base)
                report.acknowledged |= await _burst(base, product_id, tokens, victim, rng, cycle)
            report.cycles.append(cycle)
        await _verify(database.settings(), report, product_id)
    finally:
        database.stop()
    return report


def _table(cycles: list[Cycle], what: str, after: str) -> str:
    rows = "\n".join(
        f"| {i + 1} | {c.killed_after_s} | {c.acknowledged} | {c.failed} | {c.restart_s} |"
        for i, c in enumerate(cycles)
    )
    return f"""| {what} | killed after the first order (s) | acknowledged | failed or cut off \
| {after} (s) |
|---|---|---|---|---|
{rows}"""


def markdown(databases: dict[str, Report], workers: Report, seconds: float) -> str:
    columns = {f"{name} killed": r for name, r in databases.items()} | {"worker killed": workers}

    def row(label: str, cell: Callable[[Report], object]) -> str:
        return f"| {label} | " + " | ".join(str(cell(r)) for r in columns.values()) + " |"

    def acked(r: Report) -> str:
        per = statistics.mean(c.acknowledged for c in r.cycles)
        return f"{len(r.acknowledged)} ({per:.0f} per cycle)"

    def half(r: Report) -> str:
        return f"**{r.half_written}**"

    def back(r: Report) -> str:
        return f"{statistics.median(c.restart_s for c in r.cycles):.2f} s"

    cycles = len(next(iter(databases.values())).cycles)
    tables = "\n\n".join(
        _table(r.cycles, f"cycle ({name})", "restart") for name, r in databases.items()
    )
    return f"""# Crash loop

`make soak` (`python -m bench.crash`): on each backend, {cycles} cycles of a burst of orders
from {BUYERS} buyers against a real server, the database killed with SIGKILL at a random moment
(the embedded FalkorDB, or Neo4j's JVM; Redis, the embedded server, lives on with Neo4j), the
database and the server restarted; then {len(workers.cycles)} HTTP workers of a two-worker
server killed with SIGKILL mid-burst. {machine()}; {seconds:.0f} s in all.

| | {" | ".join(columns)} |
|---|{"---|" * len(columns)}
{row("orders acknowledged (201)", acked)}
{row("acknowledged orders missing afterwards", lambda r: f"**{len(r.missing)}**")}
{row("orders in the graph", lambda r: r.orders_in_graph)}
{row("orders half-written (no line to the listing, or no event)", half)}
{row("stock left / expected from the orders", lambda r: f"{r.stock_left} / {r.stock_expected}")}
{row("back (database recovered + server up / a new worker answering), median", back)}

Each order is one statement, and neither backend answers before its write is on disk
(FalkorDB: `appendfsync always`; Neo4j: its transaction log is forced at each commit), so an
acknowledged order survives and none is ever half there. A request cut off with its worker
either committed whole or not at all; Sanic's manager only records a dead worker, so `vendr
serve` watches them and starts a new one in its place.

{tables}

{_table(workers.cycles, "kill", "replaced")}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "crash.md")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="vendr-crash-"))
    started = time.monotonic()
    try:
        databases = {
            name: asyncio.run(crash_loop(data_dir / backend, args.cycles, args.seed, backend))
            for name, backend in (("FalkorDB", "falkordb"), ("Neo4j", "neo4j"))
        }
        workers = asyncio.run(worker_loop(data_dir / "workers", args.cycles, args.seed))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    text = markdown(databases, workers, time.monotonic() - started)
    args.out.write_text(text)
    print(text)
    if not (all(r.ok for r in databases.values()) and workers.ok):
        raise SystemExit("acknowledged writes lost or half-written: see the report")


if __name__ == "__main__":
    main()
