"""API latency while the feed's pools are rebuilt: inside the HTTP worker's own event loop (how
the sweeper ran before the background worker) and in a process of its own (how it runs now).

`python -m bench.rebuild --serve-inloop` serves the app with one HTTP worker that rebuilds the
pools in its own loop a few seconds after it starts; `python -m bench.rebuild` rebuilds them
from a separate process, as `vendr worker` does. bench.catalog measures both on its 100k data.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from functools import partial
from typing import Any

import aiohttp
from sanic import Sanic
from sanic.worker.loader import AppLoader

from bench.common import BIN, percentile, server
from graph.bootstrap import bootstrap, shutdown
from graph.infra.settings import Settings

REBUILD_DELAY_S = 3.0


def inloop_app(settings: Settings) -> Sanic:
    from api.app import create_app

    app = create_app(settings)

    @app.after_server_start
    async def rebuild_soon(app: Sanic) -> None:
        async def later() -> None:
            await asyncio.sleep(REBUILD_DELAY_S)
            await app.ctx.services.pools.rebuild(wait=True)

        app.add_task(later(), name="bench-rebuild")

    return app


def serve_inloop() -> None:
    settings = Settings(background="off")
    loader = AppLoader(factory=partial(inloop_app, settings))
    app = loader.load()
    app.prepare(host=settings.host, port=settings.port, workers=1, access_log=False)
    Sanic.serve(primary=app, app_loader=loader)


async def rebuild_elsewhere() -> None:
    services = await bootstrap(Settings())
    try:
        await services.pools.rebuild(wait=True)
    finally:
        await shutdown(services)


async def _watch(base: str, path: Any, seconds: float) -> list[float]:
    """One client, one request at a time, for `seconds`: every latency in ms."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(base_url=base) as client:
        i = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with client.get(path(i)) as response:
                await response.read()
            times.append((time.perf_counter() - started) * 1000)
            i += 1
    return times


def _figures(times: list[float]) -> dict[str, float]:
    return {
        "n": len(times),
        "p50": percentile(times, 50),
        "p99": percentile(times, 99),
        "max": max(times),
        "slow": sum(t > 1000 for t in times),
    }


async def measure(env: dict[str, str], base: str, path: Any, seconds: float) -> dict[str, Any]:
    """Browse latency during a rebuild, before (in the HTTP worker) and now (elsewhere)."""
    one = env | {"VENDR_WORKERS": "1", "VENDR_CACHE_TTL_SECONDS": "0"}
    health = base + "/v1/heartbeat"
    with server([str(BIN / "python"), "-m", "bench.rebuild", "--serve-inloop"], one, health):
        before = await _watch(base, path, seconds)
    with server([str(BIN / "vendr"), "serve"], one | {"VENDR_BACKGROUND": "on"}, health):
        rebuild = await asyncio.create_subprocess_exec(
            str(BIN / "python"), "-m", "bench.rebuild", env=os.environ | one
        )
        try:
            after = await _watch(base, path, seconds)
        finally:
            await rebuild.wait()
    return {"before": _figures(before), "after": _figures(after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve-inloop", action="store_true")
    args = parser.parse_args()
    if args.serve_inloop:
        serve_inloop()
    else:
        asyncio.run(rebuild_elsewhere())


if __name__ == "__main__":
    main()
