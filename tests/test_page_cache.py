"""Browse pages and anonymous listings served as stored bytes with their ETag, from each
worker's memory kept honest by the catalog version pushed over Redis (api.pages,
graph.infra.pages.PageCache and Versions)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from api.pages import CACHE_HEADER
from graph.bootstrap import Services
from graph.infra.pages import PageCache
from graph.infra.settings import Settings
from tests.conftest import Api, live_server, png_bytes

LISTING = {
    "title": "Oak dining table",
    "description": "Solid oak, seats six",
    "price": {"amount": 12_500, "currency": "EUR"},
    "condition": "used",
    "location": {"lat": 52.37, "lon": 4.89},
    "tags": ["furniture", "oak"],
}
BROWSE = "/v1/products?sort=newest&limit=20"
PHOTO = {"image": ("p.png", png_bytes(), "image/png")}


async def post_listing(api: Api, token: str, **fields: Any) -> Any:
    photo = await api.call("post", "/v1/images", token, files=PHOTO)
    assert photo.status == 201, photo.text
    body = LISTING | {"image_ids": [photo.json["id"]]} | fields
    response = await api.call("post", "/v1/products", token, json=body)
    assert response.status == 201, response.text
    return response


async def live_pages(api: Api) -> PageCache:
    """The app's page cache, once its subscription is up (memory answers only then)."""
    await api.start()
    pages: PageCache = api.app.ctx.pages
    assert pages.versions is not None
    async with asyncio.timeout(10):
        await pages.versions.wait_live()
    return pages


async def test_a_browse_page_has_an_etag_and_a_matching_one_is_a_304(api: Api) -> None:
    await live_pages(api)
    _, token = await api.signup()
    made = await post_listing(api, token, title="First")
    assert made.status == 201
    first = await api.call("get", BROWSE)
    assert first.status == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert [p["title"] for p in first.json["items"]] == ["First"]
    again = await api.call("get", BROWSE)
    assert again.headers[CACHE_HEADER] == "memory"
    assert again.content == first.content and again.headers["etag"] == etag
    assert again.headers["content-type"] == "application/json"
    for held in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        same = await api.call("get", BROWSE, headers={"if-none-match": held})
        assert same.status == 304, held
        assert same.content == b"" and same.headers["etag"] == etag
    stale = await api.call("get", BROWSE, headers={"if-none-match": '"nope"'})
    assert stale.status == 200 and stale.content == first.content
    # the page changes: a new ETag, and the old one is a full answer
    await post_listing(api, token, title="Second")
    changed = await api.call("get", BROWSE, headers={"if-none-match": etag})
    assert changed.status == 200
    assert changed.headers["etag"] != etag
    assert [p["title"] for p in changed.json["items"]] == ["Second", "First"]
    # a viewer with a token who hides nobody gets the same bytes; the answer is not for caches
    _, other = await api.signup()
    theirs = await api.call("get", BROWSE, other)
    assert theirs.content == changed.content and theirs.headers["etag"] == changed.headers["etag"]
    assert theirs.headers["cache-control"] == "no-store"


async def test_a_browse_page_after_a_bump_is_the_new_one(api: Api, services: Services) -> None:
    """A bump from outside the app (the background worker's, a CLI's) reaches the memory."""
    pages = await live_pages(api)
    _, token = await api.signup()
    made = await post_listing(api, token, title="Before")
    await api.call("get", BROWSE)
    assert (await api.call("get", BROWSE)).headers[CACHE_HEADER] == "memory"
    await services.store.run_text(
        "MATCH (p:Product {id: $id}) SET p.title = 'After' RETURN p.id",
        {"id": made.json["id"]},
        write=True,
    )
    # behind the services' back: still the kept page, as the Redis cache did before
    assert (await api.call("get", BROWSE)).json["items"][0]["title"] == "Before"
    await services.cache.bump("catalog")
    hits = pages.memory_hits
    after = await api.call("get", BROWSE)
    assert after.json["items"][0]["title"] == "After"
    assert pages.memory_hits == hits


async def test_anonymous_listing_is_kept_and_a_viewer_still_counts(
    api: Api, services: Services
) -> None:
    await live_pages(api)
    _, seller = await api.signup()
    viewer_user, viewer = await api.signup()
    made = await post_listing(api, seller)
    url = f"/v1/products/{made.json['id']}"
    first = await api.call("get", url)
    assert first.status == 200 and first.headers[CACHE_HEADER] == "miss"
    second = await api.call("get", url)
    assert second.headers[CACHE_HEADER] == "memory" and second.content == first.content
    assert (
        await api.call("get", url, headers={"if-none-match": first.headers["etag"]})
    ).status == 304
    # with a token: rendered for the asker, never kept, and the view is recorded
    seen = await api.call("get", url, viewer)
    assert seen.status == 200 and seen.headers[CACHE_HEADER] == "none"
    assert seen.headers["etag"] == first.headers["etag"]  # same bytes: same tag
    await services.jobs.flush_views()  # views are queued, and counted by the worker's round
    rows = await services.store.run_text(
        "MATCH (:User {id: $u})-[v:VIEWED]->(:Product {id: $p}) RETURN count(v) AS n",
        {"u": viewer_user["id"], "p": made.json["id"]},
        write=False,
    )
    assert rows[0]["n"] == 1
    # the seller sees their exact point: a different answer, a different tag
    own = await api.call("get", url, seller)
    assert own.json["location"] != first.json["location"] or own.content != first.content
    # an edit is served at once; a deletion is a 404 at once
    await api.call("patch", url, seller, json={"title": "Walnut dining table"})
    edited = await api.call("get", url, headers={"if-none-match": first.headers["etag"]})
    assert edited.status == 200 and edited.json["title"] == "Walnut dining table"
    assert (await api.call("get", url)).headers[CACHE_HEADER] == "memory"
    near = await api.call("get", f"{url}?near=52.0,4.0")  # a page of its own
    assert near.status == 200 and near.json["distance_km"] is not None
    assert near.headers["etag"] != edited.headers["etag"]
    assert (await api.call("get", f"{url}?near=52.0,4.0")).headers[CACHE_HEADER] == "memory"
    assert (await api.call("delete", url, seller)).status == 204
    assert (await api.call("get", url)).status == 404
    assert (await api.call("get", f"{url}?near=52.0,4.0")).status == 404


