"""Catalog benchmark: bulk-load rate at 10k users / 100k listings / 1M interactions, then a
realistic browse mix, feed swipe sessions and the upkeep passes, through the HTTP API beside a
bare Sanic endpoint in the same run. On the embedded FalkorDB and on Neo4j in the same run:
the same generated data loaded into each in turn, the same requests.

    python -m bench.catalog [--users 10000 --products 100000 --interactions 1000000]
                            [--backends falkordb,neo4j]                        (make bench)
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench import backends, rebuild
from bench.common import (
    BACKENDS,
    BIN,
    RATIO_NOTE,
    ROOT,
    Database,
    Figure,
    Latency,
    SwipeRun,
    Throughput,
    await_indexes,
    chosen,
    compare,
    failed_lines,
    figure,
    free_port,
    latency,
    machine,
    on_each,
    percentile,
    server,
    swipe_sessions,
    throughput,
)
from graph.bootstrap import bootstrap, shutdown
from seeds.generator import CITIES, TAXONOMY, Dataset, generate
from seeds.loader import LoadReport, load

REPORT = ROOT / "bench" / "catalog.md"
SWIPERS, SOLO = 200, 40  # people in a swipe-session run at 16 clients, and at one
WARM = 12  # people whose decks and swipes warm each server up first (not measured)
WARM_REQUESTS, WARM_REQUESTS_FROM = 300, 1_000_000  # browse requests i = 1M.. warm it up
Kinds = dict[str, tuple[int, float, float]]  # kind -> (requests, p50 ms, p99 ms)
WORDS = ("bike", "jacket", "vinyl", "table", "lamp", "camera", "sofa", "lego", "guitar", "coat")


def browse_mix(product_ids: list[str]) -> tuple[list[tuple[str, int]], Callable[[int], str]]:
    """(kind, weight) pairs and a function i -> path; deterministic per request index."""
    kinds = [
        ("newest", 20),
        ("near", 15),
        ("near_tag", 10),
        ("tag", 15),
        ("text", 10),
        ("tag_price", 10),
        ("hype", 5),
        ("detail", 15),
    ]

    def path(i: int) -> str:
        rng = random.Random(i)
        kind = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        city = rng.choice(CITIES)
        cat = rng.choice(TAXONOMY)
        near = f"{city[1]:.4f},{city[2]:.4f}"
        query: dict[str, str] = {
            "newest": {},
            "near": {"near": near, "radius_km": "10", "sort": "distance"},
            "near_tag": {"near": near, "radius_km": "25", "tags": cat.name},
            "tag": {"tags": rng.choice(cat.tags)},
            "text": {"q": rng.choice(WORDS)},
            "tag_price": {
                "tags": cat.name,
                "min_price": str(cat.price_range[0] * 2),
                "max_price": str(cat.price_range[1] // 2),
                "sort": "price_asc",
            },
            "hype": {"sort": "hype"},
            "detail": {},
        }[kind]
        if kind == "detail":
            return f"/v1/products/{rng.choice(product_ids)}"
        return "/v1/products" + ("?" + urlencode(query) if query else "")

    return kinds, path


async def by_kind(
    base: str, kinds: list[tuple[str, int]], path: Callable[[int], str], n: int
) -> Kinds:
    """Single-client latency per request kind, to see which part of the mix is slow."""
    times: dict[str, list[float]] = defaultdict(list)
    async with aiohttp.ClientSession(base_url=base) as client:
        for i in range(n):
            url = path(i)
            started = time.perf_counter()
            async with client.get(url) as response:
                await response.read()
            times[_kind_of(url)].append((time.perf_counter() - started) * 1000)
    return {k: (len(v), percentile(v, 50), percentile(v, 99)) for k, v in sorted(times.items())}


def _kind_of(url: str) -> str:
    if "/products/" in url:
        return "detail"
    for marker, kind in (
        ("q=", "text"),
        ("near=", "near"),
        ("min_price", "tag_price"),
        ("hype", "hype"),
        ("tags=", "tag"),
    ):
        if marker in url:
            return kind + ("+tag" if kind == "near" and "tags=" in url else "")
    return "newest"


@dataclass
class Run:
    """One backend's figures."""

    loaded: LoadReport
    hype_s: float
    pools_s: float
    api_latency: Latency
    bare_latency: Latency
    kinds_latency: Kinds
    api_rps: Throughput
    bare_rps: Throughput
    swipes: dict[str, SwipeRun]
    cold_latency: Latency
    cold_kinds: Kinds
    stall: dict[str, Any]
    stall_seconds: float
    phases: dict[str, float]  # where this backend's run went, in seconds

    @property
    def seconds(self) -> float:
        """The whole run on this backend, load included."""
        return sum(self.phases.values())

    @property
    def rps_ratio(self) -> float:
        return self.api_rps.rps / self.bare_rps.rps


