"""FalkorDB adapter (asyncio client over the Redis protocol), with read replicas.

Reads and writes. With replicas (`VENDR_GRAPH_REPLICA_URLS`: servers started with `replicaof`
the primary), a read-only statement (`Statement.write` false: `GRAPH.RO_QUERY`) goes to a
replica in step, in turn; every write goes to the primary. A replica that fails a read for want
of a server (refused, timed out, loading) is taken out and the read is run again on the primary:
a replica going away never fails a request.

Read-your-own-writes: by replication acknowledgement, not by stickiness. After each write, on
the same connection, the primary is asked `WAIT <in-step replicas> <graph_replica_wait_ms>`:
the write returns only once every replica serving reads holds it, so any later read, from this
person or anyone, on this API node or another, sees it. Stickiness (reads on the primary for a
while after a person's write) was not chosen: it needs a marker shared by every node (one more
Redis round trip per read), guesses a duration, and still lets another person read a stale
replica. WAIT costs each write one replication round trip (+0.6 ms at the median on one
machine, bench/replicas.md) and needs nothing shared. When WAIT times out (a replica lagging or
gone), the write has still happened on the primary and returns; the replicas leave the read
rotation at once and each comes back only when a check finds its replication offset at the
primary's (graph.infra.store.replicas).

Failover: when the primary dies, writes fail with 503 Unavailable (clients retry), and reads go
on from the replicas, which still answer (`replica-serve-stale-data`, Redis' default), serving
what they held. Promoting a replica (`REPLICAOF NO ONE`, or Sentinel) and pointing
`VENDR_GRAPH_URL` at it is the operator's job; the app does not elect a primary. A dead replica
(connection refused) costs a read only its retry on the primary; a hung one holds the reads
already sent to it for up to a statement's timeout, and is out of the rotation after its first
unanswered check (2 s).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from falkordb.asyncio import FalkorDB
from falkordb.asyncio.graph import AsyncGraph
from falkordb.asyncio.query_result import QueryResult
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from graph.infra.errors import Conflict, Invalid, StoreError, Unavailable
from graph.infra.events import with_facts
from graph.infra.store import schema
from graph.infra.store.cypher import Statement
from graph.infra.store.dialect import Dialect
from graph.infra.store.port import Params, Row, Table
from graph.infra.store.replicas import UNREACHABLE, ReplicaSet, not_now
from graph.infra.store.values import plain

QUERY_TIMEOUT_MS = 10_000


def translate(exc: Exception) -> Exception:
    message = str(exc)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return Unavailable("graph database unreachable")
    if "unique constraint violation" in message:
        return Conflict("already exists")
    if "read-only" in message.lower() or "is to be executed only on read-write" in message:
        return Invalid("this statement writes; run it with --write")
    return StoreError(message)


class FalkorStore:
    dialect: Dialect = "falkordb"

    def __init__(
        self,
        pool: aioredis.ConnectionPool,
        graph_name: str,
        replicas: Sequence[tuple[str, aioredis.ConnectionPool]] = (),
        *,
        wait_ms: int = 500,
        check_seconds: float = 1.0,
    ) -> None:
        """`replicas`: (host:port, pool) of each replica of the primary `pool` serves."""
        self._db = FalkorDB(connection_pool=pool)
        self._pool = pool
        self.graph_name = graph_name
        self._graph = self._db.select_graph(graph_name)
        self._wait_ms = wait_ms
        self.replicas = (
            ReplicaSet(
                pool, list(replicas), graph_name, wait_ms=wait_ms, check_seconds=check_seconds
            )
            if replicas
            else None
        )

    async def run(self, st: Statement, params: Params | None = None) -> list[Row]:
        return await self.run_text(st.falkordb, with_facts(st.name, params), write=st.write)

    async def run_many(self, runs: Sequence[tuple[Statement, Params]]) -> None:
        """Write statements one after the other on one connection, pipelined: the server runs
        them in the order sent, each atomic, without a round trip between them; with replicas,
        a `WAIT` for them ends the pipeline."""
        if not runs:
            return
        expected = 0
        if self.replicas is not None:
            await self.replicas.started()
            expected = len(self.replicas.in_step())
        conn = aioredis.Redis(connection_pool=self._pool)
        async with conn.pipeline(transaction=False) as pipe:
            for st, params in runs:
                # the client's own parameter header (falkordb-py), as `query` builds it
                text = self._graph._build_params_header(dict(with_facts(st.name, params) or {}))
                pipe.execute_command(
                    "GRAPH.QUERY", self.graph_name, text + st.falkordb, "--compact",
                    "timeout", QUERY_TIMEOUT_MS,
                )  # fmt: skip
            if expected:
                pipe.execute_command("WAIT", expected, self._wait_ms)
            try:
                results = await pipe.execute(raise_on_error=False)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise translate(exc) from exc
        if expected:
            *results, acked = results
            if self.replicas is not None and not (isinstance(acked, int) and acked >= expected):
                await self.replicas.missed(acked if isinstance(acked, int) else 0, expected)
        for result in results:
            if isinstance(result, Exception):
                raise translate(result) from result

    async def run_text(self, text: str, params: Params | None = None, *, write: bool) -> list[Row]:
        return (await self.run_table(text, params, write=write)).rows

    async def run_table(self, text: str, params: Params | None = None, *, write: bool) -> Table:
        args = dict(params or {})
        if write:
            if self.replicas is not None:
                return _table(await self._write_and_wait(text, args))
            return _table(await self._query(self._graph, text, args, write=True))
        if self.replicas is not None:
            replica = await self.replicas.pick()
            if replica is not None:
                try:
                    result = await replica.graph.ro_query(text, args, timeout=QUERY_TIMEOUT_MS)
                except (ResponseError, *UNREACHABLE) as exc:
                    if not not_now(exc):
                        raise self._failed(exc) from exc
                    self.replicas.failed(replica, exc)  # and the read runs on the primary
                else:
                    replica.reads += 1
                    return _table(result)
        return _table(await self._query(self._graph, text, args, write=False))

    async def _query(
        self, graph: AsyncGraph, text: str, args: dict[str, object], *, write: bool
    ) -> QueryResult:
        query = graph.query if write else graph.ro_query
        try:
            return await query(text, args, timeout=QUERY_TIMEOUT_MS)
        except (ResponseError, RedisConnectionError, RedisTimeoutError) as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: Exception) -> Exception:
        if isinstance(exc, ResponseError) and "empty key" in str(exc):
            return StoreError(f"graph {self.graph_name!r} does not exist yet")
        return translate(exc)

    async def _write_and_wait(self, text: str, args: dict[str, object]) -> QueryResult:
        """The write, then `WAIT` on its connection for the replicas serving reads."""
        assert self.replicas is not None
        await self.replicas.started()
        generation, expected = self.replicas.generation, len(self.replicas.in_step())
        query = self._graph._build_params_header(args) + text  # falkordb-py's own header
        conn = aioredis.Redis(connection_pool=self._pool, single_connection_client=True)
        try:
            try:
                response = await conn.execute_command(
                    "GRAPH.QUERY", self.graph_name, query, "--compact",
                    "timeout", QUERY_TIMEOUT_MS,
                )  # fmt: skip
                result = QueryResult(self._graph)
                await result.parse(response)
            except (ResponseError, RedisConnectionError, RedisTimeoutError) as exc:
                raise self._failed(exc) from exc
            if self.replicas.generation != generation:
                # a replica came back into step meanwhile and serves reads: it must hold this
                expected = len(self.replicas.in_step())
            await self._wait(conn, expected)
        finally:
            await conn.aclose()
        return result

    async def _wait(self, conn: aioredis.Redis, expected: int) -> None:
        assert self.replicas is not None
        if not expected:
            return
        try:
            acked = int(await conn.execute_command("WAIT", expected, self._wait_ms))
        except (ResponseError, RedisConnectionError, RedisTimeoutError):
            acked = 0  # the write is done; whether the replicas hold it is unknown
        if acked < expected:
            await self.replicas.missed(acked, expected)

    def text_query(self, words: list[str]) -> str:
        # RediSearch: terms separated by spaces must all match; `*` makes the last a prefix
        return " ".join([*words[:-1], words[-1] + "*"])

    async def ensure_schema(self) -> None:
        conn = aioredis.Redis(connection_pool=self._pool)
        for ddl in schema.falkordb_indexes():
            try:
                await self._graph.query(ddl)
            except ResponseError as exc:
                if "already indexed" not in str(exc) and "already exists" not in str(exc):
                    raise translate(exc) from exc
        for label, prop in schema.UNIQUE:
            try:
                await conn.execute_command(
                    "GRAPH.CONSTRAINT",
                    "CREATE",
                    self.graph_name,
                    "UNIQUE",
                    "NODE",
                    label,
                    "PROPERTIES",
                    1,
                    prop,
                )
            except ResponseError as exc:
                if "already exists" not in str(exc):
                    raise translate(exc) from exc
        if self.replicas is not None:
            await self.replicas.settle()

    async def ping(self) -> bool:
        try:
            await self._graph.ro_query("RETURN 1")
        except (ResponseError, RedisConnectionError, RedisTimeoutError):
            return False
        return True

    async def drop_all(self) -> None:
        conn = aioredis.Redis(connection_pool=self._pool)
        try:
            await conn.execute_command("GRAPH.DELETE", self.graph_name)
        except ResponseError as exc:
            if "empty key" not in str(exc).lower() and "invalid graph" not in str(exc).lower():
                raise translate(exc) from exc
        if self.replicas is not None:
            await self.replicas.settle()

    async def close(self) -> None:
        if self.replicas is not None:
            await self.replicas.close()
        await self._pool.aclose()


def _table(result: QueryResult) -> Table:
    names = [c[1].decode() if isinstance(c[1], bytes) else str(c[1]) for c in result.header]
    rows = [dict(zip(names, (plain(v) for v in row), strict=True)) for row in result.result_set]
    return Table(names, rows)
