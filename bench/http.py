"""HTTP figures with a load generator that does not hide the server (issue 39): wrk drives a
bare Sanic JSON endpoint and `vendr serve` (two HTTP workers each, rate limits off, demo data)
in the same run, each route of the issue's table, with the ratio of each to the bare endpoint;
browse pages with the cache off at one connection; Redis commands per request (the embedded
server's counters); then py-spy on the workers during the three most expensive routes, and
where their CPU goes, into bench/http.md.

    python -m bench.http [--seconds 8] [--backends falkordb,neo4j] [--out bench/http.md]
                         [--only feed]  # the routes whose keys start so (and the heartbeat)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import spy, wrk
from bench.common import (
    BACKENDS,
    BIN,
    ROOT,
    Database,
    chosen,
    failed_lines,
    free_port,
    machine,
    on_each,
    server,
)
from graph.bootstrap import bootstrap, shutdown
from graph.infra import embedded
from seeds.loader import DEMO_PASSWORD, load_demo_if_empty

REPORT = ROOT / "bench" / "http.md"
CONNECTIONS, FEED_CONNECTIONS = 32, 16
WARM_SECONDS = 2.0
MESSAGES = 30  # in the room whose messages are read
NEAR = "52.3676,4.9041"  # Amsterdam, the demo data's biggest city
DEMO_EMAIL = "anna@demo.vendr.test"
PROFILED = 3  # the most expensive routes profiled
PROFILES = ROOT / "var" / "bench-http" / "profiles"  # py-spy's raw stacks, kept
WORKERS = 2  # HTTP workers of each server
# demo people for the feed in turn: one person's deck runs dry within the run (1,000 listings,
# no card twice), after which the figure would be of empty answers
PEOPLE = "MATCH (u:User) WHERE u.status = 'active' RETURN u.id AS id ORDER BY u.id LIMIT $n"
PEOPLE_N = 200


@dataclass(frozen=True)
class Route:
    key: str
    label: str
    path: str  # with {product} / {room} filled in once the fixture is known
    connections: int = CONNECTIONS
    token: bool = False
    people: bool = False  # many people's tokens in turn
    cached: bool = False  # a browse page or detail: measured again with the cache off


ROUTES = (
    Route("heartbeat", "`GET /v1/heartbeat`", "/v1/heartbeat"),
    Route(
        "newest",
        "`GET /v1/products?sort=newest&limit=20`",
        "/v1/products?sort=newest&limit=20",
        cached=True,
    ),
    Route(
        "tags",
        "`GET /v1/products?tags=vintage&limit=20`",
        "/v1/products?tags=vintage&limit=20",
        cached=True,
    ),
    Route(
        "near",
        "`GET /v1/products?near=…&sort=distance`",
        f"/v1/products?near={NEAR}&radius_km=10&sort=distance&limit=20",
        cached=True,
    ),
    Route("detail", "`GET /v1/products/{id}` (anonymous)", "/v1/products/{product}", cached=True),
    Route("me", "`GET /v1/users/me` (a token)", "/v1/users/me", token=True),
    Route(
        "messages",
        "`GET /v1/rooms/{id}/messages` (a token)",
        "/v1/rooms/{room}/messages?limit=20",
        token=True,
    ),
    Route(
        "feed",
        f"`GET /v1/feed?limit=20` ({FEED_CONNECTIONS} connections, same person)",
        "/v1/feed?limit=20",
        connections=FEED_CONNECTIONS,
        token=True,
    ),
    Route(
        "feed_people",
        f"`GET /v1/feed?limit=20` ({FEED_CONNECTIONS} connections, {PEOPLE_N} people in turn)",
        "/v1/feed?limit=20",
        connections=FEED_CONNECTIONS,
        people=True,
    ),
)


@dataclass
class Fixture:
    token: str
    product: str
    room: str
    people: tuple[str, ...] = ()

    def url(self, base: str, route: Route) -> str:
        return base + route.path.format(product=self.product, room=self.room)


@dataclass
class Run:
    """One backend's figures."""

    bare: wrk.Result
    routes: dict[str, wrk.Result]
    commands: dict[str, dict[str, float]]  # route -> Redis commands per request
    cpu: dict[str, Cpu]  # route (and "bare") -> CPU per request
    uncached: dict[str, wrk.Result]  # cache off, one connection
    feed_solo: wrk.Result | None
    profiles: dict[str, tuple[wrk.Result, spy.Profile]] = field(default_factory=dict)
    setup_s: float = 0.0

    def ratio(self, key: str) -> float:
        return self.routes[key].rps / self.bare.rps


