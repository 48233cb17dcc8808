"""Shared bench plumbing: the two graph backends, servers in subprocesses, a keep-alive HTTP
client, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from graph.infra import embedded, neo4j_local
from graph.infra.settings import Settings
from graph.infra.store import GraphStore

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Neo4j's memory for the benchmarks (`make bench`): room for the 10k users / 100k listings / 1M
# interactions graph and its indexes in the page cache, and for 5,000-row UNWIND batches and
# the trust recompute's pages in the heap (neo4j_local's defaults are sized for the tests)
BENCH_HEAP_MB, BENCH_PAGECACHE_MB = 2048, 2048
# neo4j_local's JVM flags are the tests' (the serial collector, the quick C1 compiler only: a
# fast start for short-lived servers); a benchmark measures a server that runs for hours, so
# the JVM's own choice on this machine: G1 and the full tiered compiler (C2)
TEST_ONLY_JVM_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


def _mib(size: str) -> float:
    """Neo4j's `256.00MiB` / `2.00GiB` in MiB."""
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "TiB": 1024.0**2}
    for unit, scale in units.items():
        if size.endswith(unit):
            return float(size.removesuffix(unit)) * scale
    return float(size) / 2**20  # plain bytes


class Database:
    """A graph backend for a bench or a crash loop: the embedded FalkorDB, or Neo4j Community
    with the embedded server beside it for Redis. Started (or found running), the settings and
    the environment (`vendr serve`) that reach it, stopped."""

    def __init__(
        self,
        backend: str,
        data_dir: Path,
        *,
        heap_mb: int = neo4j_local.HEAP_MB,
        pagecache_mb: int = neo4j_local.PAGECACHE_MB,
        server_jvm: bool = False,
        graph_name: str = "",
    ) -> None:
        if backend not in ("falkordb", "neo4j"):
            raise ValueError(f"unknown backend {backend!r}")
        self.backend = backend
        self.data_dir = data_dir
        self.heap_mb = heap_mb
        self.pagecache_mb = pagecache_mb
        self.server_jvm = server_jvm
        # a FalkorDB graph key of its own; Neo4j Community has one database, its default
        self.graph_name = graph_name if backend == "falkordb" else ""
        self.found: dict[str, Any] = {}  # what the running Neo4j said it has (`inspect`)

    @classmethod
    def for_bench(cls, backend: str, data_dir: Path, graph_name: str = "") -> Database:
        return cls(
            backend,
            data_dir,
            heap_mb=BENCH_HEAP_MB,
            pagecache_mb=BENCH_PAGECACHE_MB,
            server_jvm=True,
            graph_name=graph_name,
        )

    @property
    def label(self) -> str:
        return LABELS[self.backend]

    def describe(self) -> str:
        """The backend as the report names it; for Neo4j what the running server said it has
        (`inspect`), not only what was asked for."""
        if self.backend == "falkordb":
            return "embedded FalkorDB (its redis-server, also Redis for sessions and caches)"
        found = self.found
        if not found:
            jvm = "G1, C2" if self.server_jvm else "the tests' serial GC, C1 only"
            return (
                f"Neo4j Community (heap {self.heap_mb} MB, page cache {self.pagecache_mb} MB "
                f"asked for, JVM {jvm}; Redis from the embedded FalkorDB server)"
            )
        text = (
            f"Neo4j {found['version']} {found['edition']} (heap up to {found['heap_mib']:.0f} MiB, "
            f"page cache {found['pagecache_mib']:.0f} MiB, JVM {found['jvm']}; Redis from the "
            "embedded FalkorDB server)"
        )
        if abs(found["pagecache_mib"] - self.pagecache_mb) > 1:
            text += (
                f" — **NOT the {self.pagecache_mb} MiB page cache asked for** (is .neo4j/ older "
                "than deploy/neo4j/VendrNeo4j.java? `make neo4j` rebuilds it)"
            )
        return text

    def inspect(self) -> None:
        """Ask the running Neo4j what it really has: version, page cache, heap, collector (a
        server built or started elsewhere may differ from what this asked for)."""
        if self.backend != "neo4j":
            return
        from neo4j import GraphDatabase

        _, reach = self.start()
        auth = ("neo4j", reach["VENDR_NEO4J_PASSWORD"])
        with GraphDatabase.driver(reach["VENDR_GRAPH_URL"], auth=auth) as driver:

            def one(query: str) -> Any:
                records, _, _ = driver.execute_query(query, database_="neo4j")
                return records[0]

            version = one("CALL dbms.components() YIELD versions, edition RETURN versions, edition")
            page = one(
                "SHOW SETTINGS YIELD name, value "
                "WHERE name = 'server.memory.pagecache.size' RETURN value"
            )
            jmx = "CALL dbms.queryJmx('java.lang:type=Runtime') YIELD attributes "
            args = one(jmx + "RETURN attributes.InputArguments.value AS args")["args"]
            memory = "CALL dbms.queryJmx('java.lang:type=Memory') YIELD attributes "
            heap = one(memory + "RETURN attributes.HeapMemoryUsage.value.properties.max AS max")
            collectors = one(
                "CALL dbms.queryJmx('java.lang:type=GarbageCollector,*') YIELD name "
                "RETURN collect(name) AS names"
            )["names"]
        serial = not any("G1" in name for name in collectors)
        c1 = "-XX:TieredStopAtLevel=1" in args
        self.found = {
            "version": version["versions"][0],
            "edition": str(version["edition"]).capitalize(),
            "pagecache_mib": _mib(str(page["value"])),
            "heap_mib": int(heap["max"]) / 2**20,
            "jvm": ("not G1" if serial else "G1") + (", C1 only" if c1 else ", C2"),
        }

    def start(self) -> tuple[int, dict[str, str]]:
        """(the pid of the graph's server, the `VENDR_*` settings that reach it); a start
        after a kill recovers."""
        redis, _ = embedded.start(self.data_dir)
        if self.backend == "falkordb":
            return redis.pid, {"VENDR_GRAPH_NAME": self.graph_name} if self.graph_name else {}
        flags = [f for f in neo4j_local.JVM_FLAGS if f not in TEST_ONLY_JVM_FLAGS]
        with _swapped(neo4j_local, "JVM_FLAGS", flags if self.server_jvm else None):
            info, _ = neo4j_local.start(
                self.data_dir, heap_mb=self.heap_mb, pagecache_mb=self.pagecache_mb
            )
        return info.pid, {
            "VENDR_GRAPH_URL": info.url,
            "VENDR_NEO4J_PASSWORD": info.password,
            "VENDR_REDIS_URL": redis.url,
        }

    def env(self) -> dict[str, str]:
        """What a `vendr serve` (or any subprocess) needs to reach this database."""
        _, reach = self.start()
        return {"VENDR_DATA_DIR": str(self.data_dir)} | reach

    def settings(self, **overrides: Any) -> Settings:
        _, reach = self.start()
        fields: dict[str, Any] = {k.removeprefix("VENDR_").lower(): v for k, v in reach.items()}
        return Settings(data_dir=self.data_dir, **({"rate_limits": "off"} | fields | overrides))

    def fresh(self) -> None:
        """Stopped, and its data dir gone: the next start is on an empty graph."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def stop(self) -> None:
        neo4j_local.stop(self.data_dir)
        embedded.stop(self.data_dir)

    def running(self) -> bool:
        return bool(embedded.status(self.data_dir) or neo4j_local.recorded(self.data_dir))


LABELS = {"falkordb": "FalkorDB", "neo4j": "Neo4j"}
BACKENDS = tuple(LABELS)


@contextmanager
def _swapped(module: object, name: str, value: object) -> Iterator[None]:
    """`module.name` is `value` for the block (nothing changes when value is None)."""
    if value is None:
        yield
        return
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


async def await_indexes(store: GraphStore) -> None:
    """Neo4j builds a new index in the background: wait until every one is online, so that
    a bulk load's lookups by id use them from its first batch (FalkorDB's are at once)."""
    if store.dialect == "neo4j":
        # within the driver's 10 s a statement; an empty graph's indexes take a moment
        await store.run_text("CALL db.awaitIndexes(9)", {}, write=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def server(
    args: list[str], env: dict[str, str], health_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    # a session of its own: Sanic kills its workers' whole process group when they will not
    # stop in time, and that must never be the group of whoever started the server
    proc = subprocess.Popen(  # noqa: S603 - our own entry points, no shell
        args,
        env=os.environ | env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_up(health_url, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its workers too
            proc.wait()


@dataclass
class Latency:
    count: int
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Throughput:
    requests: int
    seconds: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


Headers = Callable[[int], dict[str, str]]


def _no_headers(i: int) -> dict[str, str]:
    return {}


async def latency(
    base: str,
    paths: Callable[[int], str],
    n: int,
    warmup: int = 30,
    headers: Headers = _no_headers,
) -> Latency:
    """One client, one request at a time."""
    times: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(base_url=base) as client:
        for i in range(warmup + n):
            started = time.perf_counter()
            async with client.get(paths(i), headers=headers(i)) as response:
                await response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if i >= warmup:
                times.append(elapsed)
                errors += response.status != 200
    return Latency(n, statistics.median(times), percentile(times, 99), errors)


async def throughput(
    base: str,
    paths: Callable[[int], str],
    clients: int,
    seconds: float,
    headers: Headers = _no_headers,
) -> Throughput:
    """`clients` concurrent keep-alive connections for a fixed time."""
    done = 0
    errors = 0
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def worker(client: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            i = next(counter)
            async with client.get(paths(i), headers=headers(i)) as response:
                await response.read()
            done += 1
            errors += response.status != 200

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.monotonic() - started
    return Throughput(done, elapsed, errors)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


@dataclass
class SwipeRun:
    decks: int
    cards: int
    seconds: float
    deck_ms: list[float]
    errors: int

    @property
    def decks_per_s(self) -> float:
        return self.decks / self.seconds

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.deck_ms) if self.deck_ms else 0.0

    @property
    def p99_ms(self) -> float:
        return percentile(self.deck_ms, 99) if self.deck_ms else 0.0


async def swipe_sessions(
    base: str,
    tokens: list[str],
    clients: int,
    decks_each: int = 5,
    fresh: bool = False,
    swipe: bool = True,
    together: bool = False,
) -> SwipeRun:
    """Each person (one token) fetches a deck of 20, swipes every card (a quarter right, which
    opens a room), fetches the next, `decks_each` times; `clients` people at once. With
    `fresh` every deck is ranked from scratch (how decks were served before sessions); without
    `swipe` decks follow each other with no swipes between (the deck's own cost). Swipes go
    one request each, or with `together` a page's swipes in one request (`/v1/feed/swipes`)."""
    people = iter(tokens)
    deck_ms: list[float] = []
    decks = cards = errors = 0
    query = "/v1/feed?limit=20" + ("&fresh=true" if fresh else "")

    async def person(client: aiohttp.ClientSession, token: str, rng: random.Random) -> None:
        nonlocal decks, cards, errors
        auth = {"authorization": f"Bearer {token}"}
        for _ in range(decks_each):
            started = time.perf_counter()
            async with client.get(query, headers=auth) as response:
                body = await response.json() if response.status == 200 else None
            deck_ms.append((time.perf_counter() - started) * 1000)
            decks += 1
            if body is None:
                errors += 1
                return
            page = [
                {
                    "product_id": card["product"]["id"],
                    "dir": "right" if rng.random() < 0.25 else "left",
                }
                for card in (body["items"] if swipe else ())
            ]
            if together and page:
                batch = {"swipes": page}
                async with client.post("/v1/feed/swipes", json=batch, headers=auth) as swiped:
                    await swiped.read()
                    errors += swiped.status != 200
            for one in [] if together else page:
                url = f"/v1/products/{one['product_id']}/swipe"
                async with client.post(url, json={"dir": one["dir"]}, headers=auth) as swiped:
                    await swiped.read()
                    errors += swiped.status != 200
            cards += len(page)

    async def worker(client: aiohttp.ClientSession, seed: int) -> None:
        rng = random.Random(seed)
        for token in people:
            await person(client, token, rng)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client, k) for k in range(clients)))
        elapsed = time.monotonic() - started
    return SwipeRun(decks, cards, elapsed, deck_ms, errors)


