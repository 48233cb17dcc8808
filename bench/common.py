"""Shared bench plumbing: servers in subprocesses, a keep-alive HTTP client, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


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
    proc = subprocess.Popen(  # noqa: S603 - our own entry points, no shell
        args, env=os.environ | env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_up(health_url, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
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
