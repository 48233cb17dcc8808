"""Deals benchmark: order placement through the HTTP API (one client, one at a time), then 32
buyers contending for 10 hot listings with little stock, counting what was sold against what
there was: the oversell count must be 0. On the embedded FalkorDB and on Neo4j in the same run,
one after the other; a bare Sanic endpoint runs beside each for scale.

    python -m bench.deals [--placements 500] [--backends falkordb,neo4j]     (make bench)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from bench import backends
from bench.common import (
    BACKENDS,
    BIN,
    RATIO_NOTE,
    ROOT,
    Database,
    Figure,
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
)

REPORT = ROOT / "bench" / "deals.md"


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "navy").save(out, "PNG")
    return out.getvalue()


async def _json(
    session: aiohttp.ClientSession, method: str, url: str, token: str | None = None, **kw: Any
) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, headers=headers, **kw) as response:
        return response.status, await response.json(content_type=None)


async def _signup(session: aiohttp.ClientSession, base: str, **extra: Any) -> str:
    body = {
        "email": f"{uuid.uuid4().hex[:10]}@bench.test",
        "password": "bench pass",
        "display_name": "Bench",
        **extra,
    }
    status, data = await _json(session, "POST", f"{base}/v1/auth/signup", json=body)
    assert status == 201, data
    return str(data["token"])


async def _listing(session: aiohttp.ClientSession, base: str, token: str, quantity: int) -> str:
    form = aiohttp.FormData()
    form.add_field("image", png_bytes(), filename="p.png", content_type="image/png")
    _, image = await _json(session, "POST", f"{base}/v1/images", token, data=form)
    body = {
        "title": "Hot item",
        "price": {"amount": 2_500, "currency": "EUR"},
        "location": {"lat": 52.37, "lon": 4.89},
        "image_ids": [image["id"]],
        "quantity": quantity,
    }
    status, product = await _json(session, "POST", f"{base}/v1/products", token, json=body)
    assert status == 201, product
    return str(product["id"])


async def _placement(
    session: aiohttp.ClientSession, base: str, seller: str, buyer: str, n: int
) -> list[float]:
    """One client placing orders one at a time on a listing with plenty of stock."""
    pid = await _listing(session, base, seller, quantity=100_000)
    times = []
    for i in range(n + 20):
        started = time.perf_counter()
        status, body = await _json(
            session, "POST", f"{base}/v1/products/{pid}/orders", buyer, json={"quantity": 1}
        )
        elapsed = (time.perf_counter() - started) * 1000
        assert status == 201, body
        if i >= 20:  # warm-up
            times.append(elapsed)
    return times


async def _contention(
    session: aiohttp.ClientSession,
    base: str,
    sellers: list[str],
    buyers: list[str],
    listings: int,
    stock: int,
    seconds: float,
) -> dict[str, Any]:
    """Buyers order at random from a few hot listings until the stock is gone or time is up."""
    hot = [
        await _listing(session, base, sellers[i % len(sellers)], quantity=stock)
        for i in range(listings)
    ]
    placed: dict[str, int] = dict.fromkeys(hot, 0)
    conflicts = errors = 0
    deadline = time.monotonic() + seconds

    async def buyer(token: str, rng: random.Random) -> None:
        nonlocal conflicts, errors
        while time.monotonic() < deadline and any(placed[p] < stock for p in hot):
            pid = rng.choice(hot)
            status, _ = await _json(
                session, "POST", f"{base}/v1/products/{pid}/orders", token, json={"quantity": 1}
            )
            if status == 201:
                placed[pid] += 1
            elif status == 409:
                conflicts += 1
            else:
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*(buyer(t, random.Random(i)) for i, t in enumerate(buyers)))
    elapsed = time.monotonic() - started
    left = []
    for pid in hot:
        _, product = await _json(session, "GET", f"{base}/v1/products/{pid}", sellers[0])
        left.append(int(product["quantity"]))
    sold = sum(placed.values())
    return {
        "orders": sold,
        "seconds": elapsed,
        "conflicts": conflicts,
        "errors": errors,
        "stock": listings * stock,
        "left": sum(left),
        # more units sold than there were, or stock and orders that do not add up
        "oversold": max(0, sold - listings * stock) + abs(listings * stock - sold - sum(left)),
    }


@dataclass
class Result:
    """One backend's figures."""

    placement_ms: list[float]
    contended: dict[str, Any]
    bare_p50_ms: float
    seconds: float  # the whole measurement, server start to stop

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.placement_ms)

    @property
    def p99_ms(self) -> float:
        return percentile(self.placement_ms, 99)

    @property
    def rate(self) -> float:
        return float(self.contended["orders"] / self.contended["seconds"])


