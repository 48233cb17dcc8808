"""Several API nodes behind HAProxy on one machine, and one of them killed (-9) under load.

Two or three `vendr serve` nodes, each with its own HTTP worker(s) and background worker, its
own port and data dir (mail and SMS land there), share one graph and one Redis (the embedded
FalkorDB server, or Neo4j with the embedded server for Redis) and one blob store (a shared
directory every node's `blobs` points at, as a network mount would be; or S3 when
graph/infra/s3proxy_local.py's server is given). HAProxy (deploy/haproxy.cfg, through
graph/infra/haproxy_local.py) balances them with health checks on /v1/heartbeat.

The demo: demo data loaded, then a mixed read load (browse, detail, heartbeat) from many
keep-alive connections through the balancer; one node is killed -9 (its whole process group:
the machine died) mid-load; the report counts requests, the errors the clients saw and of
what kind, the time until HAProxy marked the node DOWN (its admin socket, polled) and the last
request it sent there, and the throughput before and after.

    python -m bench.scale [--nodes 3] [--seconds 24] [--out bench/scale.md]   (make scale-demo)

tests/test_scale.py runs the cluster part with two nodes (sessions, sockets, images, timers
and the outbox across nodes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.common import ROOT, Database, free_port, machine, percentile, wait_up
from graph.infra import haproxy_local

VENDR = str(Path(sys.executable).with_name("vendr"))
# X-Forwarded-For is believed from the balancer only (here on loopback)
LOOPBACK = "127.0.0.1/32,::1/128"


@dataclass
class ApiNode:
    """One `vendr serve` process group: the main process, its HTTP workers, its background
    worker."""

    name: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    pids: set[int] = field(default_factory=set)  # the group's processes, seen once it was up

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, tail: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


@dataclass
class Cluster:
    nodes: list[ApiNode]
    balancer: haproxy_local.Balancer
    blob_dir: Path

    @property
    def url(self) -> str:
        return self.balancer.url

    def node(self, name: str) -> ApiNode:
        return next(n for n in self.nodes if n.name == name)

    def pids(self) -> set[int]:
        """Every process this cluster started: the nodes' groups and HAProxy."""
        return {self.balancer.pid}.union(*(n.pids | {n.proc.pid} for n in self.nodes))