# ---- the two backends side by side ----------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure on each backend (None: not measured). `better`: "lower" (times),
    "higher" (rates), or "" (a count that must agree, or be 0: no ratio)."""

    label: str
    falkordb: float | None
    neo4j: float | None
    unit: str = ""
    better: str = "lower"
    digits: int = 1
    # no graph behind it (the bare endpoint): its ratio is the noise between the two runs
    reference: bool = False

    def cell(self, value: float | None) -> str:
        if value is None:
            return "—"
        text = f"{value:,.{self.digits}f}"
        return f"{text} {self.unit}" if self.unit else text

    @property
    def ratio(self) -> float | None:
        """Neo4j ÷ FalkorDB."""
        if not self.better or self.falkordb is None or self.neo4j is None or not self.falkordb:
            return None
        return self.neo4j / self.falkordb

    @property
    def winner(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return ""
        if self.reference:
            return "(no graph: run-to-run noise)"
        if 1 / 1.05 <= ratio <= 1.05:
            return "even"
        neo4j_better = ratio < 1 if self.better == "lower" else ratio > 1
        return "Neo4j" if neo4j_better else "FalkorDB"

    def row(self) -> str:
        ratio = self.ratio
        shown = "—" if ratio is None else f"{ratio:.2f}"
        if ratio is not None and ratio >= 10:
            shown = f"{ratio:.0f}"
        return (
            f"| {self.label} | {self.cell(self.falkordb)} | {self.cell(self.neo4j)} | {shown} | "
            f"{self.winner} |"
        )


COMPARE_HEADER = [
    "| | FalkorDB | Neo4j | Neo4j ÷ FalkorDB | better |",
    "|---|---:|---:|---:|---|",
]
RATIO_NOTE = (
    "Neo4j ÷ FalkorDB: above 1, Neo4j took longer (times) or did more (rates); `better` names "
    "the backend that did better (lower time, higher rate), `even` within 5%."
)


def compare(figures: list[Figure]) -> list[str]:
    """A markdown table: each figure on FalkorDB, on Neo4j, and their ratio."""
    return [*COMPARE_HEADER, *(f.row() for f in figures)]


def figure(
    label: str,
    results: Mapping[str, Any],
    get: Callable[[Any], float | None],
    unit: str = "",
    better: str = "lower",
    digits: int = 1,
    reference: bool = False,
) -> Figure:
    """A Figure from each backend's results (a backend that did not run: None)."""
    values = {b: get(r) if r is not None else None for b, r in results.items()}
    falkordb, neo4j = values.get("falkordb"), values.get("neo4j")
    return Figure(label, falkordb, neo4j, unit, better, digits, reference)


