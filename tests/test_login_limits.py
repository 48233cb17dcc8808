"""Login limits that cannot be turned on the owner (issue 15, finding 4): failures are counted,
not attempts; a guesser's address is stopped, the owner's right password still works after a
delay; the client address comes from X-Forwarded-For only through trusted proxies. Failures
count against the account, whether it was named by email or by phone; an identifier naming
no account is counted on its own and answered alike."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sanic import Sanic

from api.app import create_app
from graph.infra.ratelimit import LoginGuard
from tests.conftest import Api

PASSWORD = "correct horse battery"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limits": "on"}


@asynccontextmanager
async def peer(app: Sanic, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client calling the started app from `address` (the TCP peer the app sees)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://vendr.test") as client:
        yield client


async def login(client: httpx.AsyncClient, email: str, password: str, **kw: Any) -> int:
    body = {"email": email, "password": password}
    return (await client.post("/v1/auth/login", json=body, **kw)).status_code


async def test_a_guesser_cannot_lock_the_owner_out(api: Api) -> None:
    await api.signup(email="victim@example.org")
    async with peer(api.app, "198.51.100.66") as guesser, peer(api.app, "203.0.113.7") as owner:
        wrong = [await login(guesser, "victim@example.org", f"guess {n}") for n in range(10)]
        assert wrong == [401] * 10
        # the guessing address is done with this account, even with the right password…
        assert await login(guesser, "victim@example.org", PASSWORD) == 429
        # …while the owner, elsewhere, gets in: slowed past the soft limit, never refused
        started = time.monotonic()
        assert await login(owner, "victim@example.org", PASSWORD) == 200
        assert time.monotonic() - started >= LoginGuard.BASE_DELAY
        # and a wrong password from the owner's address is still only a 401
        assert await login(owner, "victim@example.org", "typo") == 401


async def test_right_passwords_are_not_counted(api: Api) -> None:
    await api.signup(email="daily@example.org")
    statuses = [await login(api.client, "daily@example.org", PASSWORD) for _ in range(12)]
    assert statuses == [200] * 12  # logging in often is not an attack


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    api: Api, services, settings
) -> None:
    # every test request comes from 127.0.0.1; spend that address's login budget but one
    for _ in range(29):
        await services.limiter.hit("login_ip", "127.0.0.1")
    spoofed = {"x-forwarded-for": "192.0.2.1"}
    assert await login(api.client, "x@example.org", "nope", headers=spoofed) == 401
    # a header from an untrusted peer changes nothing: the limit is the peer's
    assert await login(api.client, "x@example.org", "nope", headers=spoofed) == 429

    behind = create_app(
        settings.model_copy(update={"trusted_proxies": "127.0.0.0/8, 10.0.0.0/8"}),
        name="vendr_behind_proxy",
    )
    behind.ctx.services = services
    async with Api(behind) as proxied:
        # behind the proxy each client has its own budget…
        assert await login(proxied.client, "x@example.org", "nope", headers=spoofed) == 401
        for _ in range(30):
            await services.limiter.hit("login_ip", "192.0.2.9")
        # …and the nearest untrusted hop is the client: what it writes further left is ignored
        chain = {"x-forwarded-for": "203.0.113.99, 192.0.2.9, 10.1.2.3"}
        assert await login(proxied.client, "x@example.org", "nope", headers=chain) == 429


def test_trusted_proxies_must_be_addresses_or_networks(settings) -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        type(settings)(**(settings.model_dump() | {"trusted_proxies": "10.0.0.0/8,not-a-network"}))


async def login_by_phone(client: httpx.AsyncClient, phone: str, password: str) -> int:
    body = {"phone": phone, "password": password}
    return (await client.post("/v1/auth/login", json=body)).status_code


async def test_failures_by_email_and_by_phone_count_against_one_account(api: Api) -> None:
    await api.signup(email="twofaced@example.org", phone="+32470123457")
    async with peer(api.app, "198.51.100.67") as guesser, peer(api.app, "203.0.113.8") as owner:
        by_email = [await login(guesser, "twofaced@example.org", f"guess {n}") for n in range(5)]
        # the same number written another way is the same identifier, and the same account
        by_phone = [
            await login_by_phone(guesser, "+32 470 12 34 57", f"more {n}") for n in range(5)
        ]
        assert by_email + by_phone == [401] * 10
        # ten failures against the account, whichever way it was named: this address is done
        assert await login(guesser, "twofaced@example.org", PASSWORD) == 429
        assert await login_by_phone(guesser, "+32470123457", PASSWORD) == 429
        # and the owner, elsewhere, is slowed past the account's soft limit but gets in
        started = time.monotonic()
        assert await login_by_phone(owner, "+32470123457", PASSWORD) == 200
        assert time.monotonic() - started >= LoginGuard.BASE_DELAY


async def test_an_unknown_identifier_is_limited_as_an_account_is(api: Api) -> None:
    await api.signup(email="known@example.org")
    async with peer(api.app, "198.51.100.68") as guesser:
        known = [await login(guesser, "known@example.org", "wrong") for _ in range(11)]
        unknown = [await login(guesser, "unknown@example.org", "wrong") for _ in range(11)]
        # the answers do not tell which email has an account: ten 401s, then 429, for both
        assert known == unknown == [401] * 10 + [429]
        # an unknown identifier is counted on its own: another one is not refused
        assert await login(guesser, "stranger@example.org", "wrong") == 401
