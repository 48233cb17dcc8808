"""Fixtures: one real embedded FalkorDB per test process, and one real Neo4j Community (`make
neo4j`) started by the first test that runs on it; a fresh graph and key prefix per test; the
real Sanic app driven through Sanic's ASGI test client.

Tests that take the `backend` fixture run on both. `VENDR_TEST_BACKENDS=falkordb` runs only
FalkorDB (quicker, while working); `NEO4J_URI` (with `NEO4J_USER`, `NEO4J_PASSWORD`,
`NEO4J_DATABASE`) points the Neo4j leg at a server of your own, which the tests empty."""

from __future__ import annotations

import io
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase
from PIL import Image
from sanic import Sanic
from sanic_testing.testing import TestingResponse

from api.app import create_app
from graph.bootstrap import Services, bootstrap, shutdown
from graph.infra import embedded, neo4j_local, s3proxy_local
from graph.infra.settings import Settings

Sanic.test_mode = True

# Property and fuzz tests draw the same examples on every run (`--hypothesis-seed=0` in
# pyproject's addopts), after replaying the failures `make fuzz` found: those are saved in
# tests/examples/, committed, and only read here. `make fuzz` explores with a new seed each
# run (the profile "fuzz", which writes what fails there).
EXAMPLES = Path(__file__).parent / "examples"
# Both descend from Hypothesis' own defaults, not from whatever profile is current: under a
# CI variable Hypothesis loads its `ci` profile (derandomized, no database), which would
# otherwise be their parent and refuse the example database.
_DEFAULTS = hypothesis_settings.get_profile("default")
hypothesis_settings.register_profile(
    "suite",
    parent=_DEFAULTS,
    database=ReadOnlyDatabase(DirectoryBasedExampleDatabase(EXAMPLES)),
    print_blob=True,
)
hypothesis_settings.register_profile(
    "fuzz", parent=_DEFAULTS, database=DirectoryBasedExampleDatabase(EXAMPLES), print_blob=True
)
hypothesis_settings.load_profile(os.environ.get("VENDR_HYPOTHESIS_PROFILE", "suite"))


BACKENDS = os.environ.get("VENDR_TEST_BACKENDS", "falkordb,neo4j").split(",")


@dataclass(frozen=True)
class Neo4jServer:
    uri: str
    user: str
    password: str
    database: str


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer]:
    """This test process's Neo4j: `NEO4J_URI`'s, or a local Neo4j Community of its own (the
    one database Community has is the process's alone), stopped when the session ends."""
    if uri := os.environ.get("NEO4J_URI"):
        yield Neo4jServer(
            uri,
            os.environ.get("NEO4J_USER", "neo4j"),
            os.environ.get("NEO4J_PASSWORD", ""),
            os.environ.get("NEO4J_DATABASE", "neo4j"),
        )
        return
    with neo4j_local.running(tmp_path_factory.mktemp("neo4j")) as info:
        yield Neo4jServer(info.url, "neo4j", info.password, "neo4j")


@pytest.fixture(scope="session")
def s3proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3proxy_local.S3ProxyInfo]:
    """This test process's S3Proxy (`make s3proxy`; objects in memory), started by the first
    test that needs object storage and stopped, by its pid, when the session ends."""
    with s3proxy_local.running(tmp_path_factory.mktemp("s3proxy")) as info:
        yield info


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("vendr-data")
    embedded.start(path)
    yield path
    embedded.stop(path)


def make_settings(
    data_dir: Path, backend: str = "falkordb", neo4j: Neo4jServer | None = None, **overrides: Any
) -> Settings:
    base: dict[str, Any] = {
        # the tests use the development shortcuts (the stand-in social provider, the local
        # payment terminal): they opt in, as a deployment never does by default
        "env": "dev",
        "data_dir": data_dir,
        "graph_name": f"test_{uuid.uuid4().hex[:12]}",
        "redis_prefix": f"test:{uuid.uuid4().hex[:12]}:",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8 * 1024,
        "argon2_parallelism": 1,
        "rate_limits": "off",
    }
    if backend == "neo4j":
        info = embedded.status(data_dir)  # Redis: the embedded server's
        assert info is not None and neo4j is not None
        base |= {
            "graph_url": neo4j.uri,
            "graph_name": neo4j.database,
            "neo4j_user": neo4j.user,
            "neo4j_password": neo4j.password,
            "redis_url": info.url,
        }
    return Settings(**(base | overrides))


