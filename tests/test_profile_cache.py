"""Own profiles held per worker for a few seconds, changes pushed (graph.accounts.tokens).

Two real `vendr serve` processes on one graph and one Redis: B answers `GET /v1/users/me` from
its memory (shown by a change written to the graph behind the app's back, which its answer does
not show), and after a change through A (or from a third process: the moderators', a command
line's), B answers it on the very next request: no retry, no wait. The cache alone: trusted only
while subscribed, no fill across a push, bounded by its size and its seconds."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.routes.users_models import user_me
from graph.accounts.commands import UpdateProfile
from graph.accounts.tokens import RETRY_S, ProfileCache, TokenCache
from graph.bootstrap import Services
from graph.notify.codes import Limits
from tests.conftest import BACKENDS, Api, png_bytes
from tests.test_token_cache import PASSWORD, Nodes, bearer, third, two_nodes, until

# ---- the cache alone ------------------------------------------------------------------------


def trusted_profiles(seconds: float = 5.0, size: int = 3) -> ProfileCache:
    cache = ProfileCache(seconds, size)
    cache.reset(trusted=True)
    return cache


def test_a_profile_is_held_only_while_trusted() -> None:
    cache = ProfileCache(5.0, 10)
    cache.put("u1", b"{}", cache.generation)
    assert cache.get("u1") is None and len(cache) == 0  # no subscription: nothing held
    cache.reset(trusted=True)
    cache.put("u1", b"{}", cache.generation)
    assert cache.get("u1") == b"{}"
    cache.reset(trusted=False)
    assert cache.get("u1") is None and len(cache) == 0


def test_a_read_begun_before_any_push_is_not_kept() -> None:
    cache = trusted_profiles()
    for push in ("p:someone-else", "s:a-session", "u:someone-else"):
        begun = cache.generation
        cache.forget(push)  # arrives while the read is in flight
        cache.put("u1", b"old", begun)
        assert cache.get("u1") is None


def test_a_profile_is_forgotten_by_its_change_or_its_person_s_end_not_by_a_logout() -> None:
    cache = trusted_profiles(size=10)
    for user in ("u1", "u2", "u3"):
        cache.put(user, user.encode(), cache.generation)
    cache.forget(b"s:u1")  # a session's digest is never an account's id; named or not, kept
    assert cache.get("u1") == b"u1"
    cache.forget(b"p:u1")
    assert cache.get("u1") is None and cache.get("u2") == b"u2"
    cache.forget(b"u:u2")
    assert cache.get("u2") is None and cache.get("u3") == b"u3"
    cache.forget(b"everything, please")  # not a push it knows: forget it all
    assert len(cache) == 0


def test_tokens_are_kept_across_profile_changes_and_dropped_by_unknown_pushes() -> None:
    tokens = TokenCache(5.0, 10)
    tokens.reset(trusted=True)
    tokens.put("d1", "u1", -1, tokens.generation)
    tokens.forget(b"p:u1")
    assert tokens.get("d1") == "u1"
    tokens.forget(b"x:u1")
    assert tokens.get("d1") is None


def test_the_least_recently_read_profile_goes_first_past_the_size() -> None:
    cache = trusted_profiles(size=2)
    cache.put("u1", b"1", cache.generation)
    cache.put("u2", b"2", cache.generation)
    assert cache.get("u1") == b"1"  # u2 is now the least recently used
    cache.put("u3", b"3", cache.generation)
    assert cache.get("u2") is None and cache.get("u1") == b"1" and cache.get("u3") == b"3"


def test_a_profile_never_outlives_its_seconds() -> None:
    cache = trusted_profiles(seconds=0.1)
    cache.put("u1", b"1", cache.generation)
    assert cache.get("u1") == b"1"
    time.sleep(0.12)
    assert cache.get("u1") is None and len(cache) == 0


def test_zero_seconds_is_off() -> None:
    cache = ProfileCache(0.0, 10)
    cache.reset(trusted=True)
    cache.put("u1", b"1", cache.generation)
    assert not cache.enabled and not cache.trusted() and cache.get("u1") is None


# ---- in the app: the same subscription as the tokens' ------------------------------------


async def test_a_broken_subscription_empties_the_profiles_until_it_is_back(
    api: Api, services: Services
) -> None:
    profiles = services.sessions.profiles
    await api.start()
    await until(profiles.trusted, 5)
    user, token = await api.signup()
    assert (await api.call("get", "/v1/users/me", token)).status == 200
    assert profiles.get(user["id"]) is not None
    assert await services.redis.client_kill_filter(_type="pubsub") >= 1
    await until(lambda: not profiles.trusted(), 1)
    assert len(profiles) == 0
    # changed behind the app's back while nobody listened: the graph answers
    await services.store.run_text(
        "MATCH (u:User {id: $id}) SET u.bio = $bio", {"id": user["id"], "bio": "quiet"}, write=True
    )
    assert (await api.call("get", "/v1/users/me", token)).json["bio"] == "quiet"
    await until(profiles.trusted, RETRY_S + 5)


# ---- two processes: changes pushed ---------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def nodes(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Nodes]:
    """Two `vendr serve` (one HTTP worker each) on one graph and key prefix: A and B. Profiles
    are held 30 s: an answer that is not pushed away stays wrong well past the test."""
    with two_nodes(request, data_dir, "profiles", VENDR_PROFILE_CACHE_SECONDS="30") as pair:
        yield pair


@dataclass
class Person:
    id: str
    email: str
    token: str


async def signup(http: httpx.AsyncClient, base: str, **fields: str) -> Person:
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    body = {"email": email, "password": PASSWORD, "display_name": "Profile Holder"} | fields
    response = await http.post(f"{base}/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return Person(response.json()["user"]["id"], email, response.json()["token"])


async def own(http: httpx.AsyncClient, base: str, who: Person) -> dict[str, Any]:
    response = await http.get(f"{base}/v1/users/me", headers=bearer(who.token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def truth(services: Services, who: Person) -> dict[str, Any]:
    """The profile as the graph has it now (this process holds nothing: it follows no pushes)."""
    return user_me(await services.accounts.me(who.id))


async def held(http: httpx.AsyncClient, base: str, who: Person, services: Services) -> None:
    """The worker at `base` answers `who`'s profile from its memory: a bio written to the graph
    behind the app's back (no push) is not in its next answer. Its subscription may come up
    just after it answers its first request (until then every answer is read from the graph):
    tried again for a few seconds. Leaves the graph ahead of what the worker holds."""
    deadline = time.monotonic() + 10
    while True:
        before = await own(http, base, who)
        bio = f"behind the app's back {uuid.uuid4().hex[:8]}"
        await services.store.run_text(
            "MATCH (u:User {id: $id}) SET u.bio = $bio", {"id": who.id, "bio": bio}, write=True
        )
        after = await own(http, base, who)
        if after == before:
            return
        assert after["bio"] == bio
        assert time.monotonic() < deadline, "the profile was read from the graph every time"
        await asyncio.sleep(0.05)


async def patch(http: httpx.AsyncClient, base: str, who: Person, body: dict[str, Any]) -> None:
    response = await http.patch(f"{base}/v1/users/me", headers=bearer(who.token), json=body)
    assert response.status_code == 200, response.text


async def profile(http: httpx.AsyncClient, nodes: Nodes, _: Services, who: Person) -> None:
    body = {"display_name": "Renamed", "city": "Ghent", "location": {"lat": 51.05, "lon": 3.72}}
    await patch(http, nodes.a, who, body | {"show_city": False})


async def handle(http: httpx.AsyncClient, nodes: Nodes, _: Services, who: Person) -> None:
    await patch(http, nodes.a, who, {"handle": f"h_{uuid.uuid4().hex[:10]}"})


async def shop_name(http: httpx.AsyncClient, nodes: Nodes, _: Services, who: Person) -> None:
    await patch(http, nodes.a, who, {"shop_name": "Renamed Shop"})


async def avatar(http: httpx.AsyncClient, nodes: Nodes, _: Services, who: Person) -> None:
    response = await http.put(
        f"{nodes.a}/v1/users/me/avatar",
        headers=bearer(who.token),
        files={"image": ("me.png", png_bytes((80, 80)), "application/octet-stream")},
    )
    assert response.status_code == 200, response.text


async def confirm(
    http: httpx.AsyncClient, nodes: Nodes, services: Services, who: Person, channel: str, to: str
) -> None:
    """A code for `to` issued as the API's send would (its delivery is not what is tested),
    confirmed through A."""
    limits = Limits(ttl_s=600, attempts=5, resend_s=0, per_hour=10, per_hour_all=10)
    code = await services.codes.issue(f"verify-{channel}", who.id, to, limits, requester=who.id)
    response = await http.post(
        f"{nodes.a}/v1/auth/verify/{channel}/confirm",
        headers=bearer(who.token),
        json={"code": code},
    )
    assert response.status_code == 204, response.text


async def email(http: httpx.AsyncClient, nodes: Nodes, services: Services, who: Person) -> None:
    await confirm(http, nodes, services, who, "email", who.email)


async def phone(http: httpx.AsyncClient, nodes: Nodes, services: Services, who: Person) -> None:
    number = f"+32470{uuid.uuid4().int % 1_000_000:06d}"
    await confirm(http, nodes, services, who, "phone", number)


async def elsewhere(_: httpx.AsyncClient, __: Nodes, services: Services, who: Person) -> None:
    """From another process than the servers (as GraphQL's or a command line's would be)."""
    await services.accounts.update_profile(UpdateProfile(user_id=who.id, bio="from a third"))


Change = Callable[[httpx.AsyncClient, Nodes, Services, Person], Awaitable[None]]
CHANGES: dict[str, Change] = {
    "profile": profile,
    "handle": handle,
    "shop name": shop_name,
    "avatar": avatar,
    "email verification": email,
    "phone verification": phone,
    "another process": elsewhere,
}


@pytest.mark.parametrize("kind", list(CHANGES))
async def test_a_change_through_one_process_is_read_at_once_from_the_other(
    nodes: Nodes, kind: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        shop = {"kind": "business", "shop_name": "Old Shop"} if kind == "shop name" else {}
        who = await signup(http, nodes.a, **shop)
        await held(http, nodes.b, who, services)
        stale = await own(http, nodes.b, who)
        await CHANGES[kind](http, nodes, services, who)
        now = await truth(services, who)
        assert now != stale
        assert await own(http, nodes.b, who) == now  # the next request, no retry
        assert await own(http, nodes.a, who) == now


async def test_a_change_through_the_same_process_is_read_at_once(nodes: Nodes) -> None:
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        who = await signup(http, nodes.a)
        await held(http, nodes.b, who, services)
        await patch(http, nodes.b, who, {"bio": "said through B"})
        assert await own(http, nodes.b, who) == await truth(services, who)


async def suspend(http: httpx.AsyncClient, nodes: Nodes, services: Services, who: Person) -> None:
    reporter = await signup(http, nodes.a)
    filed = await http.post(
        f"{nodes.a}/v1/reports",
        headers=bearer(reporter.token),
        json={"target": "user", "id": who.id, "reason": "scam"},
    )
    assert filed.status_code == 201, filed.text
    await services.moderation.resolve(filed.json()["id"], "suspend", "mod_p1", "scam")


async def delete(http: httpx.AsyncClient, nodes: Nodes, _: Services, who: Person) -> None:
    response = await http.request(
        "DELETE", f"{nodes.a}/v1/users/me", headers=bearer(who.token), json={"password": PASSWORD}
    )
    assert response.status_code == 204, response.text


ENDINGS: dict[str, Change] = {"suspension": suspend, "deletion": delete}


@pytest.mark.parametrize("kind", list(ENDINGS))
async def test_an_account_switched_off_is_not_answered_from_memory(nodes: Nodes, kind: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http, third(nodes.graph) as services:
        who = await signup(http, nodes.a)
        await held(http, nodes.b, who, services)
        await ENDINGS[kind](http, nodes, services, who)
        response = await http.get(f"{nodes.b}/v1/users/me", headers=bearer(who.token))
        assert response.status_code == 401
