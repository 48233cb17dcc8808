"""Deals benchmark: order placement through the HTTP API (one client, one at a time), then 32
buyers contending for 10 hot listings with little stock, counting what was sold against what
there was: the oversell count must be 0. A bare Sanic endpoint runs in the same run for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import shutil
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from bench.common import BIN, ROOT, free_port, latency, machine, percentile, server
from graph.infra import embedded

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


async def run(buyers: int, listings: int, stock: int, placements: int, seconds: float) -> str:
    data_dir = ROOT / "var" / "bench-deals"
    embedded.stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    embedded.start(data_dir)
    api_port, bare_port = free_port(), free_port()
    env = {
        "VENDR_DATA_DIR": str(data_dir),
        "VENDR_PORT": str(api_port),
        "VENDR_WORKERS": "2",
        "VENDR_RATE_LIMITS": "off",
        "VENDR_JOBS_INTERVAL_SECONDS": "0",
    }
    api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
    try:
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
        embedded.stop(data_dir)
    rate = contended["orders"] / contended["seconds"]
    lines = [
        "# Deals benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; embedded FalkorDB, API with "
        "2 Sanic workers and its background worker, rate limits off. `make bench` writes this "
        "file.",
        "",
        "| what | figure |",
        "|---|---|",
        f"| order placement, 1 client, p50 | **{statistics.median(times):.1f} ms** "
        f"(bare endpoint {bare_latency.p50_ms:.1f} ms) |",
        f"| order placement, 1 client, p99 | **{percentile(times, 99):.1f} ms** "
        f"({len(times)} orders, one at a time) |",
        f"| {buyers} buyers contending for {listings} hot listings ({stock} each) | "
        f"**{rate:,.0f} orders/s** until sold out ({contended['orders']} orders in "
        f"{contended['seconds']:.1f} s, {contended['conflicts']} answered 409) |",
        f"| units sold / units there were / left | {contended['orders']} / "
        f"{contended['stock']} / {contended['left']} |",
        f"| **oversold** | **{contended['oversold']}** (must be 0) |",
        f"| server errors | {contended['errors']} |",
        "",
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
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    report = asyncio.run(run(args.buyers, args.listings, args.stock, args.placements, args.seconds))
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