Results = dict[str, Run | None]  # backend -> its run (None: not run)


async def measure(
    database: Database,
    data: Dataset,
    seconds: float,
    clients: int,
    people: tuple[int, int] = (SWIPERS, SOLO),
) -> Run:
    """Load `data` into a fresh graph on `database`, then browse, swipe and rebuild on it."""
    phases: dict[str, float] = {}
    mark = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal mark
        phases[phase] = time.monotonic() - mark
        mark = time.monotonic()

    database.fresh()
    try:
        database.inspect()
        services = await bootstrap(database.settings())
        try:
            await await_indexes(services.store)
            loaded = await load(services, data)
            lap("start and load")
            # the sweeper's periodic full passes at this scale (a round in between only
            # touches what people engaged with)
            started = time.monotonic()
            await services.jobs.hype()
            hype_s = time.monotonic() - started
            started = time.monotonic()
            await services.pools.rebuild()
            pools_s = time.monotonic() - started
            # feed readers: seeded people who have liked things, logged in
            likers = sorted({row["u"] for row in data.interactions["LIKED"]})
            wanted = 3 * sum(people) + WARM
            if len(likers) < wanted:
                raise ValueError(
                    f"{len(likers)} people liked something: too few for three arms of "
                    f"{sum(people)} and {WARM} to warm up (--swipers, --solo)"
                )
            readers = random.Random(5).sample(likers, wanted)
            tokens = [await services.sessions.issue(user) for user in readers]
        finally:
            await shutdown(services)
        lap("upkeep passes")

        kinds, path = browse_mix([p["id"] for p in data.products])
        api_port, bare_port = free_port(), free_port()
        api_env = database.env() | {
            "VENDR_PORT": str(api_port),
            "VENDR_WORKERS": "2",
            "VENDR_RATE_LIMITS": "off",
            "VENDR_JOBS_INTERVAL_SECONDS": "0",
        }
        bare_env = {"BARE_PORT": str(bare_port), "BARE_WORKERS": "2"}
        api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        with (
            server([str(BIN / "vendr"), "serve"], api_env, api + "/v1/heartbeat"),
            server([str(BIN / "python"), "-m", "bench.bare"], bare_env, bare + "/bare"),
        ):
            # each server first answers requests of the mix (other queries than the measured
            # ones), then its browse cache is emptied: no figure pays for a backend planning a
            # statement it has never seen (Neo4j plans each new one, slowly), and the measured
            # requests meet the cache as right after the load
            await latency(api, lambda i: path(WARM_REQUESTS_FROM + i), WARM_REQUESTS, warmup=0)
            await _empty_browse_cache(database)
            api_latency = await latency(api, path, 1000)
            bare_latency = await latency(bare, lambda i: "/bare", 1000)
            kinds_latency = await by_kind(api, kinds, path, 1500)
            api_rps = await throughput(api, path, clients, seconds)
            bare_rps = await throughput(bare, lambda i: "/bare", clients, seconds)
            lap("browse")
            swipes = await _swipes(api, tokens, clients, people)
            lap("swipe sessions")
        # every request a cache miss: what the graph queries themselves cost
        cold_env = api_env | {"VENDR_CACHE_TTL_SECONDS": "0"}
        with server([str(BIN / "vendr"), "serve"], cold_env, api + "/v1/heartbeat"):
            cold_latency = await latency(api, path, 600)
            cold_kinds = await by_kind(api, kinds, path, 600)
        lap("browse, cache off")
        # a pools rebuild in the HTTP worker's loop (as before) and in another process (now)
        stall_seconds = max(30.0, pools_s * 2)
        stall = await rebuild.measure(api_env, api, path, seconds=stall_seconds)
    finally:
        database.stop()
    lap("browse during rebuilds, and stop")
    return Run(
        loaded,
        hype_s,
        pools_s,
        api_latency,
        bare_latency,
        kinds_latency,
        api_rps,
        bare_rps,
        swipes,
        cold_latency,
        cold_kinds,
        stall,
        stall_seconds,
        phases,
    )


