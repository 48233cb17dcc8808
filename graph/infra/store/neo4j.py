"""Neo4j 5 adapter: the official async driver, managed transactions, `database_` always given."""

from __future__ import annotations

from neo4j import AsyncDriver, AsyncGraphDatabase, RoutingControl
from neo4j.exceptions import ClientError, ConstraintError, ServiceUnavailable, SessionExpired

from graph.infra.errors import Conflict, Invalid, StoreError, Unavailable
from graph.infra.store import schema
from graph.infra.store.cypher import Statement
from graph.infra.store.dialect import Dialect
from graph.infra.store.port import Params, Row, Table
from graph.infra.store.values import plain


def translate(exc: Exception) -> Exception:
    if isinstance(exc, ServiceUnavailable | SessionExpired):
        return Unavailable("graph database unreachable")
    if isinstance(exc, ConstraintError):
        return Conflict("already exists")
    if isinstance(exc, ClientError) and "access mode" in str(exc):
        return Invalid("this statement writes; run it with --write")
    return StoreError(str(exc))


class Neo4jStore:
    dialect: Dialect = "neo4j"

    def __init__(self, driver: AsyncDriver, database: str) -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def connect(cls, uri: str, user: str, password: str, database: str) -> Neo4jStore:
        return cls(AsyncGraphDatabase.driver(uri, auth=(user, password)), database)

    async def run(self, st: Statement, params: Params | None = None) -> list[Row]:
        return await self.run_text(st.neo4j, params, write=st.write)

    async def run_text(self, text: str, params: Params | None = None, *, write: bool) -> list[Row]:
        return (await self.run_table(text, params, write=write)).rows

    async def run_table(self, text: str, params: Params | None = None, *, write: bool) -> Table:
        try:
            result = await self._driver.execute_query(
                text,  # registered statements or admin files, never user text
                dict(params or {}),
                database_=self._database,
                routing_=RoutingControl.WRITE if write else RoutingControl.READ,
            )
        except (ClientError, ServiceUnavailable, SessionExpired) as exc:
            raise translate(exc) from exc
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
        except (ServiceUnavailable, SessionExpired, ClientError):
            return False
        return True

    async def drop_all(self) -> None:
        await self.run_text("MATCH (n) DETACH DELETE n", write=True)

    async def close(self) -> None:
        await self._driver.close()
