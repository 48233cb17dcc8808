"""Resolved tokens held per worker for a few seconds, revocations pushed (graph.accounts.tokens).

Two real `vendr serve` processes on one graph and one Redis: a token that process B holds is
served without a Redis round trip, and after a logout through A, a password change through A,
a deletion through A, or a suspension decided by a third process (the moderators' path, here
the test's own), B refuses it on the very next request: no retry, no wait. In the app itself: a
subscription that breaks empties the cache and stops its use until it is back, and one that
goes silent stops its use within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from graph.accounts.sessions import session_digest
from graph.accounts.tokens import PING_S, RETRY_S, TRUST_S, TokenCache, follow
from graph.bootstrap import Services, bootstrap, shutdown
from graph.infra.settings import Settings
from tests.conftest import BACKENDS, Api, backend_settings, drop_all, live_server

PASSWORD = "correct horse battery"


# ---- the cache alone ------------------------------------------------------------------------


def trusted_cache(seconds: float = 5.0, size: int = 3) -> TokenCache:
    cache = TokenCache(seconds, size)
    cache.reset(trusted=True)
    return cache


def test_a_cache_holds_what_it_is_given_only_while_trusted() -> None:
    cache = TokenCache(5.0, 10)
    cache.put("d1", "u1", -1, cache.generation)
    assert cache.get("d1") is None and len(cache) == 0  # no subscription: nothing held
    cache.reset(trusted=True)
    cache.put("d1", "u1", -1, cache.generation)
    assert cache.get("d1") == "u1"
    cache.reset(trusted=False)
    assert cache.get("d1") is None and len(cache) == 0


def test_a_lookup_begun_before_a_revocation_is_not_kept() -> None:
    cache = trusted_cache()
    begun = cache.generation
    cache.forget("s:elsewhere")  # a push arrives while the lookup is in flight
    cache.put("d1", "u1", -1, begun)
    assert cache.get("d1") is None


def test_pushes_forget_a_session_or_every_session_of_a_person() -> None:
    cache = trusted_cache(size=10)
    for digest, user in (("d1", "u1"), ("d2", "u1"), ("d3", "u2")):
        cache.put(digest, user, -1, cache.generation)
    cache.forget(b"s:d3")
    assert cache.get("d3") is None and cache.get("d1") == "u1"
    cache.forget(b"u:u1")
    assert len(cache) == 0


def test_the_least_recently_used_goes_first_past_the_size() -> None:
    cache = trusted_cache(size=2)
    cache.put("d1", "u1", -1, cache.generation)
    cache.put("d2", "u2", -1, cache.generation)
    assert cache.get("d1") == "u1"  # d2 is now the least recently used
    cache.put("d3", "u3", -1, cache.generation)
    assert cache.get("d2") is None and cache.get("d1") == "u1" and cache.get("d3") == "u3"


def test_an_entry_never_outlives_the_token_nor_its_seconds() -> None:
    cache = trusted_cache(seconds=0.2)
    cache.put("short", "u1", 50, cache.generation)  # the session has 50 ms left in Redis
    cache.put("long", "u2", -1, cache.generation)
    time.sleep(0.08)
    assert cache.get("short") is None and cache.get("long") == "u2"
    time.sleep(0.15)
    assert cache.get("long") is None


async def test_zero_seconds_is_off_no_subscription_at_all() -> None:
    cache = TokenCache(0.0, 10)
    await asyncio.wait_for(follow(aioredis.Redis(), "unused", cache), 1)  # returns at once
    assert not cache.enabled and not cache.trusted()


# ---- in the app: the subscription's health ---------------------------------------------------


async def until(check: Callable[[], bool], within: float) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, "condition not reached in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def cached(api: Api, services: Services) -> tuple[str, str]:
    """A person whose token this worker holds."""
    await api.start()
    await until(services.sessions.cache.trusted, 5)
    user, token = await api.signup()
    assert (await api.call("get", "/v1/users/me", token)).status == 200
    assert services.sessions.cache.get(session_digest(token)) == user["id"]
    return user["id"], token


async def test_a_broken_subscription_empties_the_cache_and_bypasses_it_until_back(
    api: Api, services: Services
) -> None:
    _, token = await cached(api, services)
    killed = await services.redis.client_kill_filter(_type="pubsub")
    assert killed >= 1
    # the cache stops at once: nothing held, every lookup from Redis
    await until(lambda: not services.sessions.cache.trusted(), 1)
    assert len(services.sessions.cache) == 0
    # a revocation whose push could have been lost while it was away: Redis decides
    key = f"{services.settings.redis_prefix}session:{session_digest(token)}"
    await services.redis.delete(key)
    assert (await api.call("get", "/v1/users/me", token)).status == 401
    # subscribed again, it is used again
    await until(services.sessions.cache.trusted, RETRY_S + 5)
    _, again = await cached(api, services)
    assert (await api.call("get", "/v1/users/me", again)).status == 200


async def test_a_silent_subscription_stops_the_cache_within_seconds(
    api: Api, services: Services
) -> None:
    """Redis stops answering (every client paused, as a network that drops packets without a
    reset would look): without a pong the cache is no longer used within TRUST_S."""
    await cached(api, services)
    await services.redis.execute_command("CLIENT", "PAUSE", int((TRUST_S + 3) * 1000), "ALL")
    try:
        took = await until(lambda: not services.sessions.cache.trusted(), TRUST_S + PING_S + 1)
    finally:
        await services.redis.execute_command("CLIENT", "UNPAUSE")
    assert took <= TRUST_S + PING_S + 0.5
    await until(services.sessions.cache.trusted, RETRY_S + TRUST_S + 5)


# ---- two processes: revocation pushed -----------------------------------------------------


@dataclass(frozen=True)
class Nodes:
    a: str
    b: str
    graph: Settings


@contextlib.contextmanager
def two_nodes(
    request: pytest.FixtureRequest, data_dir: Path, name: str, **env: str
) -> Iterator[Nodes]:
    """Two `vendr serve` (one HTTP worker each, `env` beside their settings) on one graph and
    key prefix, the backend `request.param`: A and B."""
    graph = backend_settings(request, data_dir, request.param)
    try:
        with (
            live_server(data_dir, f"{name}_a", graph, **env) as a,
            live_server(data_dir, f"{name}_b", graph, **env) as b,
        ):
            yield Nodes(a, b, graph)
    finally:
        asyncio.run(drop_all(graph))


@pytest.fixture(scope="module", params=BACKENDS)
def nodes(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Nodes]:
    with two_nodes(request, data_dir, "tokens") as pair:
        yield pair


@contextlib.asynccontextmanager
async def third(graph: Settings) -> AsyncIterator[Services]:
    """The test's own process on the same graph and Redis (as `vendr moderation` would be)."""
    services = await bootstrap(graph, ensure_schema=False)
    try:
        yield services
    finally:
        await shutdown(services)