async def _empty_browse_cache(database: Database) -> None:
    """What a catalog change does: cached browse pages are not read again."""
    services = await bootstrap(database.settings(), ensure_schema=False)
    try:
        await services.cache.bump("catalog")
    finally:
        await shutdown(services)


async def _swipes(
    api: str, tokens: list[str], clients: int, people: tuple[int, int]
) -> dict[str, SwipeRun]:
    """Swipe sessions: each arm with people of its own (swiping uses cards up)."""
    swipers, solo = people
    each = swipers + solo
    arms = [tokens[k : k + each] for k in range(0, 3 * each, each)]
    before, one_by_one, together = ((arm[:solo], arm[solo:]) for arm in arms)
    # each kind of session once first, so that no arm pays for the server's first
    # statements (Neo4j plans each statement the first time it sees it, its JVM compiles hot
    # code after a while; FalkorDB caches its plans too)
    warm = tokens[3 * each :]
    third = len(warm) // 3
    await swipe_sessions(api, warm[:third], 2, decks_each=2, fresh=True)
    await swipe_sessions(api, warm[third : 2 * third], 2, decks_each=2)
    await swipe_sessions(api, warm[2 * third :], 2, decks_each=2, together=True)
    runs = {
        "before_solo": await swipe_sessions(api, before[0], 1, fresh=True),
        "before_crowd": await swipe_sessions(api, before[1], clients, fresh=True),
        "single_solo": await swipe_sessions(api, one_by_one[0], 1),
        "single_crowd": await swipe_sessions(api, one_by_one[1], clients),
        "now_solo": await swipe_sessions(api, together[0], 1, together=True),
        "now_crowd": await swipe_sessions(api, together[1], clients, together=True),
    }
    # decks alone, no swipes between (how decks/s were measured before sessions): the same
    # people go on for five more decks each
    runs["only_before"] = await swipe_sessions(api, before[1], clients, fresh=True, swipe=False)
    runs["only_now"] = await swipe_sessions(api, together[1], clients, swipe=False)
    return runs


ARMS = (
    ("before", "before (ranked per deck, a request per swipe)"),
    ("single", "sessions, a request per swipe"),
    ("now", "sessions, a page's swipes together"),
)


def _swipe_figures(results: Results, clients: int) -> list[Figure]:
    def swipe(label: str, key: str, get: Callable[[SwipeRun], float], **kw: Any) -> Figure:
        return figure(label, results, lambda r: get(r.swipes[key]), **kw)

    out = []
    for arm, name in ARMS:
        out.append(
            swipe(f"deck p50, 1 client: {name}", f"{arm}_solo", lambda s: s.p50_ms, unit="ms")
        )
    for arm, name in ARMS:
        out.append(
            swipe(f"deck p99, 1 client: {name}", f"{arm}_solo", lambda s: s.p99_ms, unit="ms")
        )
    for arm, name in ARMS:
        out.append(
            swipe(
                f"decks/s, {clients} clients (swipes included): {name}",
                f"{arm}_crowd",
                lambda s: s.decks_per_s,
                better="higher",
            )
        )
    for arm, name in (("before", "before (ranked per deck)"), ("now", "sessions")):
        out.append(
            swipe(
                f"decks/s, {clients} clients, decks alone (no swipes): {name}",
                f"only_{arm}",
                lambda s: s.decks_per_s,
                better="higher",
            )
        )
    for arm, name in ARMS:
        out.append(
            figure(
                f"cards swiped: {name}",
                results,
                _cards(arm),
                better="",
                digits=0,
            )
        )
    out.append(
        figure(
            "errors, all swipe runs",
            results,
            lambda r: sum(s.errors for s in r.swipes.values()),
            better="",
            digits=0,
        )
    )
    return out


def _cards(arm: str) -> Callable[[Run], float]:
    return lambda r: r.swipes[f"{arm}_solo"].cards + r.swipes[f"{arm}_crowd"].cards


def _stalled(key: str, field: str) -> Callable[[Run], float]:
    return lambda r: float(r.stall[key][field])


