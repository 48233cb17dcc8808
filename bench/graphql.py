"""GraphQL gateway benchmark: browsing listings through `POST /graphql` against the same browse
through REST (`GET /v1/products`) and a bare Sanic endpoint, in one run, on one served app and
one generated catalog (the embedded FalkorDB). Two requests: the newest 20 listings, and the
newest 20 with a tag; the GraphQL query selects every field REST answers for each listing, so
both return the same facts (checked before measuring). Single-client latency and 16-client
throughput, taken in interleaved rounds so that whatever else runs on the machine falls on
every arm alike; then single-client latency with the browse cache off; then one process
profiles the two requests in-process (cProfile) to see where the gateway's time goes.

    python -m bench.graphql [--users 2000 --products 20000 --interactions 200000]   (make bench)
    python -m bench.graphql --quick        (a small smoke run; writes var/graphql-quick.md)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sanic import Sanic

from bench.common import (
    BIN,
    ROOT,
    Database,
    free_port,
    machine,
    percentile,
    server,
)
from graph.bootstrap import bootstrap, shutdown
from seeds.generator import generate
from seeds.loader import load

REPORT = ROOT / "bench" / "graphql.md"
QUICK_REPORT = ROOT / "var" / "graphql-quick.md"
PAGE = 20

# every field of REST's ProductOut, spelled as the gateway spells it
PRODUCT_FIELDS = """
  id title description
  price { amount currency }
  condition localPickup
  shipping { ships price { amount currency } }
  location { lat lon }
  status quantity tags
  images { id url thumbUrl width height }
  seller { id handle displayName kind shopName avatarUrl trustScore }
  hype promoted createdAt updatedAt expiresAt distanceKm
"""
QUERY = (
    "query Browse($filter: ProductFilter, $first: Int!) {\n"
    "  products(filter: $filter, first: $first) {\n"
    "    edges { node {" + PRODUCT_FIELDS + "} }\n"
    "    pageInfo { hasNextPage endCursor }\n"
    "  }\n"
    "}"
)
JSON_BODY = {"content-type": "application/json"}


# ---- the requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request: method, path, body (bytes already encoded, so no arm pays the client for
    encoding) and whether its answer is GraphQL (whose errors come with a 200)."""

    method: str
    path: str
    body: bytes | None = None
    graphql: bool = False


def _graphql_call(tag: str | None) -> Call:
    variables: dict[str, Any] = {"first": PAGE}
    if tag is not None:
        variables["filter"] = {"tags": [tag]}
    body = json.dumps({"query": QUERY, "variables": variables}).encode()
    return Call("POST", "/graphql", body, graphql=True)


def arms(tags: list[str]) -> dict[str, Callable[[int], Call]]:
    """Each arm: request index -> its request. The tagged arms cycle through every tag in the
    same order, REST's and GraphQL's alike."""
    bare = Call("GET", "/bare")
    rest = Call("GET", f"/v1/products?limit={PAGE}")
    gql = _graphql_call(None)
    rest_tag = [Call("GET", f"/v1/products?limit={PAGE}&tags={t}") for t in tags]
    gql_tag = [_graphql_call(t) for t in tags]
    return {
        "bare": lambda i: bare,
        "rest": lambda i: rest,
        "graphql": lambda i: gql,
        "rest_tag": lambda i: rest_tag[i % len(rest_tag)],
        "graphql_tag": lambda i: gql_tag[i % len(gql_tag)],
    }


LABELS = {
    "bare": "bare Sanic endpoint (`GET /bare`)",
    "rest": f"REST `GET /v1/products?limit={PAGE}`",
    "graphql": f"GraphQL `products(first: {PAGE})`",
    "rest_tag": f"REST `GET /v1/products?limit={PAGE}&tags=…`",
    "graphql_tag": f"GraphQL `products(first: {PAGE}, filter: {{tags: […]}})`",
}
PAIRS = (("graphql", "rest"), ("graphql_tag", "rest_tag"))


async def _send(client: aiohttp.ClientSession, call: Call) -> tuple[bool, bytes]:
    headers = JSON_BODY if call.body is not None else None
    async with client.request(call.method, call.path, data=call.body, headers=headers) as response:
        body = await response.read()
        ok = response.status == 200 and not (call.graphql and b'"errors"' in body)
    return ok, body


# ---- measuring -------------------------------------------------------------------------------


