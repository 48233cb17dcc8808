"""Rendered answers kept as their bytes, with their ETag: in Redis by catalog version, and in
each worker's memory in front of it (`PageCache`: a browse page, an anonymous listing).

Every bump of the catalog (graph.infra.cache.QueryCache) publishes the new version; `Versions`
follows that channel, a worker serves from memory only what was stored at the version it last
heard, and only while its subscription is up, so a memory hit costs no round trip and is never
older than the last bump the worker could know of.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from graph.infra.cache import QueryCache, versions_channel
from graph.infra.ids import now_ms

log = logging.getLogger("vendr.cache")


class _Incomplete(Exception):
    """The reply is not all in yet."""


def _reply(buf: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """One RESP2 reply from `buf` at `pos`: (the value, where the next starts)."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = buf[pos : pos + 1], bytes(buf[pos + 1 : end]), end + 2
    if kind == b"+":
        return line.decode(), pos
    if kind == b"-":
        return RuntimeError(line.decode()), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return bytes(buf[pos : pos + size]), pos + size + 2
    if kind == b"*":
        items = []
        for _ in range(max(int(line), 0)):
            item, pos = _reply(buf, pos)
            items.append(item)
        return items, pos
    raise ValueError(f"not a RESP reply: {kind!r}")


def _command(*args: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _Subscriber(asyncio.Protocol):
    """The subscription's connection. A message is applied in `data_received`, as its bytes
    arrive, not in a task scheduled later: a version published before a write was answered is
    in this socket before the next request is in the HTTP one, so it is applied before any
    handler of that request runs."""

    def __init__(self, versions: Versions) -> None:
        self._versions = versions
        self._buf = bytearray()
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # read even when nobody waits for it any more (a connection lost while stopping)
        self.subscribed.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buf += data
        pos = 0
        while pos < len(self._buf):
            try:
                value, pos = _reply(self._buf, pos)
            except _Incomplete:
                break
            self._versions._heard_from_redis()
            if isinstance(value, RuntimeError):
                if not self.subscribed.done():
                    self.subscribed.set_exception(value)
                continue
            if isinstance(value, list) and value:
                kind = value[0]
                if kind == b"message" and len(value) == 3:
                    self._versions._message(value[2])
                elif kind == b"subscribe" and not self.subscribed.done():
                    self.subscribed.set_result(None)
        del self._buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(exc or ConnectionError("closed"))
        if not self.closed.done():
            self.closed.set_result(None)


class Versions:
    """The versions `QueryCache.bump` publishes, as this process last heard them, over a
    subscription of its own. `current` is None while the subscription is not up (before it
    is, after it drops, until it is back and the versions are read again): then nothing is
    known, and a memory layer leaning on it is bypassed."""

    PING_S = 2.0  # a subscription silent for three pings is taken for dropped
    REACH_S = 1.0  # a bump this worker made and did not hear back within this drops it

    def __init__(self, redis: aioredis.Redis, prefix: str, scopes: Sequence[str]) -> None:
        self._redis = redis
        self._prefix = f"{prefix}cache:"
        self._channel = versions_channel(prefix)
        self._scopes = tuple(scopes)
        self._known: dict[str, int] = {}
        self._live = False
        self._up = asyncio.Event()
        self._heard = 0.0
        self._task: asyncio.Task[None] | None = None
        self._protocol: _Subscriber | None = None
        self._on_drop: list[Any] = []
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []
        self._stopping = False
        self.drops = 0  # how many times the subscription went down

    def current(self, scope: str) -> int | None:
        return self._known.get(scope) if self._live else None

    @property
    def live(self) -> bool:
        return self._live

    def on_drop(self, callback: Any) -> None:
        self._on_drop.append(callback)

    def _heard_from_redis(self) -> None:
        self._heard = asyncio.get_running_loop().time()

    def _message(self, payload: bytes) -> None:
        scope, _, raw = payload.decode().partition(" ")
        try:
            version = int(raw)
        except ValueError:
            return
        known = self._known.get(scope)
        # in order (the bump script publishes in the order it counts): a lower one means the
        # count started again (Redis lost its data), and what memory holds is not comparable
        if known is not None and version < known:
            for callback in self._on_drop:
                callback()
        self._known[scope] = version
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        waiting = []
        for scope, version, future in self._waiters:
            if future.done():
                continue
            if not self._live or self._known.get(scope, 0) >= version:
                future.set_result(None)
            else:
                waiting.append((scope, version, future))
        self._waiters = waiting

    async def reached(self, scope: str, version: int) -> None:
        """Until this process has heard `version` of `scope` (at most REACH_S; at once while
        the subscription is down: memory is bypassed then)."""
        if not self._live or self._known.get(scope, 0) >= version:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((scope, version, future))
        await asyncio.wait([future], timeout=self.REACH_S)
        if not future.done():
            # not heard in time: this subscription is not to be trusted
            log.warning("cache version %s %d not heard in %.1f s", scope, version, self.REACH_S)
            self._close()
            self._drop()

    def _drop(self) -> None:
        was = self._live
        self._live = False
        self._up.clear()
        self._known.clear()
        if was:
            self.drops += 1
        for callback in self._on_drop:
            callback()
        self._wake()

    async def start(self) -> None:
        """Subscribe (in the background: a worker starts serving without it, from Redis)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="versions")

    async def wait_live(self) -> None:
        await self._up.wait()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            # a cancellation arriving inside a redis-py call can be swallowed by it: the flag
            # ends the loop then, and the wait is bounded either way
            self._task.cancel()
            await asyncio.wait([self._task], timeout=2.0)
            self._task = None
        self._close()
        self._drop()

    def disconnect(self) -> None:
        """Drop the subscription (as a network failure would); it comes back by itself."""
        self._close()

    def _close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()

    async def _connect(self) -> _Subscriber:
        loop = asyncio.get_running_loop()
        pool = self._redis.connection_pool
        kw = pool.connection_kwargs
        protocol = _Subscriber(self)
        if kw.get("path"):
            await loop.create_unix_connection(lambda: protocol, kw["path"])
        else:
            context = None
            if issubclass(pool.connection_class, aioredis.SSLConnection):
                context = ssl.create_default_context(cafile=kw.get("ssl_ca_certs"))
                if kw.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
            await loop.create_connection(
                lambda: protocol, kw.get("host", "localhost"), kw.get("port", 6379), ssl=context
            )
        self._protocol = protocol
        assert protocol.transport is not None
        hello = b""
        if kw.get("password"):
            creds = [kw["username"], kw["password"]] if kw.get("username") else [kw["password"]]
            hello = _command("AUTH", *creds)
        protocol.transport.write(hello + _command("SUBSCRIBE", self._channel))
        return protocol

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            protocol: _Subscriber | None = None
            try:
                protocol = await self._connect()
                await asyncio.wait([protocol.subscribed], timeout=5.0)
                if not protocol.subscribed.done():
                    raise ConnectionError("no answer to SUBSCRIBE")
                protocol.subscribed.result()  # raises the refusal (AUTH)
                # subscribed first, then read: no bump falls between the two
                for scope in self._scopes:
                    raw = await self._redis.get(f"{self._prefix}{scope}:version")
                    read = int(raw) if raw is not None else 0
                    self._known[scope] = max(read, self._known.get(scope, 0))
                if self._stopping:
                    return
                self._live = True
                self._up.set()
                backoff = 0.05
                await self._watch(protocol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: from Redis only, until it is back
                log.warning("cache versions subscription: %s", exc)
            finally:
                if protocol is not None and protocol.transport is not None:
                    protocol.transport.abort()
                self._drop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _watch(self, protocol: _Subscriber) -> None:
        loop = asyncio.get_running_loop()
        self._heard = loop.time()
        while not protocol.closed.done() and not self._stopping:
            # asyncio.wait, not asyncio.timeout: on 3.11 a timeout expiring as the task is
            # cancelled can swallow the cancellation
            await asyncio.wait([protocol.closed], timeout=self.PING_S)
            if protocol.closed.done():
                return
            if loop.time() - self._heard > 3 * self.PING_S:
                raise ConnectionError("no answer to three pings")
            assert protocol.transport is not None
            protocol.transport.write(_command("PING"))


@dataclass(frozen=True, slots=True)
class Page:
    """An answer as sent: its bytes, their ETag, and until when it may be served (ms)."""

    body: bytes
    etag: str
    fresh_until: int


@dataclass(frozen=True, slots=True)
class PageSlot:
    """Where a page missing from the cache is to be kept."""

    key: str
    memory_key: str
    version: int


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class PageCache:
    """Rendered answers by version: a bounded LRU in this worker's memory, then Redis.

    Memory answers only what was stored at the version `versions` last heard for its scope,
    while the subscription is up, and before the entry's own end (the cache TTL from when
    it was rendered, or sooner when the page says so: a listing on it expires)."""

    def __init__(
        self, cache: QueryCache, versions: Versions | None, memory_bytes: int = 32 << 20
    ) -> None:
        self._cache = cache
        self.versions = versions
        self._memory: OrderedDict[str, tuple[int, Page]] = OrderedDict()
        self._bytes = 0
        self._budget = memory_bytes
        self.memory_hits = 0
        self.redis_hits = 0
        self.misses = 0
        if versions is not None:
            versions.on_drop(self.clear)

    @property
    def enabled(self) -> bool:
        return self._cache.enabled

    def clear(self) -> None:
        self._memory.clear()
        self._bytes = 0

    async def lookup(
        self, scope: str, versioned_by: str, parts: dict[str, Any]
    ) -> tuple[PageSlot | None, Page | None, str]:
        """The page for `parts`: from memory (no round trip), else Redis (one); or the slot
        to `store` it in. The last item says which: memory, redis or miss."""
        digest = self._cache.digest(parts)
        memory_key = f"{scope}:{digest}"
        now = now_ms()
        known = self.versions.current(versioned_by) if self.versions is not None else None
        if known is not None:
            held = self._memory.get(memory_key)
            if held is not None and held[0] == known and held[1].fresh_until > now:
                self._memory.move_to_end(memory_key)
                self.memory_hits += 1
                return None, held[1], "memory"
        key, version, raw = await self._cache.lookup_raw(scope, versioned_by, digest)
        slot = PageSlot(key, memory_key, version)
        if raw is not None:
            head, _, body = raw.partition(b"\n")
            fresh, _, etag = head.decode().partition(" ")
            page = Page(body, etag, int(fresh))
            if page.fresh_until > now_ms():
                self.redis_hits += 1
                self._remember(slot, page)
                return None, page, "redis"
        self.misses += 1
        return slot, None, "miss"

    async def store(self, slot: PageSlot, body: bytes, valid_until: int | None = None) -> Page:
        now = now_ms()
        fresh_until = now + int(self._cache.ttl * 1000)
        if valid_until is not None:
            fresh_until = min(fresh_until, valid_until)
        page = Page(body, etag_of(body), fresh_until)
        if fresh_until > now:
            raw = f"{fresh_until} {page.etag}\n".encode() + body
            await self._cache.store_raw(slot.key, raw, fresh_until - now)
            self._remember(slot, page)
        return page

    def _remember(self, slot: PageSlot, page: Page) -> None:
        if self.versions is None or not self.versions.live:
            return
        size = len(page.body) + len(slot.memory_key) + 64
        if size > self._budget // 8:
            return
        old = self._memory.pop(slot.memory_key, None)
        if old is not None:
            self._bytes -= len(old[1].body) + len(slot.memory_key) + 64
        self._memory[slot.memory_key] = (slot.version, page)
        self._bytes += size
        while self._bytes > self._budget and self._memory:
            key, (_, gone) = self._memory.popitem(last=False)
            self._bytes -= len(gone.body) + len(key) + 64
