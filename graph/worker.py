"""The background process (`vendr worker`): the sweeper (expiry, purges, hype, feed pools), the
deal timers, the outbox's delivery, owed payment calls and the local provider's webhooks, never
in an HTTP worker's event loop, where a pools rebuild would stall the requests it serves. `vendr
serve` starts one beside its HTTP workers; in production it can run alone, and several of them
on several machines are safe (Redis locks, compare-and-set).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from graph.background import run_timers, sweeper
from graph.bootstrap import Services, bootstrap, shutdown, webhook_url
from graph.catalog import run_uploads
from graph.infra.settings import Settings
from graph.notify import run_outbox
from graph.payments import LocalProvider, run_deliveries, run_payouts, run_settlements

log = logging.getLogger("vendr.worker")


async def run(services: Services, stop: asyncio.Event) -> None:
    """Run the background loops the settings switch on until `stop` is set."""
    settings = services.settings
    loops = []
    if settings.jobs_interval_seconds > 0:
        loops.append(
            sweeper(
                services.jobs,
                services.redis,
                settings.redis_prefix,
                settings.jobs_interval_seconds,
                stop,
            )
        )
    if settings.deals_interval_seconds > 0:
        loops.append(run_timers(services.deal_timers, settings.deals_interval_seconds, stop))
    if settings.notify_interval_seconds > 0:
        loops.append(
            run_outbox(
                services.outbox,
                services.redis,
                settings.redis_prefix,
                settings.notify_interval_seconds,
                stop,
            )
        )
    if settings.payments_interval_seconds > 0:
        loops.append(run_settlements(services.payments, settings.payments_interval_seconds, stop))
        loops.append(
            run_payouts(
                services.payouts,
                settings.payout_interval_seconds,
                stop,
                tick_s=max(settings.payments_interval_seconds, 1.0),
            )
        )
        provider = services.payments.provider
        if isinstance(provider, LocalProvider):  # its webhooks, posted to the API
            loops.append(run_deliveries(provider, webhook_url(settings), stop))
    if services.uploads.enabled:  # direct uploads to the bucket, checked and re-encoded
        loops.append(run_uploads(services.uploads, stop))
    mirror = None
    if settings.mirror_graph_url:
        # imported here: a worker without a mirror does not load the analytics
        from graph.eventlog.mirror import make_mirror, run_mirror

        mirror = make_mirror(services)
        loops.append(run_mirror(mirror, settings.mirror_interval_seconds, stop))
    tasks = [asyncio.create_task(loop) for loop in loops]
    await stop.wait()
    # a round in progress is cut short: every step of a round is safe to redo
    _, pending = await asyncio.wait(tasks, timeout=2) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if mirror is not None:
        await mirror.close()


async def main_async(settings: Settings, *, ensure_schema: bool = True) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    services = await bootstrap(settings, ensure_schema=ensure_schema)
    log.info("background worker started")
    try:
        await run(services, stop)
    finally:
        await shutdown(services)
        log.info("background worker stopped")


def main(settings: Settings, *, ensure_schema: bool = True) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main_async(settings, ensure_schema=ensure_schema))


def managed(settings: dict[str, Any], ensure_schema: bool = True) -> None:
    """Entry point for Sanic's worker manager (a spawned process: settings come as a dict)."""
    main(Settings(**settings), ensure_schema=ensure_schema)