async def test_a_memory_hit_makes_no_redis_call(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Observed on the pool every Redis command of the app takes a connection from."""
    pages = await live_pages(api)
    _, token = await api.signup()
    made = await post_listing(api, token)
    url = f"/v1/products/{made.json['id']}"
    await api.call("get", BROWSE)
    await api.call("get", url)
    pool = services.redis.connection_pool
    taken: list[str] = []
    original = pool.get_connection

    async def counted(*args: Any, **kwargs: Any) -> Any:
        taken.append(str(args[:1]))
        return await original(*args, **kwargs)

    monkeypatch.setattr(pool, "get_connection", counted)
    hits = pages.memory_hits
    for _ in range(5):
        assert (await api.call("get", BROWSE)).headers[CACHE_HEADER] == "memory"
        assert (await api.call("get", url)).headers[CACHE_HEADER] == "memory"
    assert pages.memory_hits == hits + 10
    assert taken == []
    await services.cache.bump("catalog")
    assert (await api.call("get", url)).headers[CACHE_HEADER] == "miss"  # a new version
    assert taken


async def test_a_dropped_subscription_clears_and_bypasses_the_memory(api: Api) -> None:
    pages = await live_pages(api)
    versions = pages.versions
    assert versions is not None
    await api.call("get", BROWSE)
    assert (await api.call("get", BROWSE)).headers[CACHE_HEADER] == "memory"
    dropped = asyncio.Event()
    versions.on_drop(dropped.set)
    versions.disconnect()
    async with asyncio.timeout(5):
        await dropped.wait()
    assert versions.current("catalog") is None
    assert (await api.call("get", BROWSE)).headers[CACHE_HEADER] == "redis"
    async with asyncio.timeout(10):
        await versions.wait_live()
    await api.call("get", BROWSE)
    assert (await api.call("get", BROWSE)).headers[CACHE_HEADER] == "memory"


@pytest.fixture
def nodes(settings: Settings, services: Services, data_dir: Path) -> Iterator[list[str]]:
    """Two real servers on the test's graph and keys: one with one HTTP worker, one with two."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(live_server(data_dir, "pages", settings)),
            stack.enter_context(live_server(data_dir, "pages", settings, VENDR_WORKERS="2")),
        ]


async def test_no_worker_serves_a_change_stale(nodes: list[str]) -> None:
    """Every change made through one node is what the next read from any worker of any node
    answers, memory hits included."""
    sources: set[str] = set()
    async with httpx.AsyncClient(timeout=30) as client:

        async def call(base: str, method: str, url: str, token: str | None = None, **kw: Any):
            headers = {"authorization": f"Bearer {token}"} if token else {}
            response = await client.request(method, base + url, headers=headers, **kw)
            if CACHE_HEADER.lower() in response.headers:
                sources.add(response.headers[CACHE_HEADER])
            return response

        signup = await call(
            nodes[0],
            "post",
            "/v1/auth/signup",
            json={
                "email": f"{uuid.uuid4().hex[:10]}@example.org",
                "password": "correct horse battery",
                "display_name": "Seller",
            },
        )
        token = signup.json()["token"]

        async def titles(base: str) -> list[str]:
            response = await call(base, "get", BROWSE)
            assert response.status_code == 200
            return [p["title"] for p in response.json()["items"]]

        async def warm() -> None:  # every worker of both nodes holds the pages (likely)
            for _ in range(6):
                for base in nodes:
                    await titles(base)
                    for pid in ids:
                        await call(base, "get", f"/v1/products/{pid}")

        ids: list[str] = []
        expected: list[str] = []
        for round_ in range(6):
            writer, reader = nodes[round_ % 2], nodes[(round_ + 1) % 2]
            # a new listing
            title = f"Listing {round_}"
            photo = await call(writer, "post", "/v1/images", token, files=PHOTO)
            body = LISTING | {"title": title, "image_ids": [photo.json()["id"]]}
            made = await call(writer, "post", "/v1/products", token, json=body)
            assert made.status_code == 201
            ids.insert(0, made.json()["id"])
            expected.insert(0, title)
            assert await titles(reader) == expected
            await warm()
            # an edit
            renamed = f"Renamed {round_}"
            edit = await call(
                writer, "patch", f"/v1/products/{ids[0]}", token, json={"title": renamed}
            )
            assert edit.status_code == 200
            expected[0] = renamed
            for base in (reader, writer, reader):
                assert await titles(base) == expected
                detail = await call(base, "get", f"/v1/products/{ids[0]}")
                assert orjson.loads(detail.content)["title"] == renamed
            await warm()
            # a deletion, every other round
            if round_ % 2:
                gone = ids.pop(1)
                expected.pop(1)
                assert (
                    await call(writer, "delete", f"/v1/products/{gone}", token)
                ).status_code == 204
                for base in (reader, reader, writer):
                    assert (await call(base, "get", f"/v1/products/{gone}")).status_code == 404
                    assert await titles(base) == expected
                await warm()
    assert "memory" in sources  # the memory layer was in play