def _kinds_table(results: Results, field: str) -> list[str]:
    ran = [r for r in results.values() if r is not None]
    if not ran:
        return []
    tables: dict[str, Kinds | None] = {
        b: getattr(r, field) if r is not None else None for b, r in results.items()
    }
    names = sorted(set().union(*(t for t in tables.values() if t is not None)))

    def cell(backend: str, kind: str, column: int) -> float | None:
        table = tables.get(backend)
        return table[kind][column] if table is not None and kind in table else None

    lines = [
        "| kind | requests | p50 FalkorDB | p50 Neo4j | ÷ | p99 FalkorDB | p99 Neo4j | ÷ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in names:
        count = next(t[kind][0] for t in tables.values() if t is not None and kind in t)
        cells = []
        for column in (1, 2):
            f = Figure(kind, cell("falkordb", kind, column), cell("neo4j", kind, column), "ms")
            ratio = "—" if f.ratio is None else f"{f.ratio:.2f}"
            cells += [f.cell(f.falkordb), f.cell(f.neo4j), ratio]
        lines.append(f"| {kind} | {count} | " + " | ".join(cells) + " |")
    return lines


def markdown(
    results: Results,
    databases: dict[str, Database],
    failures: dict[str, str],
    sizes: tuple[int, int, int],
    generated: tuple[float, int],
    seconds: float,
    clients: int,
    people: tuple[int, int] = (SWIPERS, SOLO),
) -> str:
    users, products, interactions = sizes
    kinds, _ = browse_mix([])
    setup = "; ".join(f"{d.label}: {d.describe()}" for d in databases.values())
    ran = {b: r for b, r in results.items() if r is not None}

    def count(label: str, get: Callable[[Run], float]) -> Figure:
        return figure(label, results, get, better="", digits=0)

    load = [
        figure(
            "loaded (with the hype, trust and pools passes a load ends with)",
            results,
            lambda r: r.loaded.seconds,
            "s",
        ),
        figure("**load rate**", results, lambda r: r.loaded.rows_per_second, "rows/s", "higher", 0),
        count("users written", lambda r: r.loaded.users),
        count("listings written", lambda r: r.loaded.products),
        count("interactions written", lambda r: r.loaded.interactions),
    ]
    browse = [
        figure("p50, 1 client", results, lambda r: r.api_latency.p50_ms, "ms"),
        figure("**p99, 1 client**", results, lambda r: r.api_latency.p99_ms, "ms"),
        figure(
            f"throughput, {clients} clients, {seconds:.0f} s",
            results,
            lambda r: r.api_rps.rps,
            "req/s",
            "higher",
            0,
        ),
        figure(
            "throughput ÷ the bare endpoint's (same run)",
            results,
            lambda r: r.rps_ratio,
            better="higher",
            digits=3,
        ),
        count("errors", lambda r: r.api_latency.errors + r.api_rps.errors),
        figure("cache off: p50, 1 client", results, lambda r: r.cold_latency.p50_ms, "ms"),
        figure("cache off: p99, 1 client", results, lambda r: r.cold_latency.p99_ms, "ms"),
        count("cache off: errors", lambda r: r.cold_latency.errors),
        figure(
            "bare Sanic endpoint: p50, 1 client",
            results,
            lambda r: r.bare_latency.p50_ms,
            "ms",
            reference=True,
        ),
        figure(
            "bare Sanic endpoint: p99, 1 client",
            results,
            lambda r: r.bare_latency.p99_ms,
            "ms",
            reference=True,
        ),
        figure(
            f"bare Sanic endpoint: throughput, {clients} clients",
            results,
            lambda r: r.bare_rps.rps,
            "req/s",
            "higher",
            0,
            reference=True,
        ),
    ]
    upkeep = [
        figure(
            "hype of every active listing (every 10 min by default)",
            results,
            lambda r: r.hype_s,
            "s",
        ),
        figure(
            "feed pools rebuilt from the graph (every 15 min by default)",
            results,
            lambda r: r.pools_s,
            "s",
        ),
    ]
    stall = []
    for key, name in (
        ("before", "rebuild in the HTTP worker (before)"),
        ("after", "rebuild in the background worker (now)"),
    ):
        stall += [
            count(f"{name}: requests", _stalled(key, "n")),
            figure(f"{name}: p50", results, _stalled(key, "p50"), "ms"),
            figure(f"{name}: p99", results, _stalled(key, "p99"), "ms"),
            figure(f"{name}: slowest", results, _stalled(key, "max"), "ms", digits=0),
            count(f"{name}: over 1 s", _stalled(key, "slow")),
        ]
    targets = []
    for backend, r in ran.items():
        sw = r.swipes
        crowd, single = sw["now_crowd"].decks_per_s, sw["single_crowd"].decks_per_s
        before = sw["before_crowd"].decks_per_s
        alone = sw["only_now"].decks_per_s / sw["only_before"].decks_per_s
        targets.append(
            f"- **{databases[backend].label}**: browse p99 under 50 ms at one client "
            f"{'met' if r.api_latency.p99_ms < 50 else 'NOT met'}; throughput at least 0.20 "
            f"of the bare endpoint's {'met' if r.rps_ratio >= 0.2 else 'NOT met'}. "
            f"Sessions ÷ before, decks/s at {clients} clients: **{crowd / before:.2f}x** with "
            f"a page's swipes together (target 3x: {'met' if crowd >= 3 * before else 'NOT met'}"
            f"), {single / before:.2f}x with a request per swipe, **{alone:.2f}x** decks "
            f"alone; deck p99 at one client under 50 ms: "
            f"{'met' if sw['now_solo'].p99_ms < 50 else 'NOT met'}."
        )
    took = [
        f"- {databases[b].label}: {r.seconds / 60:.1f} min ("
        + ", ".join(f"{phase} {s / 60:.1f}" for phase, s in r.phases.items())
        + ")"
        for b, r in ran.items()
    ]
    gen_s, gen_interactions = generated
    lines = [
        "# Catalog benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; API with 2 Sanic workers, "
        f"rate limits off, on each backend in turn, each on a fresh graph: {setup}. "
        "`make bench` writes this file.",
        "",
        *failed_lines(databases, failures),
        f"Both columns load the very same generated marketplace — {users:,} users, "
        f"{products:,} listings, {gen_interactions:,} interactions, generated once in "
        f"{gen_s:.1f} s — and are measured with the very same requests, one backend after "
        "the other (only one database runs at a time).",
        "",
        RATIO_NOTE,
        "",
        "The run on each backend took (minutes):",
        "",
        *took,
        "",
        "## Bulk load",
        "",
        "Batched UNWIND, 5,000 rows a statement; the rate counts users, listings and "
        f"interactions ({users + products + interactions:,} rows asked for).",
        "",
        *compare(load),
        "",
        "## Browse mix through the HTTP API",
        "",
        "Mix: " + ", ".join(f"{k} {w}%" for k, w in kinds) + ". The same client (aiohttp, "
        "keep-alive) hits a bare Sanic JSON endpoint in the same run for scale. Each API "
        f"server first answers {WARM_REQUESTS} requests of the mix with other queries than "
        "the measured ones, and then its browse cache is emptied: no figure pays for a "
        "backend planning a statement it has never seen (Neo4j's first plan of a statement "
        f"takes long), and the swipe arms below are preceded by {WARM} people's decks and "
        "swipes of each kind (not measured either).",
        "",
        *compare(browse),
        "",
        "Browse pages are cached in Redis for 30 s and dropped whenever the catalog changes, so "
        "the first rows mix cache hits with misses (each distinct query misses once); with the "
        "cache off, every request runs its graph query.",
        "",
        "Targets:",
        "",
        *targets,
        "",
        "## Swipe sessions through the HTTP API",
        "",
        "Seeded people who have liked things each fetch a deck (`GET /v1/feed?limit=20`), "
        "swipe every card (a quarter right, which opens a room with the seller), fetch the "
        f"next, five times: {people[0]} people at {clients} clients, {people[1]} at one "
        "client, each arm with people of its own (the decks-alone rows then go on with the "
        "same people, five more decks each, no swipes). Before: every deck ranked from scratch "
        "(`fresh=true`: profile, co-likes, pools, a check against swipes), each swipe a "
        "request. Sessions: the ranking (up to 120) is kept in Redis and dealt a page at a "
        "time; each card comes from a per-listing cache unless the listing or its seller "
        "changed since it was read (then from the graph), and what you swiped or blocked since "
        "is left out. Their swipes go a request each, or a page's swipes in one request "
        "(`POST /v1/feed/swipes`: one write for the swipes, one for the rooms of the right "
        "ones). All arms share the card cache, so before is faster here than it was "
        "before sessions. A request per swipe is twenty writes per deck, each synced to disk "
        "before it answers: they cost more than the deck, so a client that sends swipes one "
        "by one gains little from sessions; sent together they are one write for the swipes "
        "and one for the rooms.",
        "",
        *compare(_swipe_figures(results, clients)),
        "",
        "## Upkeep at this scale",
        "",
        *compare(upkeep),
        "",
        "Between full passes a round recomputes hype and pools only for the listings people "
        "engaged with since the last round.",
        "",
        "## Browse while the pools are rebuilt",
        "",
        "One HTTP worker, cache off, one client browsing (the mix above) through a whole "
        "rebuild of the feed's pools, for twice the rebuild's time on that backend (at least "
        "30 s: "
        + ", ".join(f"{databases[b].label} {r.stall_seconds:.0f} s" for b, r in ran.items())
        + "; so the request counts do not compare). Before: the rebuild runs in the HTTP "
        "worker's own event loop, as the sweeper did until the background worker existed. "
        "Now: it runs in a process of its own (`vendr worker`).",
        "",
        *compare(stall),
        "",
        "## Browse by request kind (1 client)",
        "",
        "Cache on (÷: Neo4j ÷ FalkorDB):",
        "",
        *_kinds_table(results, "kinds_latency"),
        "",
        "Cache off:",
        "",
        *_kinds_table(results, "cold_kinds"),
        "",
    ]
    return "\n".join(lines)


# the figures in bench/backends.md
def headline(results: Results, seconds: float, clients: int) -> list[Figure]:
    def one(label: str, get: Callable[[Run], float], unit: str, better: str = "lower") -> Figure:
        return figure(label, results, get, unit, better, 0 if better == "higher" else 1)

    decks = "sessions, a page's swipes together"
    return [
        one("bulk load rate", lambda r: r.loaded.rows_per_second, "rows/s", "higher"),
        one("browse p50, 1 client", lambda r: r.api_latency.p50_ms, "ms"),
        one("browse p99, 1 client", lambda r: r.api_latency.p99_ms, "ms"),
        one(f"browse throughput, {clients} clients", lambda r: r.api_rps.rps, "req/s", "higher"),
        one("browse p99, cache off, 1 client", lambda r: r.cold_latency.p99_ms, "ms"),
        one(f"feed deck p50, 1 client ({decks})", lambda r: r.swipes["now_solo"].p50_ms, "ms"),
        one(f"feed deck p99, 1 client ({decks})", lambda r: r.swipes["now_solo"].p99_ms, "ms"),
        figure(
            f"feed decks/s, {clients} clients ({decks})",
            results,
            lambda r: r.swipes["now_crowd"].decks_per_s,
            better="higher",
        ),
        one("feed pools rebuild, all listings", lambda r: r.pools_s, "s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--swipers", type=int, default=SWIPERS, help="people per swipe arm")
    parser.add_argument("--solo", type=int, default=SOLO, help="people per one-client arm")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="falkordb,neo4j")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--summary", type=Path, default=backends.RESULTS)
    args = parser.parse_args()
    databases = chosen(
        args.backends,
        lambda b: Database.for_bench(b, ROOT / "var" / f"bench-{b}", graph_name="bench"),
    )
    started = time.monotonic()
    data = generate(
        args.users, args.products, args.interactions, seed=1, now=int(time.time() * 1000)
    )
    generated = (time.monotonic() - started, sum(len(v) for v in data.interactions.values()))
    people = (args.swipers, args.solo)
    results, failures = on_each(
        databases, lambda d: measure(d, data, args.seconds, args.clients, people)
    )
    sizes = (args.users, args.products, args.interactions)
    report = markdown(
        results, databases, failures, sizes, generated, args.seconds, args.clients, people
    )
    args.out.write_text(report)
    print(report)
    size = (
        f"{args.users:,} users, {args.products:,} listings, {generated[1]:,} interactions, the "
        "same generated rows loaded into "
        + (" and ".join(d.label for d in databases.values()) or "no backend")
    )
    setup = "; ".join(f"{d.label}: {d.describe()}" for d in databases.values())
    setup += "".join(f" {databases[b].label} did not finish: {why}" for b, why in failures.items())
    backends.record(
        "catalog", size, setup, headline(results, args.seconds, args.clients), args.summary
    )
    if failures:
        raise SystemExit(f"did not finish on {', '.join(failures)}: see the report")


if __name__ == "__main__":
    main()