def descendants(pid: int) -> set[int]:
    """`pid`'s children, theirs, and so on (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def living(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie is not running)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            alive.add(pid)
    return alive


def start_node(name: str, port: int, data_dir: Path, env: Mapping[str, str], *args: str) -> ApiNode:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{name}.log"
    # its output to a file: a pipe nobody reads fills up and stops the server
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own entry point, no shell
            [VENDR, "serve", *args],
            env=os.environ | dict(env) | {"VENDR_PORT": str(port), "VENDR_DATA_DIR": str(data_dir)},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # a group of its own: killed whole (-9) in the demo, and Sanic's own kill of its
            # workers never reaches whoever started it
            start_new_session=True,
        )
    return ApiNode(name, port, data_dir, proc, log_path)


def node_up(node: ApiNode, timeout: float = 180) -> None:
    try:
        wait_up(f"{node.url}/v1/heartbeat", node.proc, timeout=timeout)
    except RuntimeError as exc:
        raise RuntimeError(f"{node.name}: {exc}\n{node.log()}") from None
    node.pids = descendants(node.proc.pid)


def stop_node(node: ApiNode, timeout: float = 60) -> None:
    """Ctrl-C (its clean stop: workers drained, the background worker's round finished), by
    its pid; its whole group killed if it has not stopped in `timeout` seconds."""
    proc = node.proc
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    kill_node(node)  # whatever of its group is left (nothing, after a clean stop)


def kill_node(node: ApiNode) -> None:
    """SIGKILL to the node's process group, as a machine dying would: nothing runs its
    shutdown."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(node.proc.pid, signal.SIGKILL)
    for pid in living(node.pids):  # any that left the group
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if node.proc.poll() is None:
        node.proc.wait(timeout=30)


def graph_env(database: Database) -> dict[str, str]:
    """What every node needs to reach the shared graph and Redis: never the embedded server of
    its own data dir (a node's data dir holds only its mail and SMS), the running one by URL."""
    from graph.infra import embedded

    env = database.env()
    env.pop("VENDR_DATA_DIR", None)
    if database.backend == "falkordb":
        info = embedded.status(database.data_dir)
        assert info is not None
        env["VENDR_GRAPH_URL"] = info.url.replace("redis://", "falkordb://", 1)
    return env


@contextlib.contextmanager
def cluster(
    workdir: Path,
    shared: Mapping[str, str],
    *,
    nodes: int = 2,
    env: Mapping[str, str] | None = None,
    check_inter_ms: int = haproxy_local.CHECK_INTER_MS,
    demo: bool = False,
    blob_dir_shared: bool = True,
) -> Iterator[Cluster]:
    """`nodes` API nodes on `shared` (the graph's and Redis's `VENDR_*` settings, a graph name
    and key prefix; the blob store's when it is a bucket) behind HAProxy; everything stopped
    by pid when the block ends, however it ends. With `blob_dir_shared` every node's
    data_dir/blobs is one directory (as a network mount would be). The first node starts
    alone (it makes the schema, and loads demo data with `demo`); the others then together."""
    blob_dir = workdir / "blobs"
    if blob_dir_shared:
        blob_dir.mkdir(parents=True, exist_ok=True)
    lb_port = free_port()
    common = {
        "VENDR_ENV": "dev",
        "VENDR_WORKERS": "1",
        "VENDR_TRUSTED_PROXIES": LOOPBACK,
        "VENDR_PUBLIC_URL": f"http://127.0.0.1:{lb_port}",
        "VENDR_ARGON2_MEMORY_KIB": "8192",
        "VENDR_ARGON2_TIME_COST": "1",
        "VENDR_RATE_LIMITS": "off",
    }
    common |= dict(shared) | dict(env or {})
    started: list[ApiNode] = []
    balancer = None
    try:
        for n in range(nodes):
            name = f"n{n + 1}"
            data_dir = workdir / name
            data_dir.mkdir(parents=True, exist_ok=True)
            if blob_dir_shared:
                with contextlib.suppress(FileExistsError):
                    (data_dir / "blobs").symlink_to(blob_dir, target_is_directory=True)
            args = ("--demo",) if demo and n == 0 else ()
            started.append(start_node(name, free_port(), data_dir, common, *args))
            if n == 0:
                node_up(started[0])
        for node in started[1:]:
            node_up(node)
        members = [haproxy_local.Node(n.name, n.port) for n in started]
        balancer = haproxy_local.launch(
            workdir / "haproxy", members, port=lb_port, check_inter_ms=check_inter_ms
        )
        yield Cluster(started, balancer, blob_dir)
    finally:
        if balancer is not None:
            haproxy_local.terminate(balancer)
        for node in started:
            stop_node(node)


# ---- the demo: a read load, one node killed -------------------------------------------------


@dataclass
class Sample:
    at: float  # seconds since the load began, when the answer (or the error) came
    node: str  # X-Vendr-Node: which node answered ("" for the balancer's own error)
    kind: str  # ok, or what went wrong: http_502, http_503, disconnected, timeout...
    ms: float


@dataclass
class LoadRun:
    samples: list[Sample]
    seconds: float
    clients: int
    started: float  # time.monotonic() when the load began


async def load(
    base: str,
    product_ids: list[str],
    clients: int,
    seconds: float,
    kill_at: float | None = None,
    kill: Any = None,
) -> LoadRun:
    """`clients` keep-alive connections through the balancer, each asking one request after
    another for `seconds`: 45% browse pages, 35% product details, 20% heartbeats. `kill()`
    runs (in a thread) at `kill_at` seconds."""
    samples: list[Sample] = []
    started = time.monotonic()
    deadline = started + seconds
    queries = ["", "?sort=hype", "?sort=price_asc", "?q=bike", "?q=lamp", "?limit=40"]

    def path(rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.45:
            return "/v1/products" + rng.choice(queries)
        if roll < 0.80:
            return f"/v1/products/{rng.choice(product_ids)}"
        return "/v1/heartbeat"

    async def client(session: aiohttp.ClientSession, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            url = path(rng)
            t0 = time.monotonic()
            try:
                async with session.get(url) as response:
                    await response.read()
                    node = response.headers.get("X-Vendr-Node", "")
                    kind = "ok" if response.status == 200 else f"http_{response.status}"
            except aiohttp.ServerDisconnectedError:
                node, kind = "", "disconnected"
            except aiohttp.ClientConnectionError as exc:
                node, kind = "", type(exc).__name__
            except TimeoutError:
                node, kind = "", "timeout"
            t1 = time.monotonic()
            samples.append(Sample(t1 - started, node, kind, (t1 - t0) * 1000))

    async def killer() -> None:
        if kill_at is None:
            return
        await asyncio.sleep(max(0.0, started + kill_at - time.monotonic()))
        await asyncio.to_thread(kill)

    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        await asyncio.gather(killer(), *(client(session, k) for k in range(clients)))
    return LoadRun(samples, time.monotonic() - started, clients, started)


def watch_down(balancer: haproxy_local.Balancer, name: str, since: float, stop: float) -> float:
    """Poll the admin socket every 20 ms from `since` (monotonic) until `name` is DOWN: the
    seconds it took (inf if not by `stop`)."""
    while time.monotonic() < stop:
        with contextlib.suppress(OSError):
            if balancer.status().get(name) == "DOWN":
                return time.monotonic() - since
        time.sleep(0.02)
    return float("inf")


@dataclass
class Retried:
    """What HAProxy's log says of the requests it sent to another node after a failed try
    (the log's retries field, `+1`: redispatched): how many, and when, after the kill."""

    count: int = 0
    first_s: float = 0.0
    last_s: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    # the log's lines of the requests that failed: (status, termination state) -> count
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)


LOG_LINE = re.compile(
    r"\[(?P<date>\d+/\w+/\d+:\d+:\d+:\d+\.\d+)\] \S+ \S+/(?P<server>\S+) \S+ "
    r"(?P<status>-?\d+) \d+ \S+ \S+ (?P<term>\S{4}) \d+/\d+/\d+/\d+/(?P<retries>\+?\d+) "
)


def retried(log: str, killed_wall: float) -> Retried:
    found = Retried()
    times = []
    for line in log.splitlines():
        match = LOG_LINE.search(line)
        if match is None:
            continue
        if not match["status"].startswith("2"):
            found.failed[match["status"], match["term"]] += 1
        if match["retries"] in ("0", "+0"):
            continue
        at = datetime.strptime(match["date"], "%d/%b/%Y:%H:%M:%S.%f").timestamp()
        times.append(at - killed_wall)
        found.statuses[match["status"]] += 1
    if times:
        found.count, found.first_s, found.last_s = len(times), min(times), max(times)
    return found


@dataclass
class Demo:
    backend: str
    nodes: int
    workers: int
    clients: int
    seconds: float
    kill_at: float  # seconds into the load
    killed: str
    down_after_s: float  # kill -> HAProxy's DOWN (admin socket)
    check_status: str  # how HAProxy's log says it found out
    retried: Retried
    run: LoadRun
    products: int
    load_cpu_s: float
    setup_s: float
    loadavg: float  # the machine's 1-minute load average as the load began (other work too)
    warmup_s: float  # the same load before, not counted

    def window(self, a: float, b: float) -> list[Sample]:
        return [s for s in self.run.samples if a <= s.at < b]

    def rps(self, a: float, b: float) -> float:
        ok = [s for s in self.window(a, b) if s.kind == "ok"]
        return len(ok) / (b - a) if b > a else 0.0


async def demo_run(args: argparse.Namespace) -> Demo:
    workdir = Path(tempfile.mkdtemp(prefix="vendr-scale-"))
    database = Database(args.backend, workdir / "db", graph_name="scale")
    t0 = time.monotonic()
    try:
        shared = graph_env(database) | {"VENDR_REDIS_PREFIX": "scale:"}
        small = {
            "VENDR_DEMO_USERS": str(args.users),
            "VENDR_DEMO_PRODUCTS": str(args.products),
            "VENDR_WORKERS": str(args.workers),
            "VENDR_JOBS_INTERVAL_SECONDS": "0",  # no sweeper round in the middle of the load
            "VENDR_PAYMENTS_INTERVAL_SECONDS": "0",
        }
        with cluster(workdir, shared, nodes=args.nodes, env=small, demo=True) as group:
            async with httpx.AsyncClient(base_url=group.url, timeout=30) as c:
                ids: list[str] = []
                cursor = None
                while len(ids) < args.products:
                    page = await c.get(
                        "/v1/products",
                        params={"limit": 100, "cursor": cursor} if cursor else {"limit": 100},
                    )
                    body = page.json()
                    ids += [p["id"] for p in body["items"]]
                    cursor = body.get("next_cursor")
                    if not cursor:
                        break
            setup_s = time.monotonic() - t0
            victim = group.nodes[-1]
            killed_at: list[float] = []
            killed_wall: list[float] = []

            def kill() -> None:
                killed_wall.append(time.time())
                killed_at.append(time.monotonic())
                kill_node(victim)

            # the same load for a while first, not counted: caches, pools and (on Neo4j) the
            # JVM's compiler warm up
            await load(group.url, ids, args.clients, args.warmup)
            loadavg = os.getloadavg()[0]
            cpu0 = time.process_time()
            loop = asyncio.get_running_loop()
            watcher = loop.run_in_executor(
                None,
                lambda: watch_down(
                    group.balancer, victim.name, _wait_for(killed_at), time.monotonic() + 60
                ),
            )
            run = await load(group.url, ids, args.clients, args.seconds, args.kill_at, kill)
            down_after = await watcher
            load_cpu = time.process_time() - cpu0
            log = group.balancer.log(50_000_000)
            said = [line for line in log.splitlines() if f"api/{victim.name} is DOWN" in line]
            return Demo(
                backend=database.label,
                nodes=args.nodes,
                workers=args.workers,
                clients=args.clients,
                seconds=args.seconds,
                kill_at=killed_at[0] - run.started,
                killed=victim.name,
                down_after_s=down_after,
                check_status=said[0].split("reason: ", 1)[-1] if said else "(not in its log)",
                retried=retried(log, killed_wall[0]),
                run=run,
                products=len(ids),
                load_cpu_s=load_cpu,
                setup_s=setup_s,
                loadavg=loadavg,
                warmup_s=args.warmup,
            )
    finally:
        database.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _wait_for(killed_at: list[float]) -> float:
    while not killed_at:
        time.sleep(0.005)
    return killed_at[0]


def report(demo: Demo) -> str:
    samples = demo.run.samples
    kill = demo.kill_at
    errors = [s for s in samples if s.kind != "ok"]
    kinds = Counter(s.kind for s in errors)
    by_node = Counter(s.node for s in errors)
    victim = demo.killed
    last_victim = max((s.at for s in samples if s.node == victim), default=0.0) - kill
    first_err = min((s.at for s in errors), default=kill) - kill
    last_err = max((s.at for s in errors), default=kill) - kill
    steady = 2.0  # seconds after the kill left out of "after"
    before = (min(2.0, kill / 2), kill)
    after = (kill + steady, demo.run.seconds)
    served = Counter(s.node for s in samples if s.kind == "ok")
    lat_before = [s.ms for s in demo.window(*before) if s.kind == "ok"]
    lat_after = [s.ms for s in demo.window(*after) if s.kind == "ok"]
    around = [s.ms for s in demo.window(kill, kill + steady) if s.kind == "ok"]
    cpu_share = demo.load_cpu_s / demo.run.seconds
    # the clients' own view: asked before the kill, answered (or failed) after it
    spanning = [s for s in samples if s.at - s.ms / 1000 < kill <= s.at]
    spanned = Counter(s.node if s.kind == "ok" else s.kind for s in spanning)
    again = demo.retried

    def p(values: list[float], q: float) -> str:
        return f"{percentile(values, q):.0f}" if values else "—"

    client = (
        f"it used {cpu_share:.0%} of one core, so it was not what bounded the rate: the "
        "servers, HAProxy and the database share the machine's two cores"
        if cpu_share < 0.8
        else f"it used {cpu_share:.0%} of one core: the client bounds the rate as much as "
        "the servers"
    )
    lines = [
        "# Several API nodes behind HAProxy, one killed under load",
        "",
        f"`make scale-demo` (`python -m bench.scale`), {time.strftime('%Y-%m-%d')}, {machine()}; "
        f"load average {demo.loadavg:.1f} as the load began (the machine is shared: the "
        "figures are this run's, not a capacity).",
        "",
        f"- **Setup**: {demo.nodes} `vendr serve` nodes ({demo.workers} HTTP worker"
        f"{'s' if demo.workers > 1 else ''} and one background worker each, own port and data "
        f"dir) on one {demo.backend} graph and Redis (the embedded server), one shared blob "
        "directory; HAProxy 2.6 (Debian's package, `deploy/haproxy.cfg`) in front: `balance "
        "leastconn`, health checks `GET /v1/heartbeat` every 500 ms with `fall 2 rise 2`, "
        "`option redispatch 1`, `retries 2`. Demo data: "
        f"{demo.products} listings (setup with demo data: {demo.setup_s:.0f} s).",
        f"- **Load**: {demo.clients} keep-alive connections through HAProxy from one Python "
        f"process (aiohttp; {client}), each asking again as soon as it has its answer: 45% "
        "browse pages (six variants), 35% product details, 20% heartbeats, for "
        f"{demo.run.seconds:.0f} s, after {demo.warmup_s:.0f} s of the same load not counted "
        "(caches, connection pools, a JVM's compiler warm up).",
        f"- **The kill**: at {kill:.1f} s, SIGKILL to node `{victim}`'s whole process group "
        "(main process, HTTP worker, background worker), as if its machine had died.",
        "",
        "## What the clients saw",
        "",
        "| | |",
        "|---|---:|",
        f"| requests answered | {len(samples):,} |",
        f"| of them 200 | {len(samples) - len(errors):,} |",
        f"| errors | {len(errors)} |",
        f"| requests in flight at the kill (asked before it, answered after) | "
        f"{len(spanning)}: "
        + ", ".join(f"{who or '?'} {n}" for who, n in sorted(spanned.items()))
        + " |",
    ]
    for kind, count in sorted(kinds.items()):
        lines.append(f"| — {kind} | {count} |")
    if errors:
        span = (
            f"{first_err * 1000:+.0f} ms"
            if round(first_err * 1000) == round(last_err * 1000)
            else f"from {first_err * 1000:+.0f} ms to {last_err * 1000:+.0f} ms"
        )
        lines.append(f"| errors {span} after the kill | |")
        named = ", ".join(f"{node or '(the balancer)'}: {c}" for node, c in by_node.items())
        lines.append(f"| errors by who answered | {named} |")
    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(again.statuses.items()))
    lines += [
        f"| node killed → HAProxy marks it DOWN (admin socket, polled every 20 ms) | "
        f"{demo.down_after_s * 1000:.0f} ms |",
        f"| HAProxy's reason | {demo.check_status.split('. ')[0]} |",
        f"| requests HAProxy tried on `{victim}` after the kill and sent to another node "
        f"(its log, retries `+1`) | {again.count:,} (answered {statuses or '—'}) |",
    ]
    if again.count:
        lines.append(
            f"| — their times in HAProxy's log: {again.first_s * 1000:+.0f} ms to "
            f"{again.last_s * 1000:+.0f} ms from the kill | |"
        )
    lines += [
        f"| last answer from `{victim}` (from the kill) | {last_victim * 1000:+.0f} ms |",
        "",
        "## Throughput (200s answered per second) and latency",
        "",
        "| window | req/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| before the kill ({before[0]:.0f}–{before[1]:.0f} s, {demo.nodes} nodes) | "
        f"{demo.rps(*before):,.0f} | {p(lat_before, 50)} | {p(lat_before, 99)} |",
        f"| the {steady:.0f} s from the kill | {demo.rps(kill, kill + steady):,.0f} | "
        f"{p(around, 50)} | {p(around, 99)} |",
        f"| after ({after[0]:.0f}–{after[1]:.0f} s, {demo.nodes - 1} nodes) | "
        f"{demo.rps(*after):,.0f} | {p(lat_after, 50)} | {p(lat_after, 99)} |",
        "",
        "Answers by node: " + ", ".join(f"`{n}` {c:,}" for n, c in sorted(served.items())) + ".",
        "",
        "## Reading it",
        "",
    ]
    if errors:
        logged = ", ".join(
            f"{status} {term} ×{n}" for (status, term), n in sorted(again.failed.items())
        )
        lines.append(
            f"- {len(errors)} request{'s' if len(errors) != 1 else ''} failed, all within "
            f"{last_err * 1000:.0f} ms of the kill, answered by the balancer for `{victim}` "
            f"(HAProxy's log: {logged or 'nothing'}; `SH`: the node closed the connection "
            "before the answer's headers): requests it was working on when it died, which "
            f"die with it. Of the {again.count:,} requests HAProxy sent on to another node, "
            f"{again.statuses.get('200', 0):,} were answered 200."
        )
    else:
        by_victim = spanned.get(victim, 0)
        who = (
            f"{by_victim} by `{victim}` itself, up to {last_victim * 1000:.0f} ms after the "
            "kill, the others by the other nodes"
            if by_victim
            else "all by the other nodes"
        )
        lines.append(
            f"- No client saw an error: every request in flight at the kill was answered ({who}), "
            "and every request HAProxy tried "
            f"on `{victim}` afterwards ({again.count:,}) it sent on to another node. HAProxy "
            "sends a request again when its node's connection fails before any answer "
            "(`retries 2`, `option redispatch 1`); a request a node dies part-way through "
            "fails with it (HAProxy answers 502, `SH--` in its log): none in this run."
        )
    lines += [
        f"- Until the DOWN mark, new requests still went to `{victim}` first — with "
        "`leastconn` a dead node, holding no connections, looks the least busy — found its "
        "port closed and went to another node at once: a failed connect on loopback, not an "
        "error. HAProxy stopped trying it when the checks marked it DOWN.",
        f"- HAProxy marked it DOWN {demo.down_after_s:.2f} s after the kill: two failed checks "
        "500 ms apart (`fall 2`): the first comes within 500 ms of the death, the second "
        "500 ms later, so 0.5–1 s, a little more on a busy machine; the config's "
        "`check_inter` sets the interval.",
        "- Throughput after the kill is what the remaining nodes serve on the same two cores: "
        "here the nodes share the CPU, so a node fewer is not a third less capacity (one "
        "process fewer can even help); on machines of their own it would be.",
        "- Sessions, sockets, images, timers and the outbox across nodes: tests/test_scale.py "
        "(in `make test`).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("falkordb", "neo4j"), default="falkordb")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="HTTP workers per node")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--kill-at", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of load first")
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--products", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "scale.md")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data dirs")
    args = parser.parse_args(argv)
    if args.nodes < 2:
        parser.error("--nodes: at least 2 (one is killed)")
    demo = asyncio.run(demo_run(args))
    text = report(demo)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
