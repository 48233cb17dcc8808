"""Fires due deal timers: offers that expire unanswered, orders the seller did not confirm (or
the buyer did not pay) in time, confirmed orders that complete by themselves, promotions whose
payment never came or whose period is over.

Deadlines live on the nodes (`due_at`, `due_event`), so a restart loses none and a timer
fires late rather than never. Each is fired through the same compare-and-set as a person's
action, from the state it was read in: a timer that lost its race to a person does nothing.
A Redis lock keeps several workers from sweeping at once (the compare-and-set keeps them
from firing twice even without it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any, Protocol

import redis.asyncio as aioredis

from graph.infra.ids import now_ms

log = logging.getLogger("vendr.deals")

BATCH = 200
LOCK_S = 60


class Timed(Protocol):
    """A kind of deal with timers: what is due, and firing one from the state it was read in."""

    async def due(self, now: int, batch: int) -> list[dict[str, Any]]: ...

    async def fire(self, deal_id: str, status: str, name: str) -> bool: ...


class Fired(Counter[str]):
    """Timers fired per kind of deal, and `lost`: due, but a person (or another worker) moved
    the deal first."""


class DealScheduler:
    def __init__(self, kinds: dict[str, Timed], redis: aioredis.Redis, prefix: str) -> None:
        self._kinds = kinds
        self._redis = redis
        self._lock = f"{prefix}deals:lock"

    async def run_once(self) -> Fired:
        """Fire everything due now, in batches; returns what fired."""
        fired = Fired()
        if not await self._redis.set(self._lock, "1", nx=True, ex=LOCK_S):
            return fired  # another worker is sweeping
        try:
            for kind, service in self._kinds.items():
                while True:
                    due = await service.due(now_ms(), BATCH)
                    fires = 0
                    for row in due:
                        if await service.fire(row["id"], row["status"], row["event"]):
                            fires += 1
                        else:
                            fired["lost"] += 1
                    fired[kind] += fires
                    # a row that would not fire keeps its deadline: stop rather than re-read it
                    if len(due) < BATCH or fires == 0:
                        break
        finally:
            await self._redis.delete(self._lock)
        return fired


async def run_timers(scheduler: DealScheduler, interval_s: float, stop: asyncio.Event) -> None:
    """Sweep every interval until stopped; a failed sweep is logged and the next one retries."""
    while not stop.is_set():
        try:
            fired = await scheduler.run_once()
            if +fired:
                log.info("deal timers: %s", dict(fired))
        except Exception:
            log.exception("deal timer sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
