"""FalkorDB adapter (asyncio client over the Redis protocol)."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from falkordb.asyncio import FalkorDB
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from graph.infra.errors import Conflict, Invalid, StoreError, Unavailable
from graph.infra.events import with_facts
from graph.infra.store import schema
from graph.infra.store.cypher import Statement
from graph.infra.store.dialect import Dialect
from graph.infra.store.port import Params, Row, Table
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

    def __init__(self, pool: aioredis.ConnectionPool, graph_name: str) -> None:
        self._db = FalkorDB(connection_pool=pool)
        self._pool = pool
        self.graph_name = graph_name
        self._graph = self._db.select_graph(graph_name)

    async def run(self, st: Statement, params: Params | None = None) -> list[Row]:
        return await self.run_text(st.falkordb, with_facts(st.name, params), write=st.write)

    async def run_many(self, runs: Sequence[tuple[Statement, Params]]) -> None:
        """Write statements one after the other on one connection, pipelined: the server runs
        them in the order sent, each atomic, without a round trip between them."""
        if not runs:
            return
        conn = aioredis.Redis(connection_pool=self._pool)
        async with conn.pipeline(transaction=False) as pipe:
            for st, params in runs:
                # the client's own parameter header (falkordb-py), as `query` builds it
                text = self._graph._build_params_header(dict(with_facts(st.name, params) or {}))
                pipe.execute_command(
                    "GRAPH.QUERY", self.graph_name, text + st.falkordb, "--compact",
                    "timeout", QUERY_TIMEOUT_MS,
                )  # fmt: skip
            try:
                results = await pipe.execute(raise_on_error=False)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise translate(exc) from exc
        for result in results:
            if isinstance(result, Exception):
                raise translate(result) from result

    async def run_text(self, text: str, params: Params | None = None, *, write: bool) -> list[Row]:
        return (await self.run_table(text, params, write=write)).rows

    async def run_table(self, text: str, params: Params | None = None, *, write: bool) -> Table:
        query = self._graph.query if write else self._graph.ro_query
        try:
            result = await query(text, dict(params or {}), timeout=QUERY_TIMEOUT_MS)
        except ResponseError as exc:
            if "empty key" in str(exc):
                raise StoreError(f"graph {self.graph_name!r} does not exist yet") from exc
            raise translate(exc) from exc
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise translate(exc) from exc
        names = [c[1].decode() if isinstance(c[1], bytes) else str(c[1]) for c in result.header]
        rows = [dict(zip(names, (plain(v) for v in row), strict=True)) for row in result.result_set]
        return Table(names, rows)

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

    async def close(self) -> None:
        await self._pool.aclose()