async def drop_all(graph: Settings) -> None:
    """Empty what real servers started on `graph`'s settings left: its graph and its keys."""
    services = await bootstrap(graph, ensure_schema=False)
    try:
        await services.store.drop_all()
        keys = [k async for k in services.redis.scan_iter(match=graph.redis_prefix + "*")]
        if keys:
            await services.redis.delete(*keys)
    finally:
        await shutdown(services)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a `vendr` command needs to work on the same graph and keys."""
    env = {
        "VENDR_ENV": settings.env,
        "VENDR_DATA_DIR": str(settings.data_dir),
        "VENDR_GRAPH_URL": settings.graph_url,
        "VENDR_GRAPH_NAME": settings.graph_name,
        "VENDR_REDIS_PREFIX": settings.redis_prefix,
        "VENDR_NEO4J_USER": settings.neo4j_user,
        "VENDR_NEO4J_PASSWORD": settings.neo4j_password,
    }
    if settings.redis_url:
        env["VENDR_REDIS_URL"] = settings.redis_url
    return env


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def neo4j(request: pytest.FixtureRequest, backend: str) -> Neo4jServer | None:
    """The Neo4j server when the test runs on Neo4j (started then, not before)."""
    return request.getfixturevalue("neo4j_server") if backend == "neo4j" else None


@pytest.fixture
def settings(
    data_dir: Path, backend: str, neo4j: Neo4jServer | None, settings_overrides: dict[str, Any]
) -> Settings:
    return make_settings(data_dir, backend, neo4j, **settings_overrides)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    svc = await bootstrap(settings)
    if svc.store.dialect == "neo4j":
        await svc.store.drop_all()
    try:
        yield svc
    finally:
        await svc.store.drop_all()
        keys = [k async for k in svc.redis.scan_iter(match=settings.redis_prefix + "*")]
        if keys:
            await svc.redis.delete(*keys)
        await shutdown(svc)


@pytest.fixture
async def ledger_checked(services: Services) -> AsyncIterator[None]:
    """For tests that move money: after the test, the ledger is whole (`vendr ledger check`:
    every entry balanced, every balance its postings' sum, every currency summing to zero,
    every payment's entries matching what it took)."""
    yield
    report = await services.ledger.check()
    assert report["ok"], report


@pytest.fixture
def app(settings: Settings, services: Services) -> Sanic:
    application = create_app(settings, name=f"vendr_{uuid.uuid4().hex[:8]}")
    application.ctx.services = services
    return application


@contextmanager
def limits_on(services: Services) -> Iterator[None]:
    """Rate limits are off in the tests (settings); a test about them turns them on."""
    services.limiter.enabled = True
    try:
        yield
    finally:
        services.limiter.enabled = False


async def read(services: Services, text: str, **params: Any) -> list[dict[str, Any]]:
    """An ad-hoc read for a test's own checks (kept out of the app's statement registry)."""
    return await services.store.run_text(text, params, write=False)


class Api:
    """JSON calls with an optional bearer token into the real app over ASGI.

    The app starts once (its before-server-start listeners run) and stops on close();
    sanic-testing's own ASGI client starts and stops it around every request (~0.27 s each)."""

    def __init__(self, app: Sanic) -> None:
        self.app = app
        self.started = False
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)),
            base_url="http://vendr.test",
        )

    async def start(self) -> None:
        if self.started:
            return
        self.app.asgi = True
        self.app.router.reset()
        self.app.signal_router.reset()
        await self.app._startup()
        await self.app._server_event("init", "before")
        await self.app._server_event("init", "after")
        self.started = True

    async def close(self) -> None:
        await self.client.aclose()
        if self.started:
            self.started = False
            await self.app._server_event("shutdown", "before")
            await self.app._server_event("shutdown", "after")

    async def __aenter__(self) -> Api:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: str, url: str, token: str | None = None, **kw: Any) -> Any:
        await self.start()
        headers = kw.pop("headers", {})
        if token:
            headers["authorization"] = f"Bearer {token}"
        response = await self.client.request(method.upper(), url, headers=headers, **kw)
        response.__class__ = TestingResponse
        return response

    async def signup(self, **fields: Any) -> tuple[dict[str, Any], str]:
        body = {
            "email": f"{uuid.uuid4().hex[:10]}@example.org",
            "password": "correct horse battery",
            "display_name": "Test User",
        } | fields
        response = await self.call("post", "/v1/auth/signup", json=body)
        assert response.status == 201, response.text
        return response.json["user"], response.json["token"]


@pytest.fixture
async def api(app: Sanic) -> AsyncIterator[Api]:
    async with Api(app) as client:
        yield client


def backend_settings(request: pytest.FixtureRequest, data_dir: Path, backend: str) -> Settings:
    """Settings for a fixture of wider scope than a test that runs on `backend`."""
    neo4j = request.getfixturevalue("neo4j_server") if backend == "neo4j" else None
    return make_settings(data_dir, backend, neo4j)


@contextmanager
def live_server(
    data_dir: Path, name: str, graph: Settings | None = None, **env: str
) -> Iterator[str]:
    """A real `vendr serve` (one HTTP worker, no background worker, rate limits off, dev mode)
    on its own graph and key prefix in the session's database, or on `graph`'s; yields its
    base URL."""
    from bench.common import free_port, server

    port = free_port()
    own = {
        "VENDR_ENV": "dev",
        "VENDR_DATA_DIR": str(data_dir),
        "VENDR_GRAPH_NAME": f"{name}_{uuid.uuid4().hex[:8]}",
        "VENDR_REDIS_PREFIX": f"{name}:{uuid.uuid4().hex[:8]}:",
    }
    settings = (settings_env(graph) if graph is not None else own) | {
        "VENDR_PORT": str(port),
        "VENDR_WORKERS": "1",
        "VENDR_BACKGROUND": "off",
        "VENDR_RATE_LIMITS": "off",
        "VENDR_ARGON2_MEMORY_KIB": "8192",
        "VENDR_ARGON2_TIME_COST": "1",
    }
    base = f"http://127.0.0.1:{port}"
    vendr = str(Path(sys.executable).with_name("vendr"))
    with server([vendr, "serve"], settings | env, f"{base}/v1/heartbeat"):
        yield base


def png_bytes(size: tuple[int, int] = (64, 48), color: str = "teal", **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG", **save)
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: str = "orange", **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", **save)
    return out.getvalue()
