"""FalkorDB read replicas: which of them may serve a read now, kept up to date by a watcher.

A replica is a FalkorDB server started with `replicaof <primary>` (and `masterauth`): Redis
replication streams it every graph command the primary runs, so it holds the same graph a
moment later and answers `GRAPH.RO_QUERY` (it refuses writes: `replica-read-only`).

A replica serves reads only while it is *in step*:

- it answers, it is a replica (`role:slave`), and no full resync is loading it;
- it holds every write that ended before: each write on the primary waits for the in-step
  replicas with `WAIT` (graph.infra.store.falkordb), and a replica that did not acknowledge in
  time is taken out at once and comes back only when its replication offset has reached the
  primary's (`INFO replication`), sampled on the same check;
- a replica in step also keeps up: at each check (every `check_seconds`) its offset must have
  reached the primary's offset of the check before, i.e. it is less than one period behind.
  This is what another API node, whose writes did not wait on a lagging replica, relies on.

When the primary does not answer (it died; promoting a replica is Sentinel's or the operator's
job), a replica that answers stays in step: reads go on from what it holds, writes fail (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from falkordb.asyncio.graph import AsyncGraph
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from graph.infra.tasks import raise_if_cancelled

log = logging.getLogger("vendr.replicas")

# a reply that means "this server cannot answer now", not "this statement is wrong"
NOT_NOW = ("LOADING", "MASTERDOWN", "NOAUTH", "WRONGPASS", "TRYAGAIN")
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
# a check waits this long for a replica's answer: a hung one is out of step after it
CHECK_TIMEOUT_S = 2.0


def not_now(exc: Exception) -> bool:
    """The server could not answer (unreachable, loading, no link to its primary)."""
    if isinstance(exc, UNREACHABLE):
        return True
    return isinstance(exc, ResponseError) and str(exc).upper().startswith(NOT_NOW)


@dataclass(eq=False)
class Replica:
    name: str  # host:port, for logs (never the password)
    pool: aioredis.ConnectionPool
    graph: AsyncGraph
    in_step: bool = False
    # it serves no read until its replication offset reaches this (the primary's, when it
    # missed a write's WAIT)
    behind: int = 0
    reads: int = field(default=0)

    @property
    def client(self) -> aioredis.Redis:
        return aioredis.Redis(connection_pool=self.pool)


async def _replication(client: aioredis.Redis) -> dict[str, Any]:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that lands
    # as the answer comes in, and the watcher, cancelled on close, would check on for ever
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            info = await client.info("replication")
    except TimeoutError as exc:
        raise RedisTimeoutError(f"no answer in {CHECK_TIMEOUT_S:g} s") from exc
    return dict(info)


class ReplicaSet:
    """The replicas of one primary, which of them are in step, and the watcher that says so."""

    def __init__(
        self,
        primary: aioredis.ConnectionPool,
        replicas: list[tuple[str, aioredis.ConnectionPool]],
        graph_name: str,
        *,
        wait_ms: int,
        check_seconds: float,
    ) -> None:
        self._primary = primary
        self.replicas = [
            # the graph on the pool as is: `FalkorDB(...)` would ask the server, blocking,
            # whether it is a cluster, and fail the start when a replica is down then
            Replica(name, pool, AsyncGraph(aioredis.Redis(connection_pool=pool), graph_name))
            for name, pool in replicas
        ]
        self.wait_ms = wait_ms
        self.check_seconds = check_seconds
        self._turn = itertools.count()
        self._last_offset: int | None = None  # the primary's, at the check before
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False  # the watcher stops on it too, not on its cancellation alone
        self._first = asyncio.Lock()
        self._checked = False
        # bumped each time a replica comes back into step: a write that began before must
        # wait for it too (graph.infra.store.falkordb)
        self.generation = 0

    def in_step(self) -> list[Replica]:
        return [r for r in self.replicas if r.in_step]

    async def started(self) -> None:
        """The first use waits for the first check, once; the watcher checks after that."""
        if not self._checked:
            async with self._first:
                if not self._checked:
                    try:
                        await self.check()
                    except Exception:  # a request never fails on a check: reads on the primary
                        log.exception("replica check failed")
        if not self._closed and (self._watcher is None or self._watcher.done()):
            self._watcher = asyncio.get_running_loop().create_task(self._run())

    async def pick(self) -> Replica | None:
        """A replica in step for the next read (in turn), or None: read on the primary."""
        await self.started()
        ready = self.in_step()
        if not ready:
            return None
        return ready[next(self._turn) % len(ready)]

    def failed(self, replica: Replica, exc: Exception) -> None:
        """A read on it failed for want of a server: out of step until a check finds it back."""
        if replica.in_step:
            log.warning("replica %s out of step, reads on the primary: %s", replica.name, exc)
        replica.in_step = False

    async def missed(self, acked: int, expected: int) -> None:
        """A write's WAIT was acknowledged by fewer in-step replicas than expected: which ones
        lag is not said, so all leave until they hold what the primary holds now."""
        offset = 0
        with contextlib.suppress(*UNREACHABLE, ResponseError):
            offset = await self._primary_offset()
        for replica in self.replicas:
            if replica.in_step:
                replica.in_step = False
                replica.behind = max(replica.behind, offset)
        log.warning(
            "a write reached %d of %d replicas within %d ms: reads on the primary until they "
            "catch up (offset %d)",
            acked,
            expected,
            self.wait_ms,
            offset,
        )

    async def settle(self) -> None:
        """Wait, up to `wait_ms`, until the replicas in step hold all the primary holds now: for
        writes a `WAIT` did not cover (schema changes, a graph deleted). One that does not is
        out of step until it does."""
        try:
            target = await self._primary_offset()
        except (*UNREACHABLE, ResponseError):
            return
        deadline = asyncio.get_running_loop().time() + self.wait_ms / 1000
        for replica in self.in_step():
            while True:
                try:
                    offset = int((await _replication(replica.client)).get("slave_repl_offset", -1))
                except (*UNREACHABLE, ResponseError) as exc:
                    self.failed(replica, exc)
                    break
                if offset >= target:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    replica.in_step = False
                    replica.behind = max(replica.behind, target)
                    log.warning("replica %s behind after %d ms", replica.name, self.wait_ms)
                    break
                await asyncio.sleep(0.005)

    async def _primary_offset(self) -> int:
        info = await _replication(aioredis.Redis(connection_pool=self._primary))
        return int(info["master_repl_offset"])

    async def check(self) -> None:
        """One check of every replica against the primary's replication offset."""
        self._checked = True
        primary_offset: int | None = None
        with contextlib.suppress(*UNREACHABLE, ResponseError):
            primary_offset = await self._primary_offset()
        before = self._last_offset if self._last_offset is not None else primary_offset
        for replica in self.replicas:
            try:
                info = await _replication(replica.client)
            except (*UNREACHABLE, ResponseError) as exc:
                if replica.in_step:
                    log.warning(
                        "replica %s unreachable, reads on the primary: %s", replica.name, exc
                    )
                replica.in_step = False
                continue
            was = replica.in_step
            replica.in_step = self._judge(replica, info, primary_offset, before)
            if replica.in_step and not was:
                replica.behind = 0
                self.generation += 1
                log.info("replica %s in step, serving reads", replica.name)
            elif was and not replica.in_step:
                log.warning("replica %s fell behind, reads on the primary", replica.name)
        self._last_offset = primary_offset

    @staticmethod
    def _judge(
        replica: Replica, info: dict[str, Any], primary: int | None, before: int | None
    ) -> bool:
        if primary is None:
            # the primary is gone: serve what the replica holds (it may lack the last writes
            # made before the primary died; promotion is the operator's or Sentinel's)
            return True
        if info.get("role") != "slave" or int(info.get("master_sync_in_progress", 0)):
            return False
        offset = int(info.get("slave_repl_offset", -1))
        if replica.in_step:
            return offset >= max(replica.behind, before or 0)
        # coming back: everything the primary held when this check began
        return offset >= max(replica.behind, primary)

    async def _run(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.check_seconds)
            if self._closed:
                return
            raise_if_cancelled()
            try:
                await self.check()
            except Exception:  # the watcher outlives any one bad check
                log.exception("replica check failed")

    async def close(self) -> None:
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._watcher
            self._watcher = None
        for replica in self.replicas:
            await replica.pool.aclose()