def on_each(
    databases: Mapping[str, Database], measure: Callable[[Database], Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """`measure` on each database in turn (`asyncio.run` of what it returns): ({backend:
    result or None}, {backend: why it failed}). A backend that fails costs the other backend
    none of its figures: the report shows what failed and where."""
    results: dict[str, Any] = dict.fromkeys(BACKENDS)
    failures: dict[str, str] = {}
    for backend, database in databases.items():
        started = time.monotonic()
        print(f"-- {database.label} ...", file=sys.stderr, flush=True)
        try:
            results[backend] = asyncio.run(measure(database))
        except Exception as exc:  # reported, and the run exits non-zero
            traceback.print_exc()
            failures[backend] = f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            database.stop()
        took = (time.monotonic() - started) / 60
        print(f"-- {database.label}: {took:.1f} min", file=sys.stderr, flush=True)
    return results, failures


def failed_lines(databases: Mapping[str, Database], failures: Mapping[str, str]) -> list[str]:
    """What the report says about a backend that did not finish."""
    return [
        f"**{databases[b].label} did not finish** (its column is empty): `{why}`\n"
        for b, why in failures.items()
    ]


def chosen(spec: str, bench: Callable[[str], Database]) -> dict[str, Database]:
    """The databases named in `--backends falkordb,neo4j`, in that fixed order."""
    names = {b.strip() for b in spec.split(",") if b.strip()}
    unknown = names - set(BACKENDS)
    if unknown:
        raise SystemExit(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return {b: bench(b) for b in BACKENDS if b in names}