def _redis(database: Database) -> redis.Redis:
    info, _ = embedded.start(database.data_dir)
    return redis.Redis.from_url(info.url)


def _counts(client: redis.Redis) -> Counter[str]:
    stats: dict[str, Any] = client.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})


def _descendants(pid: int) -> list[int]:
    """`pid` and every process under it (the Sanic workers of a server)."""
    found, todo = [], [pid]
    while todo:
        one = todo.pop()
        found.append(one)
        for task in Path(f"/proc/{one}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in task.read_text().split()]
    return found


def _cpu_s(pids: list[int]) -> float:
    """User and system CPU seconds the processes have used so far (from /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    """CPU seconds of this process's finished children (each wrk run)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@dataclass(frozen=True)
class Cpu:
    """CPU milliseconds per request: the server's processes, the graph's server, wrk."""

    server_ms: float
    graph_ms: float
    wrk_ms: float


def _per_request(before: Counter[str], after: Counter[str], requests: int) -> dict[str, float]:
    """The Redis commands between two `_counts` per request (INFO's own call left out)."""
    after["info"] -= 1
    return {name: calls / max(1, requests) for name, calls in (after - before).items()}


def _fixture(base: str, people: tuple[str, ...]) -> Fixture:
    """A demo person's token, a listing someone else sells, and a room about it with
    `MESSAGES` messages in it."""
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post("/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        login.raise_for_status()
        token, me = login.json()["token"], login.json()["user"]["id"]
        auth = {"authorization": f"Bearer {token}"}
        page = client.get("/v1/products", params={"sort": "newest", "limit": 50})
        page.raise_for_status()
        product = next(p["id"] for p in page.json()["items"] if p["seller"]["id"] != me)
        room = client.post("/v1/rooms", json={"product_id": product}, headers=auth)
        room.raise_for_status()
        room_id = room.json()["id"]
        for i in range(MESSAGES):
            sent = client.post(
                f"/v1/rooms/{room_id}/messages",
                json={"text": f"still for sale? ({i})"},
                headers=auth,
            )
            sent.raise_for_status()
    return Fixture(token, product, room_id, people)


def _api_env(database: Database, port: int, **extra: str) -> dict[str, str]:
    return (
        database.env()
        | {
            "VENDR_PORT": str(port),
            "VENDR_WORKERS": str(WORKERS),
            "VENDR_RATE_LIMITS": "off",
            "VENDR_JOBS_INTERVAL_SECONDS": "0",
        }
        | extra
    )


def chosen_routes(only: str) -> tuple[Route, ...]:
    """The routes whose keys start with one of `only`'s comma-separated words (every route
    when empty), with the heartbeat kept: the feed's note compares answers with it."""
    words = [w for w in only.split(",") if w]
    if not words:
        return ROUTES
    return tuple(r for r in ROUTES if r.key == "heartbeat" or r.key.startswith(tuple(words)))


def _drive(
    database: Database, seconds: float, people: tuple[str, ...], only: tuple[Route, ...]
) -> Run:
    """Both servers up, every route driven in turn, then the profiles, then the cache off."""
    counter = _redis(database)
    api_port, bare_port = free_port(), free_port()
    api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
    bare_env = {"BARE_PORT": str(bare_port), "BARE_WORKERS": str(WORKERS)}
    serve = [str(BIN / "vendr"), "serve"]

    def load(
        url: str, route: Route | None, fixture: Fixture, conns: int = 0, s: float = 0.0
    ) -> wrk.Result:
        return wrk.run(
            url,
            connections=conns or (route.connections if route else CONNECTIONS),
            seconds=s or seconds,
            token=fixture.token if route and route.token else "",
            tokens=fixture.people if route and route.people else (),
        )

    with (
        server(serve, _api_env(database, api_port), api + "/v1/heartbeat") as api_proc,
        server([str(BIN / "python"), "-m", "bench.bare"], bare_env, bare + "/bare") as bare_proc,
    ):
        graph_pid, _ = database.start()

        def measured(url: str, route: Route | None, pid: int) -> tuple[wrk.Result, Cpu]:
            """A wrk run, and the CPU each request cost the server, the graph, wrk."""
            pids = _descendants(pid)
            before = (_cpu_s(pids), _cpu_s([graph_pid]), _children_cpu_s())
            result = load(url, route, fixture)
            after = (_cpu_s(pids), _cpu_s([graph_pid]), _children_cpu_s())
            each = [
                1000 * (b - a) / max(1, result.requests) for a, b in zip(before, after, strict=True)
            ]
            return result, Cpu(*each)

        fixture = _fixture(api, people)
        # every URL once under load first (not measured): caches filled, statements planned
        load(bare + "/bare", None, fixture, s=WARM_SECONDS)
        for route in only:
            load(fixture.url(api, route), route, fixture, s=WARM_SECONDS)
        print("   warm; measuring", flush=True)
        bare_result, bare_cpu = measured(bare + "/bare", None, bare_proc.pid)
        cpu = {"bare": bare_cpu}
        routes: dict[str, wrk.Result] = {}
        commands: dict[str, dict[str, float]] = {}
        for route in only:
            before = _counts(counter)
            routes[route.key], cpu[route.key] = measured(
                fixture.url(api, route), route, api_proc.pid
            )
            commands[route.key] = _per_request(before, _counts(counter), routes[route.key].requests)
            print(f"   {route.key}: {routes[route.key].rps:,.0f} req/s", flush=True)
        feed = next((r for r in only if r.key == "feed_people"), None)
        feed_solo = load(fixture.url(api, feed), feed, fixture, conns=1) if feed else None
        run = Run(bare_result, routes, commands, cpu, {}, feed_solo)
        costly = sorted(
            (r for r in only if r.key not in ("heartbeat", "feed")),
            key=lambda r: routes[r.key].rps,
        )[:PROFILED]
        PROFILES.mkdir(parents=True, exist_ok=True)
        for route in costly:
            out = PROFILES / f"{database.backend}-{route.key}.txt"
            with spy.recording(api_proc.pid, max(1.0, seconds - 1), out):
                result = load(fixture.url(api, route), route, fixture)
            run.profiles[route.key] = (result, spy.parse(out.read_text()))
            print(f"   profiled {route.key}", flush=True)
    if not any(route.cached for route in only):
        return run
    cold_env = _api_env(database, api_port, VENDR_CACHE_TTL_SECONDS="0")
    with server(serve, cold_env, api + "/v1/heartbeat"):
        for route in only:
            if route.cached:
                load(fixture.url(api, route), route, fixture, conns=1, s=WARM_SECONDS)
                run.uncached[route.key] = load(fixture.url(api, route), route, fixture, conns=1)
    return run


async def measure(database: Database, seconds: float, only: tuple[Route, ...] = ROUTES) -> Run:
    """A fresh graph with the demo data and tokens for its people, then `_drive` on it."""
    started = time.monotonic()
    database.fresh()
    database.inspect()
    services = await bootstrap(database.settings())
    try:
        await load_demo_if_empty(services)
        rows = await services.store.run_text(PEOPLE, {"n": PEOPLE_N}, write=False)
        people = tuple([await services.sessions.issue(row["id"]) for row in rows])
    finally:
        await shutdown(services)
    setup_s = time.monotonic() - started
    run = await asyncio.to_thread(_drive, database, seconds, people, only)
    run.setup_s = setup_s
    return run


# ---- the report ----------------------------------------------------------------------------

TARGETS = (  # issue 39's, ratios to the bare endpoint in the same run
    (
        "cached browse pages and anonymous detail ≥ 0.33 of bare",
        ("newest", "tags", "near", "detail"),
        0.33,
    ),
    ("authenticated simple reads ≥ 0.25 of bare", ("me", "messages"), 0.25),
    ("feed decks ≥ 0.025 of bare at 16 connections (people in turn)", ("feed_people",), 0.025),
)


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _commands(per: dict[str, float]) -> str:
    total = sum(per.values())
    if total < 0.05:
        return "0"
    top = sorted(per.items(), key=lambda item: -item[1])[:4]
    shown = ", ".join(f"{n} {v:.1f}" for n, v in top if v >= 0.05)
    return f"{total:.1f} ({shown})" if shown else f"{total:.1f}"


def _cpu(cpu: Cpu) -> str:
    return f"{cpu.server_ms:.2f} · {cpu.graph_ms:.2f} · {cpu.wrk_ms:.2f}"


def _table(run: Run) -> list[str]:
    r = run.bare
    lines = [
        f"| request | connections | req/s | p50 | p99 | ÷ bare ({r.rps:,.0f} req/s) "
        "| CPU ms per request: server · graph · wrk | Redis commands per request "
        "| bytes per answer | not 2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        f"| bare Sanic endpoint | {CONNECTIONS} | {r.rps:,.0f} | {_ms(r.p50_ms)} | "
        f"{_ms(r.p99_ms)} | 1 | {_cpu(run.cpu['bare'])} | — | {r.bytes_each:,.0f} | "
        f"{r.non_2xx + r.errors} |",
    ]
    for route in _ran(run):
        r = run.routes[route.key]
        lines.append(
            f"| {route.label} | {route.connections} | {r.rps:,.0f} | {_ms(r.p50_ms)} | "
            f"{_ms(r.p99_ms)} | {run.ratio(route.key):.3f} | {_cpu(run.cpu[route.key])} | "
            f"{_commands(run.commands[route.key])} | {r.bytes_each:,.0f} | "
            f"{r.non_2xx + r.errors} |"
        )
    return lines


def _ran(run: Run) -> list[Route]:
    return [route for route in ROUTES if route.key in run.routes]


def _feed_note(run: Run) -> str:
    """Whether the one person's deck ran dry in this run (the issue's feed row)."""
    if "feed" not in run.routes:
        return ""
    alone, empty = run.routes["feed"].bytes_each, run.routes["heartbeat"].bytes_each
    text = (
        "The feed deals one person no card twice (1,000 listings): the issue's row, one person "
        "on every connection, "
    )
    if alone < 2 * empty:
        text += (
            f"ran their deck dry during the warm-up, and measures empty answers ({alone:,.0f} "
            f"bytes per answer, the heartbeat's {empty:,.0f})"
        )
    else:
        text += f"had cards left in this run ({alone:,.0f} bytes per answer)"
    return text + ". The row below it is the real deck: 200 people in turn."


def _targets(run: Run) -> list[str]:
    lines = []
    for text, keys, floor in TARGETS:
        if any(k not in run.routes for k in keys):
            continue
        worst = min(run.ratio(k) for k in keys)
        lines.append(f"- {text}: lowest {worst:.3f} — {'met' if worst >= floor else 'NOT met'}")
    if run.uncached:
        cold = max(r.p99_ms for r in run.uncached.values())
        lines.append(
            f"- uncached browse p99 < 50 ms at one connection: highest {_ms(cold)} — "
            f"{'met' if cold < 50 else 'NOT met'}"
        )
    if run.feed_solo is None:
        return lines
    solo = run.feed_solo.p99_ms
    lines.append(
        f"- feed decks p99 < 50 ms at one connection: {_ms(solo)} — "
        f"{'met' if solo < 50 else 'NOT met'}"
    )
    return lines


def _uncached(run: Run) -> list[str]:
    lines = ["| request (cache off, 1 connection) | req/s | p50 | p99 |", "|---|---:|---:|---:|"]
    for route in ROUTES:
        if route.key in run.uncached:
            r = run.uncached[route.key]
            lines.append(f"| {route.label} | {r.rps:,.0f} | {_ms(r.p50_ms)} | {_ms(r.p99_ms)} |")
    f = run.feed_solo
    if f is not None:
        lines.append(
            f"| `GET /v1/feed?limit=20` (cache as usual, 1 connection) | {f.rps:,.0f} | "
            f"{_ms(f.p50_ms)} | {_ms(f.p99_ms)} |"
        )
    return lines


def _profiles(run: Run) -> list[str]:
    lines = []
    labels = {r.key: r.label for r in ROUTES}
    for key, (result, profile) in run.profiles.items():
        cpu = run.cpu[key]
        lines += [
            f"#### {labels[key]}",
            "",
            f"{result.rps:,.0f} req/s while profiled ({profile.samples:,} samples of the "
            "workers' stacks whenever they were not waiting for I/O: running, or ready to run "
            "on the shared cores). CPU per request in the measured run (from /proc): "
            f"{cpu.server_ms:.2f} ms in the API's processes, {cpu.graph_ms:.2f} ms in the "
            "graph's server.",
            "",
            *spy.summary(profile),
            "",
        ]
    return lines


def _side_by_side(results: dict[str, Run | None], databases: dict[str, Database]) -> list[str]:
    ran = {b: r for b, r in results.items() if r is not None}
    if len(ran) < 2:
        return []
    names = [databases[b].label for b in ran]
    head = " | ".join(f"{n} req/s | {n} p99 | {n} ÷ bare" for n in names)
    lines = ["## Side by side", "", f"| request | {head} |", "|---|" + "---:|" * 3 * len(ran)]
    lines.append(
        "| bare Sanic endpoint | "
        + " | ".join(f"{r.bare.rps:,.0f} | {_ms(r.bare.p99_ms)} | 1" for r in ran.values())
        + " |"
    )
    for route in _ran(next(iter(ran.values()))):
        cells = " | ".join(
            f"{r.routes[route.key].rps:,.0f} | {_ms(r.routes[route.key].p99_ms)} | "
            f"{r.ratio(route.key):.3f}"
            for r in ran.values()
        )
        lines.append(f"| {route.label} | {cells} |")
    return [*lines, ""]


def markdown(
    results: dict[str, Run | None],
    databases: dict[str, Database],
    failures: dict[str, str],
    seconds: float,
    load: float,
) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# HTTP: each route against a bare Sanic endpoint, driven by wrk",
        "",
        f"`make bench` (`python -m bench.http`), {when}, {machine()}. **The machine is "
        "shared** (2 cores, other sessions' tests and "
        f"builds on it: load average {load:.1f} when this run began), and **every figure and "
        "ratio is from this one run**: a second run moves them by tens of percent.",
        "",
        f"- **Load generator**: {wrk.version()} (`-t2 -c{CONNECTIONS} -d{seconds:g}s --latency`, "
        "bench/wrk.lua adds the bearer token and prints the exact percentiles), on the same "
        "2 cores as the servers: what wrk spends is taken from them, as for any client here.",
        f"- **Servers**: the bare endpoint (bench/bare.py) and `vendr serve`, 2 HTTP workers "
        "each, both up for the whole run, driven one at a time; Vendr with rate limits off, "
        "the sweeper off (`VENDR_JOBS_INTERVAL_SECONDS=0`), production mode, the demo data "
        "(200 people, 1,000 listings), cache as configured (30 s), a logged-in demo person's "
        f"token, a room with {MESSAGES} messages. Every URL was driven for {WARM_SECONDS:g} s "
        "first, not measured (caches filled, statements planned).",
        "- **CPU per request**: user + system CPU from /proc before and after each run over "
        "wrk's count, of the server's processes (its workers, and for Vendr the background "
        "worker process beside them), of the graph's server (FalkorDB's redis-server, which "
        "is also the Redis; or Neo4j's JVM) and of wrk itself: what the client takes from the "
        "same 2 cores.",
        "- **Redis commands per request**: the embedded server's `INFO commandstats` before "
        "and after each route's run over wrk's count (FalkorDB's graph statements are "
        "`GRAPH.*` commands on the same server; Neo4j's go over Bolt and are not counted).",
        "- **Uncached**: a second `vendr serve` with `VENDR_CACHE_TTL_SECONDS=0`, one connection.",
        f"- **Profiles**: the {PROFILED} routes with the fewest req/s (heartbeat aside) driven "
        f"again while `py-spy record --subprocesses` sampled the workers ({spy.RATE} Hz, "
        "non-blocking; raw stacks kept in var/bench-http/profiles/). Each sample is put in the "
        "group of the frame nearest the top of its stack that has one (its own time by layer; "
        "asyncio's and native frames passed over, so a socket write counts for whoever asked "
        "for it); Redis by the Vendr frame that called it. redis-py sends each command under "
        "`asyncio.wait_for` when a socket timeout is set, a task of its own whose stack no "
        "longer shows the caller: that time is `Redis: caller not on the stack`, and the "
        "Redis-commands column says whose it is (on FalkorDB `GRAPH.*` are graph statements). "
        "`event loop` is uvloop's own time (native: shown as the frame that started it). "
        "Shares are of samples, not of CPU: on a shared machine a worker ready to run but "
        "waiting for a core is sampled too; the CPU columns above are the CPU.",
        "",
        *failed_lines(databases, failures),
    ]
    lines += _side_by_side(results, databases)
    for backend, run in results.items():
        if run is None:
            continue
        label = databases[backend].label
        lines += [
            f"## {label}",
            "",
            f"{databases[backend].describe()}; setup (fresh graph, demo data) {run.setup_s:.0f} s.",
            "",
            *_table(run),
            "",
            _feed_note(run),
            "",
            "Issue 39's targets, in this run:",
            "",
            *_targets(run),
            "",
            "### Cache off, one connection",
            "",
            *_uncached(run),
            "",
            "### Where the time goes: the three most expensive routes",
            "",
            *_profiles(run),
        ]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--backends", default="falkordb", help=f"of {','.join(BACKENDS)}")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--only", default="", help="routes whose keys start so, e.g. feed")
    args = parser.parse_args()
    only = chosen_routes(args.only)
    wrk.command()  # fails now, not after the load, when there is no wrk
    databases = chosen(
        args.backends,
        lambda b: Database(b, ROOT / "var" / f"bench-http-{b}", server_jvm=True),
    )
    load = os.getloadavg()[0]
    results, failures = on_each(databases, lambda d: measure(d, args.seconds, only))
    report = markdown(results, databases, failures, args.seconds, load)
    args.out.write_text(report)
    print(report)
    if failures:
        raise SystemExit(f"did not finish on {', '.join(failures)}: see the report")


if __name__ == "__main__":
    main()