async def measure(
    database: Database, buyers: int, listings: int, stock: int, placements: int, seconds: float
) -> Result:
    """The placement and the contention runs against a fresh graph on `database`."""
    database.fresh()
    started = time.monotonic()
    api_port, bare_port = free_port(), free_port()
    api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
    try:
        database.inspect()
        env = database.env() | {
            "VENDR_PORT": str(api_port),
            "VENDR_WORKERS": "2",
            "VENDR_RATE_LIMITS": "off",
            "VENDR_JOBS_INTERVAL_SECONDS": "0",
        }
        with (
            server([str(BIN / "vendr"), "serve"], env, api + "/v1/heartbeat"),
            server(
                [str(BIN / "python"), "-m", "bench.bare"],
                {"BARE_PORT": str(bare_port), "BARE_WORKERS": "2"},
                bare + "/bare",
            ),
        ):
            connector = aiohttp.TCPConnector(limit=buyers + 4)
            async with aiohttp.ClientSession(connector=connector) as session:
                sellers = [
                    await _signup(session, api, kind="business", shop_name=f"Shop {i}")
                    for i in range(5)
                ]
                tokens = await asyncio.gather(*(_signup(session, api) for _ in range(buyers)))
                times = await _placement(session, api, sellers[0], tokens[0], placements)
                contended = await _contention(
                    session, api, sellers, list(tokens), listings, stock, seconds
                )
            bare_latency = await latency(bare, lambda i: "/bare", 500)
    finally:
        database.stop()
    return Result(times, contended, bare_latency.p50_ms, time.monotonic() - started)


def table(
    results: dict[str, Result | None], buyers: int, listings: int, stock: int
) -> list[Figure]:
    def contended(
        label: str, key: str, unit: str = "", better: str = "", digits: int = 0
    ) -> Figure:
        return figure(label, results, lambda r: float(r.contended[key]), unit, better, digits)

    return [
        figure("order placement, 1 client, p50", results, lambda r: r.p50_ms, "ms"),
        figure("order placement, 1 client, p99", results, lambda r: r.p99_ms, "ms"),
        figure(
            f"{buyers} buyers contending for {listings} hot listings ({stock} each): orders/s "
            "until sold out",
            results,
            lambda r: r.rate,
            "orders/s",
            "higher",
            0,
        ),
        contended("contention: time to sell out", "seconds", "s", "lower", 1),
        contended("contention: answered 409 (sold out under them)", "conflicts"),
        contended("contention: units sold (orders placed)", "orders"),
        contended("contention: units there were", "stock"),
        contended("contention: units left", "left"),
        contended("**oversold** (must be 0)", "oversold"),
        contended("server errors", "errors"),
        figure(
            "bare Sanic endpoint p50, same run",
            results,
            lambda r: r.bare_p50_ms,
            "ms",
            reference=True,
        ),
    ]


# the figures in bench/backends.md
HEADLINE = (0, 1, 2, 5, 8)


def markdown(
    results: dict[str, Result | None],
    databases: dict[str, Database],
    failures: dict[str, str],
    buyers: int,
    listings: int,
    stock: int,
    placements: int,
) -> str:
    setup = "; ".join(f"{d.label}: {d.describe()}" for d in databases.values())
    ran = {b: r for b, r in results.items() if r is not None}
    oversold = [f"{databases[b].label} {r.contended['oversold']}" for b, r in ran.items()]
    lines = [
        "# Deals benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; API with 2 Sanic workers "
        "and its background worker, rate limits off, on each backend in turn, each on a "
        f"fresh graph: {setup}. `make bench` writes this file.",
        "",
        *failed_lines(databases, failures),
        f"Both columns: the same run, {placements} orders placed one at a time by one client "
        f"(after 20 for warm-up) on a listing with plenty of stock, then {buyers} buyers "
        f"ordering one unit at a time at random from {listings} listings of {stock} units "
        "each until they are sold out.",
        "",
        *compare(table(results, buyers, listings, stock)),
        "",
        RATIO_NOTE,
        "",
        f"Oversold: {', '.join(oversold)} (must be 0 on each). "
        "Each order is one statement: it takes the listing's write lock (a write before the "
        "read), checks the stock, decrements it, creates the order, its line, its event and a "
        "line in the buyers' room. Then the order is read back and pushed to both parties.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buyers", type=int, default=32)
    parser.add_argument("--listings", type=int, default=10)
    parser.add_argument("--stock", type=int, default=50)
    parser.add_argument("--placements", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="falkordb,neo4j")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--summary", type=Path, default=backends.RESULTS)
    args = parser.parse_args()
    databases = chosen(
        args.backends, lambda b: Database.for_bench(b, ROOT / "var" / f"bench-deals-{b}")
    )
    sizes = (args.buyers, args.listings, args.stock, args.placements)
    results, failures = on_each(databases, lambda d: measure(d, *sizes, args.seconds))
    report = markdown(results, databases, failures, *sizes)
    args.out.write_text(report)
    print(report)
    size = (
        f"{args.placements} placements, {args.buyers} buyers on {args.listings} listings of "
        f"{args.stock}, the same on both"
    )
    setup = "; ".join(f"{d.label}: {d.describe()}" for d in databases.values())
    setup += "".join(f" {databases[b].label} did not finish: {why}" for b, why in failures.items())
    figures = table(results, args.buyers, args.listings, args.stock)
    headline = [figures[i] for i in HEADLINE]
    backends.record("deals", size, setup, headline, args.summary)
    oversold = [b for b, r in results.items() if r is not None and r.contended["oversold"]]
    if oversold or failures:
        raise SystemExit(f"oversold on {oversold}, failed on {list(failures)}: see the report")


if __name__ == "__main__":
    main()