@dataclass
class Arm:
    """One arm's figures, gathered over the rounds."""

    times_ms: list[float] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else 0.0

    @property
    def p99(self) -> float:
        return percentile(self.times_ms, 99) if self.times_ms else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _latency(base: str, call: Callable[[int], Call], start: int, n: int, into: Arm) -> None:
    """One client, one request at a time: `n` requests, indexes from `start`."""
    async with aiohttp.ClientSession(base_url=base) as client:
        for i in range(start, start + n):
            started = time.perf_counter()
            ok, _ = await _send(client, call(i))
            into.times_ms.append((time.perf_counter() - started) * 1000)
            into.errors += not ok


async def _throughput(
    base: str, call: Callable[[int], Call], clients: int, seconds: float, into: Arm
) -> None:
    """`clients` keep-alive connections for `seconds`."""
    done = errors = 0
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    async def worker(client: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            ok, _ = await _send(client, call(next(counter)))
            done += 1
            errors += not ok

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        into.seconds += time.monotonic() - started
    into.requests += done
    into.errors += errors


async def _warm(bases: dict[str, str], calls: dict[str, Callable[[int], Call]], n: int) -> None:
    """Every distinct request of every arm, a few times: each server's code paths are warm and
    every browse page is in the cache before anything is measured."""
    for name, call in calls.items():
        await _latency(bases[name], call, 0, n, Arm())


async def rounds(
    bases: dict[str, str],
    calls: dict[str, Callable[[int], Call]],
    n: int,
    clients: int,
    seconds: float,
    count: int,
) -> dict[str, Arm]:
    """Latency, then throughput, each arm in turn in every one of `count` rounds (`n`
    requests and `seconds` over all rounds, per arm; no throughput when `seconds` is 0)."""
    out = {name: Arm() for name in calls}
    each = max(1, n // count)
    for r in range(count):
        for name, call in calls.items():
            await _latency(bases[name], call, r * each, each, out[name])
    for _ in range(count if seconds else 0):
        for name, call in calls.items():
            await _throughput(bases[name], call, clients, seconds / count, out[name])
    return out


async def agreement(api: str, tags: list[str]) -> dict[str, Any]:
    """REST's page and GraphQL's for the same request: the same listings, field for field
    (REST's snake_case keys as camelCase), and their sizes."""
    found: dict[str, Any] = {"agree": True, "differences": [], "bytes": {}}
    async with aiohttp.ClientSession(base_url=api) as client:
        for rest_call, gql_call, name in (
            (arms(tags)["rest"](0), _graphql_call(None), "rest"),
            (arms(tags)["rest_tag"](0), _graphql_call(tags[0]), "rest_tag"),
        ):
            ok_rest, rest_body = await _send(client, rest_call)
            ok_gql, gql_body = await _send(client, gql_call)
            if not (ok_rest and ok_gql):
                raise RuntimeError(f"{name}: {rest_body[:300]!r} / {gql_body[:300]!r}")
            found["bytes"][name] = len(rest_body)
            found["bytes"][name.replace("rest", "graphql")] = len(gql_body)
            rest, gql = json.loads(rest_body), json.loads(gql_body)["data"]["products"]
            expected = [_as_graphql(item) for item in rest["items"]]
            nodes = [edge["node"] for edge in gql["edges"]]
            if not expected:
                raise RuntimeError(f"{name}: REST answered no listings: nothing to compare")
            if nodes != expected:
                found["agree"] = False
                found["differences"].append(f"{name}: {_first_difference(expected, nodes)}")
            if gql["pageInfo"]["endCursor"] != rest["next_cursor"]:
                found["agree"] = False
                found["differences"].append(f"{name}: the cursors differ")
            found.setdefault("items", {})[name] = len(nodes)
    return found


def _as_graphql(item: dict[str, Any]) -> dict[str, Any]:
    """A REST listing as GraphQL spells it: camelCase keys, enum values by name."""
    out: dict[str, Any] = _camel(item)
    out["seller"]["kind"] = out["seller"]["kind"].upper()  # AccountKind: PERSON, BUSINESS
    return out


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel_key(k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _first_difference(expected: list[Any], got: list[Any]) -> str:
    if len(expected) != len(got):
        return f"{len(expected)} items by REST, {len(got)} by GraphQL"
    for k, (a, b) in enumerate(zip(expected, got, strict=True)):
        if a != b:
            keys = sorted(key for key in set(a) | set(b) if a.get(key) != b.get(key))
            return f"item {k}: " + ", ".join(
                f"{key} {a.get(key)!r} / {b.get(key)!r}" for key in keys
            )
    return "none"


# ---- the profile -----------------------------------------------------------------------------


@dataclass
class Profile:
    """Per request, in ms: the whole request and the time spent in each timed step during
    it (means over the same requests, so the steps and what is left add up to the whole),
    and GraphQL's functions with the most self time under cProfile."""

    whole: dict[str, float]  # arm -> mean ms per request
    median: dict[str, float]  # arm -> median ms per request
    steps: dict[str, dict[str, float]]  # arm -> step -> mean ms per request
    top: list[tuple[str, float, float]]  # (function, self ms, cumulative ms) per request
    type_hints_calls: float  # typing.get_type_hints calls per GraphQL request
    requests: int


def _where(key: tuple[str, int, str]) -> str:
    filename, line, funcname = key
    path = filename.replace(str(ROOT) + "/", "")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].split("/", 1)[1]
    return f"{path}:{line} {funcname}" if line else funcname


class Stopwatch:
    """Wraps functions (in this process only, for the profile) to add up the seconds spent
    in each while they run; `take()` hands the totals over and starts again."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def take(self) -> dict[str, float]:
        spent, self.spent = self.spent, {}
        return spent

    def _add(self, name: str, started: float) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - started

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        """Time `owner.attr` as `name` (nothing when the code no longer has it)."""
        original = getattr(owner, attr, None)
        if original is None:
            return
        watch = self
        if asyncio.iscoroutinefunction(original):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    watch._add(name, started)

            wrapper: Callable[..., Any] = timed_async
        else:

            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    watch._add(name, started)

            wrapper = timed
        own = attr in vars(owner) if hasattr(owner, "__dict__") else True
        setattr(owner, attr, wrapper)
        self._undo.append(
            (lambda: setattr(owner, attr, original)) if own else (lambda: delattr(owner, attr))
        )

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


async def profile(database: Database, n: int) -> Profile:
    """The app in this process over ASGI (as the tests drive it): `newest 20` by REST and by
    GraphQL `n` times each in 3 interleaved rounds, the time each step takes inside those
    same requests added up; then GraphQL's request `n` times under cProfile."""
    import strawberry.schema.schema as strawberry_schema

    from api.app import create_app
    from api.graphql import core
    from api.routes import products_models

    app = create_app(database.settings(), name="vendr_bench_graphql", ensure_schema=False)
    app.asgi = True
    app.router.reset()
    app.signal_router.reset()
    await app._startup()
    await app._server_event("init", "before")
    await app._server_event("init", "after")
    calls = {"rest": Call("GET", f"/v1/products?limit={PAGE}"), "graphql": _graphql_call(None)}
    watch = Stopwatch()
    whole: dict[str, list[float]] = {name: [] for name in calls}
    spent: dict[str, dict[str, float]] = {name: {} for name in calls}
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://vendr.bench") as client:

            async def send(call: Call) -> float:
                headers = JSON_BODY if call.body is not None else None
                started = time.perf_counter()
                response = await client.request(
                    call.method, call.path, content=call.body, headers=headers
                )
                took = (time.perf_counter() - started) * 1000
                failed = call.graphql and b'"errors"' in response.content
                if response.status_code != 200 or failed:
                    raise RuntimeError(f"{call.path}: {response.status_code} {response.text[:300]}")
                return took

            for _ in range(max(20, n // 5)):  # warm
                for call in calls.values():
                    await send(call)
            watch.wrap(app.ctx.services.browse, "browse", "browse")
            watch.wrap(products_models, "product", "shape")
            watch.wrap(strawberry_schema.Schema, "execute", "execute")
            watch.wrap(strawberry_schema, "parse", "parse")
            watch.wrap(strawberry_schema, "validate", "validate")
            watch.wrap(core, "build", "build")
            try:
                for _ in range(3):
                    for name, call in calls.items():
                        watch.take()
                        for _ in range(n):
                            whole[name].append(await send(call))
                        for step, seconds in watch.take().items():
                            spent[name][step] = spent[name].get(step, 0.0) + seconds
            finally:
                watch.restore()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(n):
                await send(calls["graphql"])
            profiler.disable()
    finally:
        await app._server_event("shutdown", "before")
        await app._server_event("shutdown", "after")
        Sanic.unregister_app(app)  # its name is free for another profile in this process
    count = 3 * n
    steps = {
        name: {step: seconds * 1000 / count for step, seconds in by_step.items()}
        for name, by_step in spent.items()
    }
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [(_where(key), tt * 1000 / n, ct * 1000 / n) for key, (_, _, tt, ct, _) in stats.items()]
    hints = sum(v[1] for key, v in stats.items() if key[2] == "get_type_hints") / n
    return Profile(
        {name: statistics.mean(times) for name, times in whole.items()},
        {name: statistics.median(times) for name, times in whole.items()},
        steps,
        sorted(rows, key=lambda r: -r[1])[:10],
        hints,
        n,
    )


# ---- the run ---------------------------------------------------------------------------------


@dataclass
class Run:
    sizes: dict[str, int]
    load_s: float
    warm: dict[str, Arm]
    cold: dict[str, Arm]
    agreement: dict[str, Any]
    profile: Profile | None
    clients: int
    seconds: float
    rounds: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


@contextmanager
def _servers(database: Database, cache: bool) -> Iterator[dict[str, str]]:
    """The API (two workers, rate limits off, no background jobs) and the bare endpoint (two
    workers) side by side: {arm: base url}."""
    api_port, bare_port = free_port(), free_port()
    api_env = database.env() | {
        "VENDR_PORT": str(api_port),
        "VENDR_WORKERS": "2",
        "VENDR_RATE_LIMITS": "off",
        "VENDR_BACKGROUND": "off",
        "VENDR_JOBS_INTERVAL_SECONDS": "0",
    }
    if not cache:
        api_env["VENDR_CACHE_TTL_SECONDS"] = "0"
    bare_env = {"BARE_PORT": str(bare_port), "BARE_WORKERS": "2"}
    api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
    with (
        server([str(BIN / "vendr"), "serve"], api_env, api + "/v1/heartbeat"),
        server([str(BIN / "python"), "-m", "bench.bare"], bare_env, bare + "/bare"),
    ):
        yield {name: (bare if name == "bare" else api) for name in LABELS}


async def measure(
    database: Database,
    users: int,
    products: int,
    interactions: int,
    n: int,
    cold_n: int,
    clients: int,
    seconds: float,
    rounds_: int,
    profile_n: int,
) -> Run:
    load_before = os.getloadavg()
    data = generate(users, products, interactions, seed=1, now=int(time.time() * 1000))
    database.fresh()
    services = await bootstrap(database.settings())
    try:
        started = time.monotonic()
        loaded = await load(services, data)
        load_s = time.monotonic() - started
    finally:
        await shutdown(services)
    tags = sorted({t for p in data.products for t in p["tags"]})
    sizes = {
        "users": loaded.users,
        "products": loaded.products,
        "interactions": loaded.interactions,
        "tags": len(tags),
    }
    calls = arms(tags)
    with _servers(database, cache=True) as bases:
        found = await agreement(bases["rest"], tags)
        await _warm(bases, calls, max(60, 2 * len(tags)))
        warm = await rounds(bases, calls, n, clients, seconds, rounds_)
    cold_calls = {k: v for k, v in calls.items() if k != "bare"}
    with _servers(database, cache=False) as bases:
        await _warm(bases, cold_calls, 20)
        cold = await rounds(bases, cold_calls, cold_n, clients, 0, rounds_)
    prof = await profile(database, profile_n) if profile_n else None
    return Run(sizes, load_s, warm, cold, found, prof, clients, seconds, rounds_, load_before)


# ---- the report ------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "—"


def markdown(run: Run, command: str) -> str:
    w, c, s = run.warm, run.cold, run.sizes
    bare = w["bare"]
    lines = [
        "# GraphQL gateway: browse through `/graphql` against REST",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()} · `{command}` · "
        f"load average {run.load_before[0]:.1f} before the run, {run.load_after[0]:.1f} after",
        "",
        f"One generated catalog: {s['users']:,} users, {s['products']:,} listings, "
        f"{s['interactions']:,} interactions, {s['tags']} tags (loaded into the embedded "
        f"FalkorDB in {run.load_s:.0f} s). One `vendr serve` (2 workers, rate limits off, no "
        "background worker, the browse cache on as deployed) answers REST and GraphQL alike; "
        "the bare Sanic endpoint (2 workers) runs beside it. The GraphQL query selects every "
        "field REST returns for a listing (id, title, description, price, condition, shipping, "
        "location, status, quantity, tags, images, seller, hype, promoted, the dates, "
        "distance) and `pageInfo`. Tagged requests cycle through all the tags, the same order "
        "on both sides. The machine has 2 cores shared by the client, the servers and the "
        "database, and other jobs may run on it: the absolute figures move from run to run, "
        f"so every figure here comes from this one run, its arms interleaved in {run.rounds} "
        "rounds, and the ratios are what to read.",
        "",
    ]
    agree = run.agreement
    if agree["agree"]:
        lines.append(
            "Before measuring: REST's page and GraphQL's agree field for field (REST's keys in "
            f"camelCase) on the {agree['items']['rest']} listings of each request, and on the "
            "cursor. "
        )
    else:
        lines.append(
            "**REST's and GraphQL's answers differ**: " + "; ".join(agree["differences"]) + ". "
        )
    b = agree["bytes"]
    lines[-1] += (
        f"Response sizes: REST {b['rest']:,} bytes, GraphQL {b['graphql']:,} bytes (tagged: "
        f"{b['rest_tag']:,} / {b['graphql_tag']:,})."
    )
    lines += [
        "",
        f"## Cache on (as served): 1 client for latency, {run.clients} for throughput",
        "",
        "| request | p50 | p99 | req/s | p50 ÷ bare | req/s ÷ bare | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, arm in w.items():
        lines.append(
            f"| {LABELS[name]} | {arm.p50:.2f} ms | {arm.p99:.2f} ms | {arm.rps:,.0f} | "
            f"{_ratio(arm.p50, bare.p50)} | {_ratio(arm.rps, bare.rps)} | {arm.errors} |"
        )
    lines += [
        "",
        "| GraphQL ÷ REST | p50 | p99 | req/s |",
        "|---|---:|---:|---:|",
    ]
    for g, r in PAIRS:
        what = "newest 20" if g == "graphql" else "newest 20 with a tag"
        lines.append(
            f"| {what}, cache on | {_ratio(w[g].p50, w[r].p50)} | {_ratio(w[g].p99, w[r].p99)} "
            f"| {_ratio(w[g].rps, w[r].rps)} |"
        )
    for g, r in PAIRS:
        what = "newest 20" if g == "graphql" else "newest 20 with a tag"
        lines.append(
            f"| {what}, cache off (1 client) | {_ratio(c[g].p50, c[r].p50)} | "
            f"{_ratio(c[g].p99, c[r].p99)} | — |"
        )
    lines += [
        "",
        f"Each latency arm: {len(w['rest'].times_ms):,} requests, one at a time; each "
        f"throughput arm: {run.seconds:.0f} s in all. Requests that failed (not 200, or a "
        "GraphQL answer with `errors`) are counted in `errors`.",
        "",
        "## Cache off: every request runs the graph query (1 client)",
        "",
        "| request | p50 | p99 | errors |",
        "|---|---:|---:|---:|",
    ]
    for name, arm in c.items():
        lines.append(f"| {LABELS[name]} | {arm.p50:.2f} ms | {arm.p99:.2f} ms | {arm.errors} |")
    lines += ["", f"Each: {len(c['rest'].times_ms):,} requests.", ""]
    if run.profile is not None:
        lines += _profile_lines(run.profile)
    return "\n".join(lines) + "\n"


def _profile_lines(p: Profile) -> list[str]:
    rest, gql = p.steps["rest"], p.steps["graphql"]

    def step(arm: dict[str, float], name: str) -> float:
        return arm.get(name, 0.0)

    inner = sum(step(gql, k) for k in ("parse", "validate", "browse", "shape", "build"))
    resolve = step(gql, "execute") - inner
    rest_http = p.whole["rest"] - step(rest, "browse") - step(rest, "shape")
    gql_http = p.whole["graphql"] - step(gql, "execute")
    rows = [
        ("the browse service: the cached page", step(rest, "browse"), step(gql, "browse")),
        (
            f"REST's shape of the {PAGE} listings (`products_models.product`)",
            step(rest, "shape"),
            step(gql, "shape"),
        ),
        ("parse the query (graphql-core, with the token limit)", None, step(gql, "parse")),
        (
            "validate it (graphql-core's rules, strawberry's depth and alias limits)",
            None,
            step(gql, "validate"),
        ),
        (
            f"strawberry objects from REST's shape (`types.build`, {PAGE} listings)",
            None,
            step(gql, "build"),
        ),
        (
            "resolve the selection: graphql-core and strawberry completing every selected "
            "field, the resolver's input checks, the cost and read limits (the rest of "
            "`schema.execute`)",
            None,
            resolve,
        ),
        (
            "HTTP: Sanic, the route or the view, JSON in and out, the in-process client",
            rest_http,
            gql_http,
        ),
        ("**the whole request** (mean)", p.whole["rest"], p.whole["graphql"]),
    ]

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    lines = [
        "## Where the gateway's time goes",
        "",
        f"The app in the bench's own process over ASGI (httpx, as the tests drive it), the "
        f"browse cache on, `newest {PAGE}` {3 * p.requests} times each way in 3 interleaved "
        "rounds, no profiler; each step timed inside those same requests (mean ms per "
        "request: the steps and the HTTP rows, what is left, add up to the whole). Median "
        f"whole request: REST {p.median['rest']:.2f} ms, GraphQL {p.median['graphql']:.2f} ms.",
        "",
        "| step | REST ms | GraphQL ms |",
        "|---|---:|---:|",
        *(f"| {what} | {ms(r)} | {ms(g)} |" for what, r, g in rows),
        "",
    ]
    extra = p.whole["graphql"] - p.whole["rest"]
    parts = sorted(
        [
            ("resolving the selected fields", resolve),
            ("building strawberry objects (`build`)", step(gql, "build")),
            ("parsing and validating the query", step(gql, "parse") + step(gql, "validate")),
            ("the view's HTTP and JSON beyond REST's", gql_http - rest_http),
            (
                "the same browse call and shaping, slower inside GraphQL's requests",
                sum(step(gql, k) - step(rest, k) for k in ("browse", "shape")),
            ),
        ],
        key=lambda part: -part[1],
    )
    text = (
        f"In-process a GraphQL request took {p.whole['graphql']:.2f} ms against REST's "
        f"{p.whole['rest']:.2f} (÷ {_ratio(p.whole['graphql'], p.whole['rest'])}): "
        f"{extra:.2f} ms more, none of it in the graph or the cache: both make the same "
        "browse call, a cached page. The extra, largest first: "
        + "; ".join(
            f"{what} {value:.2f} ms ({100 * value / extra:.0f}%)" if extra > 0 else what
            for what, value in parts
        )
        + "."
    )
    if p.type_hints_calls > PAGE:
        text += (
            f" `build` calls `typing.get_type_hints` {p.type_hints_calls:.0f} times a request "
            "(once for every object it builds: each listing, its price, shipping, images and "
            "seller), and each call evaluates the module's string annotations afresh (`from "
            "__future__ import annotations`: `compile` and `eval` every time, the top of the "
            "profile below); a class's hints never change, so caching them per class would "
            "remove most of `build`."
        )
    text += (
        " Resolving the selection is graphql-core's per-field work: a resolver call (strawberry "
        "wraps each), a `GraphQLResolveInfo` and a completed value for each of the ~40 "
        f"fields of each of the {PAGE} listings, so it grows with the fields selected times "
        "the page size. A document is parsed and validated once per worker and then served "
        "from the schema's caches (api/graphql/schema.py), so those steps cost only the cache "
        "lookups here; a client sending ever new documents pays them each time."
    )
    lines += [
        text,
        "",
        f"GraphQL's request under cProfile ({p.requests} requests): the functions with the most "
        "self time, ms per request (self / cumulative; the profiler inflates code made of many "
        "small calls):",
        "",
        *(f"- `{where}` {own:.3f} / {cum:.3f}" for where, own, cum in p.top[:8]),
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=1_000, help="latency, per arm")
    parser.add_argument("--cold-requests", type=int, default=300, help="cache off, per arm")
    parser.add_argument("--seconds", type=float, default=15, help="throughput, per arm")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", type=int, default=150, help="requests profiled (0: none)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.users, args.products, args.interactions = 200, 2_000, 10_000
        args.requests, args.cold_requests, args.seconds = 100, 40, 2.0
        args.rounds, args.profile = 2, 20
    out = args.out or (QUICK_REPORT if args.quick else REPORT)
    database = Database("falkordb", ROOT / "var" / "bench-graphql", graph_name="bench")
    try:
        run = asyncio.run(
            measure(
                database,
                args.users,
                args.products,
                args.interactions,
                args.requests,
                args.cold_requests,
                args.clients,
                args.seconds,
                args.rounds,
                args.profile,
            )
        )
    finally:
        database.fresh()  # stopped, and its data gone: nothing else reads this catalog
    run.load_after = os.getloadavg()
    command = "python -m bench.graphql" + (" --quick" if args.quick else "")
    report = markdown(run, command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(report)
    failed = sum(a.errors for a in (*run.warm.values(), *run.cold.values()))
    if failed or not run.agreement["agree"]:
        raise SystemExit(f"{failed} requests failed, or the answers differ: see {out}")


if __name__ == "__main__":
    main()