async def lookups(redis: aioredis.Redis) -> int:
    """Scripts run by Redis so far: a token's lookup is one (graph.accounts.sessions.RESOLVE)."""
    stats = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


async def me(http: httpx.AsyncClient, base: str, token: str) -> int:
    response = await http.get(f"{base}/v1/users/me", headers={"authorization": f"Bearer {token}"})
    return response.status_code


async def held(http: httpx.AsyncClient, base: str, token: str, redis: aioredis.Redis) -> None:
    """The worker at `base` serves the token from its cache: five answers, no lookup in Redis.
    Its subscription may come up just after the server answers its first request (until then
    the cache is bypassed), and the count is Redis-wide: tried again for a few seconds."""
    deadline = time.monotonic() + 10
    while True:
        before = await lookups(redis)
        for _ in range(5):
            assert await me(http, base, token) == 200
        if await lookups(redis) == before:
            return
        assert time.monotonic() < deadline, "the token was looked up in Redis every time"
        await asyncio.sleep(0.05)


@dataclass
class Person:
    id: str
    email: str
    token: str


async def signup(http: httpx.AsyncClient, base: str) -> Person:
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    body = {"email": email, "password": PASSWORD, "display_name": "Token Holder"}
    response = await http.post(f"{base}/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return Person(response.json()["user"]["id"], email, response.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def logout(http: httpx.AsyncClient, nodes: Nodes, _: object, who: Person) -> None:
    response = await http.post(f"{nodes.a}/v1/auth/logout", headers=bearer(who.token))
    assert response.status_code == 204, response.text


async def change_password(http: httpx.AsyncClient, nodes: Nodes, _: object, who: Person) -> None:
    body = {"current_password": PASSWORD, "password": "another long one"}
    response = await http.post(f"{nodes.a}/v1/auth/password", headers=bearer(who.token), json=body)
    assert response.status_code == 204, response.text


async def delete(http: httpx.AsyncClient, nodes: Nodes, _: object, who: Person) -> None:
    response = await http.request(
        "DELETE", f"{nodes.a}/v1/users/me", headers=bearer(who.token), json={"password": PASSWORD}
    )
    assert response.status_code == 204, response.text


async def suspend(http: httpx.AsyncClient, nodes: Nodes, services: Services, who: Person) -> None:
    reporter = await signup(http, nodes.a)
    filed = await http.post(
        f"{nodes.a}/v1/reports",
        headers=bearer(reporter.token),
        json={"target": "user", "id": who.id, "reason": "scam"},
    )
    assert filed.status_code == 201, filed.text
    await services.moderation.resolve(filed.json()["id"], "suspend", "mod_h4", "scam")


Revocation = Callable[[httpx.AsyncClient, Nodes, Services, Person], Awaitable[None]]
REVOCATIONS: dict[str, Revocation] = {
    "logout": logout,
    "password change": change_password,
    "deletion": delete,
    "suspension": suspend,
}


@pytest.mark.parametrize("kind", list(REVOCATIONS))
async def test_a_revoked_token_is_refused_at_once_by_the_other_process(
    nodes: Nodes, kind: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        who = await signup(http, nodes.a)
        await held(http, nodes.b, who.token, services.redis)
        await REVOCATIONS[kind](http, nodes, services, who)
        assert await me(http, nodes.b, who.token) == 401  # the next request, no retry
        assert await me(http, nodes.a, who.token) == 401


async def test_a_logout_leaves_the_other_sessions_of_the_person(nodes: Nodes) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        who = await signup(http, nodes.a)
        login = await http.post(
            f"{nodes.a}/v1/auth/login", json={"email": who.email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        other = login.json()["token"]
        for token in (who.token, other):
            assert await me(http, nodes.b, token) == 200
        await logout(http, nodes, None, who)
        assert await me(http, nodes.b, who.token) == 401
        assert await me(http, nodes.b, other) == 200
