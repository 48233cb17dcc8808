"""Answers served as the bytes first sent, with their ETag: browse pages and anonymous listings.

What is the same for everyone is rendered once per catalog version and kept as bytes
(`graph.infra.pages.PageCache`: this worker's memory, then Redis); a hit is written out as it
is, and a client that already holds it (`If-None-Match`) gets a 304 without a body. Every
answer of these routes carries its ETag, cached or not (a hash of the bytes: it changes when
the page does, and only then)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from api import models
from graph.infra.pages import Page, PageCache, Versions, etag_of

VERSIONED_BY = "catalog"
RENDERING = 1  # part of every key: a change to what the routes render leaves old bytes unread

# where the answer came from: memory (this worker's, no round trip), redis, miss (rendered
# now and kept), none (not kept) — for the tests and the benchmarks
CACHE_HEADER = "X-Vendr-Cache"

Render = Callable[[], Awaitable[tuple[bytes, int | None]]]


def matches(if_none_match: str | None, etag: str) -> bool:
    """`If-None-Match` against an ETag, by the weak comparison the header uses."""
    if not if_none_match:
        return False
    tags = (t.strip() for t in if_none_match.split(","))
    return any(t == "*" or t.removeprefix("W/") == etag for t in tags)


async def answer(
    request: Request, scope: str, parts: dict[str, Any] | None, render: Render
) -> HTTPResponse:
    """The answer for `parts` (None: not the same for everyone, so not kept) from the cache,
    or from `render` (the body and until when it holds, ms) and kept."""
    pages: PageCache | None = getattr(request.app.ctx, "pages", None)
    page: Page | None = None
    slot = None
    source = "none"  # not kept: someone's own answer, or the cache is off
    if parts is not None and pages is not None and pages.enabled:
        keyed = parts | {"rendering": RENDERING, "images": models.images_base.get()}
        slot, page, source = await pages.lookup(scope, VERSIONED_BY, keyed)
    if page is None:
        body, valid_until = await render()
        if slot is not None and pages is not None:
            page = await pages.store(slot, body, valid_until)
        else:
            page = Page(body, etag_of(body), 0)
    headers = {"ETag": page.etag, CACHE_HEADER: source}
    if matches(request.headers.get("if-none-match"), page.etag):
        return HTTPResponse(status=304, headers=headers)
    return HTTPResponse(page.body, headers=headers, content_type="application/json")


def install(app: Sanic) -> None:
    """Each worker's page cache and its subscription to the catalog's versions (after the
    services are built: the listeners run in the order they were added, and stop reversed)."""

    @app.before_server_start
    async def start_pages(app: Sanic) -> None:
        services = app.ctx.services
        versions = Versions(services.redis, app.ctx.settings.redis_prefix, (VERSIONED_BY,))
        app.ctx.pages = PageCache(services.cache, versions)
        if services.cache.enabled:
            # a change made here is answered only once this worker has heard its version:
            # every other subscriber holds it by then, before any later request reaches them
            services.cache.after_bump = versions.reached
            await versions.start()

    @app.after_server_stop
    async def stop_pages(app: Sanic) -> None:
        pages: PageCache | None = getattr(app.ctx, "pages", None)
        if pages is not None and pages.versions is not None:
            services = getattr(app.ctx, "services", None)
            if services is not None and services.cache.after_bump == pages.versions.reached:
                services.cache.after_bump = None
            await pages.versions.stop()
