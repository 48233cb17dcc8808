"""Neo4j 5 adapter: the official async driver, managed transactions, `database_` always given.

Driver errors become domain errors here, once: a broken constraint is a Conflict, a write in a
read-only run is Invalid, an unreachable or overloaded server is Unavailable (503, retried by
the client), anything else a StoreError (500). Each statement has its own timeout, as on
FalkorDB.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from neo4j import (
    AsyncDriver,
    AsyncGraphDatabase,
    AsyncManagedTransaction,
    Query,
    RoutingControl,
    unit_of_work,
)
from neo4j.exceptions import (
    AuthError,
    ConstraintError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from graph.infra.errors import Conflict, Invalid, StoreError, Unavailable
from graph.infra.events import with_facts
from graph.infra.store import schema
from graph.infra.store.cypher import Statement
from graph.infra.store.dialect import Dialect
from graph.infra.store.port import Params, Row, Table
from graph.infra.store.values import plain

log = logging.getLogger("vendr.neo4j")

QUERY_TIMEOUT_S = 10.0

# how Neo4j says it ended a transaction that ran past its timeout (the statement's own, or the
# server's backstop), whether it was running or waiting for a lock then
TIMED_OUT = frozenset(
    {
        "Neo.ClientError.Transaction.TransactionTimedOut",
        "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration",
        "Neo.ClientError.Transaction.LockClientStopped",
    }
)


def translate(exc: Exception, database: str = "") -> Exception:
    if isinstance(exc, ServiceUnavailable | SessionExpired):
        return Unavailable("graph database unreachable")
    if isinstance(exc, AuthError):
        return Unavailable("the graph database refused the credentials")
    if isinstance(exc, ConstraintError):
        return Conflict("already exists")
    if isinstance(exc, TransientError):  # deadlocks and lock timeouts, after the retries
        return Unavailable("the graph database is busy; try again")
    if isinstance(exc, Neo4jError) and exc.code in TIMED_OUT:
        # the statement waited past its timeout (a lock held by a queue of others on a
        # loaded server): the server ended it, nothing was written; the client may retry
        return Unavailable("the graph database is busy; try again")
    if isinstance(exc, Neo4jError):
        if exc.code == "Neo.ClientError.Statement.AccessMode":
            return Invalid("this statement writes; run it with --write")
        if exc.code == "Neo.ClientError.Database.DatabaseNotFound":
            return StoreError(f"graph {database!r} does not exist yet")
    return StoreError(str(exc))


class Neo4jStore:
    dialect: Dialect = "neo4j"

    def __init__(self, driver: AsyncDriver, database: str) -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def connect(cls, uri: str, user: str, password: str, database: str) -> Neo4jStore:
        driver = AsyncGraphDatabase.driver(
            uri,
            auth=(user, password),
            # the server's notes on a query go to the log; "this label does not exist yet" is
            # every query's on an empty graph, and "this index exists" every start's
            notifications_min_severity="WARNING",
            notifications_disabled_classifications=["UNRECOGNIZED"],
            # a request waits at most this long on a server that is gone or a lock that is
            # taken, as on FalkorDB, instead of the driver's 30 s: then it is a 503
            max_transaction_retry_time=QUERY_TIMEOUT_S,
            connection_timeout=QUERY_TIMEOUT_S,
            connection_acquisition_timeout=QUERY_TIMEOUT_S,
        )
        return cls(driver, database)

    async def run(self, st: Statement, params: Params | None = None) -> list[Row]:
        return await self.run_text(st.neo4j, with_facts(st.name, params), write=st.write)

    async def run_many(self, runs: Sequence[tuple[Statement, Params]]) -> None:
        """Write statements one after the other in one transaction (a refusal by one of them is
        an empty result, not an error; an error undoes them all)."""
        if not runs:
            return

        # a page of statements: the transaction's bound is the statements' bound times a few
        @unit_of_work(timeout=QUERY_TIMEOUT_S * 6)
        async def work(tx: AsyncManagedTransaction) -> None:
            for st, params in runs:
                result = await tx.run(st.neo4j, dict(with_facts(st.name, params) or {}))
                await result.consume()

        try:
            async with self._driver.session(database=self._database) as session:
                await session.execute_write(work)
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, self._database) from exc

    async def run_text(self, text: str, params: Params | None = None, *, write: bool) -> list[Row]:
        return (await self.run_table(text, params, write=write)).rows

    async def run_table(self, text: str, params: Params | None = None, *, write: bool) -> Table:
        try:
            result = await self._driver.execute_query(
                # registered statements or admin files, never user text
                Query(text, timeout=QUERY_TIMEOUT_S),
                dict(params or {}),
                database_=self._database,
                routing_=RoutingControl.WRITE if write else RoutingControl.READ,
            )
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, self._database) from exc
        columns = list(result.keys)
        return Table(columns, [{k: plain(record[k]) for k in columns} for record in result.records])

    def text_query(self, words: list[str]) -> str:
        # Lucene: explicit AND; lowercase terms are never operators
        return " AND ".join([*words[:-1], words[-1] + "*"])

    async def ensure_schema(self) -> None:
        for ddl in schema.neo4j_ddl():
            await self.run_text(ddl, write=True)

    async def ping(self) -> bool:
        try:
            await self._driver.verify_connectivity()
        except (Neo4jError, DriverError):
            return False
        return True

    async def drop_all(self) -> None:
        # in batches (a large graph in one transaction would be held in memory whole); `IN
        # TRANSACTIONS` runs only in an auto-commit transaction, never a managed one
        try:
            async with self._driver.session(database=self._database) as session:
                result = await session.run(
                    "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
                )
                await result.consume()
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, self._database) from exc

    async def close(self) -> None:
        await self._driver.close()
