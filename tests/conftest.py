"""Fixtures: one real embedded FalkorDB per test session, a fresh graph and key prefix per test,
the real Sanic app driven through Sanic's ASGI test client."""

from __future__ import annotations

import io
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
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
from graph.infra import embedded
from graph.infra.settings import Settings

Sanic.test_mode = True

# Property and fuzz tests draw the same examples on every run (`--hypothesis-seed=0` in
# pyproject's addopts), after replaying the failures `make fuzz` found: those are saved in
# tests/examples/, committed, and only read here. `make fuzz` explores with a new seed each
# run (the profile "fuzz", which writes what fails there).
EXAMPLES = Path(__file__).parent / "examples"
hypothesis_settings.register_profile(
    "suite", database=ReadOnlyDatabase(DirectoryBasedExampleDatabase(EXAMPLES)), print_blob=True
)
hypothesis_settings.register_profile(
    "fuzz", database=DirectoryBasedExampleDatabase(EXAMPLES), print_blob=True
)
hypothesis_settings.load_profile(os.environ.get("VENDR_HYPOTHESIS_PROFILE", "suite"))


BACKENDS = ["falkordb", *(["neo4j"] if os.environ.get("NEO4J_URI") else [])]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("vendr-data")
    embedded.start(path)
    yield path
    embedded.stop(path)


def make_settings(data_dir: Path, backend: str = "falkordb", **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "graph_name": f"test_{uuid.uuid4().hex[:12]}",
        "redis_prefix": f"test:{uuid.uuid4().hex[:12]}:",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8 * 1024,
        "argon2_parallelism": 1,
        "rate_limits": "off",
    }
    if backend == "neo4j":
        info = embedded.status(data_dir)
        assert info is not None
        base |= {
            "graph_url": os.environ["NEO4J_URI"],
            "graph_name": os.environ.get("NEO4J_DATABASE", "neo4j"),
            "neo4j_user": os.environ.get("NEO4J_USER", "neo4j"),
            "neo4j_password": os.environ.get("NEO4J_PASSWORD", ""),
            "redis_url": info.url,
        }
    return Settings(**(base | overrides))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(data_dir: Path, backend: str, settings_overrides: dict[str, Any]) -> Settings:
    return make_settings(data_dir, backend, **settings_overrides)


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


@contextmanager
def live_server(data_dir: Path, name: str, **env: str) -> Iterator[str]:
    """A real `vendr serve` (one HTTP worker, no background worker, rate limits off) on its own
    graph and key prefix in the session's database; yields its base URL."""
    from bench.common import free_port, server

    port = free_port()
    settings = {
        "VENDR_DATA_DIR": str(data_dir),
        "VENDR_GRAPH_NAME": f"{name}_{uuid.uuid4().hex[:8]}",
        "VENDR_REDIS_PREFIX": f"{name}:{uuid.uuid4().hex[:8]}:",
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
