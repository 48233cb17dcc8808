"""Fires due deal timers: offers that expire unanswered, orders the seller did not confirm in
time, confirmed orders that complete by themselves.

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
from dataclasses import dataclass

import redis.asyncio as aioredis

from graph.deals.offers import OfferService
from graph.deals.orders import OrderService
from graph.ids import now_ms

log = logging.getLogger("vendr.deals")

BATCH = 200
LOCK_S = 60


@dataclass
class Fired:
    offers: int = 0
    orders: int = 0
    lost: int = 0  # due, but a person (or another worker) moved the deal first

    def __bool__(self) -> bool:
        return bool(self.offers or self.orders or self.lost)


class DealScheduler:
    def __init__(
        self, offers: OfferService, orders: OrderService, redis: aioredis.Redis, prefix: str
    ) -> None:
        self._offers = offers
        self._orders = orders
        self._redis = redis
        self._lock = f"{prefix}deals:lock"

    async def run_once(self) -> Fired:
        """Fire everything due now, in batches; returns what fired."""
        fired = Fired()
        if not await self._redis.set(self._lock, "1", nx=True, ex=LOCK_S):
            return fired  # another worker is sweeping
        try:
            for kind, service in (("offers", self._offers), ("orders", self._orders)):
                while True:
                    due = await service.due(now_ms(), BATCH)
                    fires = 0
                    for row in due:
                        if await service.fire(row["id"], row["status"], row["event"]):
                            fires += 1
                        else:
                            fired.lost += 1
                    setattr(fired, kind, getattr(fired, kind) + fires)
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
            if fired:
                log.info("deal timers: %s", fired)
        except Exception:
            log.exception("deal timer sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
