"""Shared bench plumbing: servers in subprocesses, a keep-alive HTTP client, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
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
def server(args: list[str], env: dict[str, str], health_url: str) -> Iterator[None]:
    proc = subprocess.Popen(  # noqa: S603 - our own entry points, no shell
        args, env=os.environ | env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_up(health_url, proc)
        yield
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
