from __future__ import annotations

from typing import Any

import orjson
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from api import pages
from api.auth import authenticated, limit_writes, optional_user, services
from api.contract import openapi, refusals
from api.parsing import json_body, query_args
from api.routes import products_models
from api.routes.products_models import (
    BrowseQuery,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    ProductQuery,
    ShippingIO,
    TagPage,
    TagQuery,
)
from graph.catalog.commands import Browse, CreateProduct, Shipping, UpdateProduct
from graph.infra.geo import Place
from graph.infra.ids import now_ms
from graph.infra.money import Money

bp = Blueprint("products", url_prefix="/v1")

NOT_MODIFIED = "the page is the one the `If-None-Match` ETag names: no body"


def _place(value: object) -> Place | None:
    return Place(lat=value.lat, lon=value.lon) if value is not None else None  # type: ignore[attr-defined]


def _shipping(value: ShippingIO | None) -> Shipping | None:
    if value is None:
        return None
    price = Money(value.price.amount, value.price.currency) if value.price else None
    return Shipping(value.ships, price)


def browse_command(viewer_id: str | None, query: BrowseQuery) -> Browse:
    """A browse as the catalog takes it, from a checked query (REST's or GraphQL's)."""
    return Browse(
        viewer_id=viewer_id,
        near=_place(query.near),
        radius_km=query.radius_km,
        tags=tuple(query.tags),
        q=query.q,
        min_price=query.min_price,
        max_price=query.max_price,
        currency=query.currency,
        condition=query.condition,
        owner_id=query.owner,
        sort=query.sort,
        cursor=query.cursor,
        limit=query.limit,
    )


def create_command(owner_id: str, body: ProductIn) -> CreateProduct:
    """A new listing as the catalog takes it, from a checked body (REST's or GraphQL's)."""
    return CreateProduct(
        owner_id=owner_id,
        title=body.title,
        description=body.description,
        price=Money(body.price.amount, body.price.currency),
        condition=body.condition,
        local_pickup=body.local_pickup,
        shipping=_shipping(body.shipping),
        location=_place(body.location),
        tags=tuple(body.tags),
        image_ids=tuple(body.image_ids),
        quantity=body.quantity,
    )


def update_command(user_id: str, product_id: str, body: ProductPatch) -> UpdateProduct:
    """A change to a listing as the catalog takes it: only what the body sets."""
    given = body.model_dump(exclude_unset=True)
    return UpdateProduct(
        user_id=user_id,
        product_id=product_id,
        title=body.title,
        description=body.description,
        price=Money(body.price.amount, body.price.currency) if body.price else None,
        condition=body.condition,
        local_pickup=body.local_pickup,
        shipping=_shipping(body.shipping),
        location=_place(body.location),
        tags=tuple(body.tags) if "tags" in given and body.tags is not None else None,
        image_ids=tuple(body.image_ids) if body.image_ids is not None else None,
        quantity=body.quantity,
        status=body.status,
    )


@bp.post("/products")
@openapi.refuses(refusals.OWN_UPLOADS, refusals.SHOPS_ONLY, refusals.LOCATION, refusals.SHIPPING)
@openapi.summary("List something for sale")
@openapi.body({"application/json": ProductIn})
@openapi.response(201, {"application/json": ProductOut})
@authenticated
async def create(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, ProductIn)
    row = await services(request).catalog.create(create_command(request.ctx.user_id, body))
    return json(products_models.product(row, owner=True), status=201)


@bp.get("/products")
@openapi.refuses(refusals.NEEDS_NEAR, refusals.WORDS, refusals.MIN_PRICE, refusals.MAX_PRICE)
@openapi.query(BrowseQuery)
@openapi.summary("Browse and search listings; every filter combines")
@openapi.response(200, {"application/json": ProductPage})
@openapi.response(304, None, NOT_MODIFIED)
@optional_user
async def browse(request: Request) -> HTTPResponse:
    query = query_args(request, BrowseQuery, lists=("tags",))
    svc = services(request)
    cmd = browse_command(request.ctx.user_id, query)

    async def render() -> tuple[bytes, int | None]:
        rows, cursor = await svc.browse.browse(cmd)
        page = {"items": [products_models.product(r) for r in rows], "next_cursor": cursor}
        return orjson.dumps(page), _holds_until(rows)

    # a page is everyone's unless the viewer hides sellers (blocks): then it is theirs alone
    shared = cmd.viewer_id is None or not await svc.browse.hidden_sellers(cmd.viewer_id)
    return await pages.answer(
        request, "browse-page", query.model_dump(mode="json") if shared else None, render
    )


@bp.get("/products/<product_id:str>")
@openapi.query(ProductQuery)
@openapi.summary("One listing with seller, images, tags, hype; distance when `near` is given")
@openapi.response(200, {"application/json": ProductOut})
@openapi.response(304, None, NOT_MODIFIED)
@optional_user
async def get(request: Request, product_id: str) -> HTTPResponse:
    query = query_args(request, ProductQuery)
    svc = services(request)
    viewer = request.ctx.user_id
    seen: dict[str, str] = {}

    async def render() -> tuple[bytes, int | None]:
        row = await svc.catalog.get(product_id, viewer_id=viewer, near=_place(query.near))
        seen["seller_id"] = row["seller_id"]
        owner = viewer == row["seller_id"]
        return orjson.dumps(products_models.product(row, owner=owner)), _holds_until([row])

    if viewer is None:  # the same for everyone without a token: kept
        parts = {"id": product_id, "near": query.model_dump(mode="json")["near"]}
        return await pages.answer(request, "product-page", parts, render)
    # with one, what it shows depends on who asks (their own listing, blocks), and it counts
    response = await pages.answer(request, "product-page", None, render)
    if viewer != seen["seller_id"]:
        await svc.feed.viewed(viewer, product_id)  # views feed hype and recommendations
    return response


def _holds_until(rows: list[dict[str, Any]]) -> int | None:
    """When a rendered page stops being true by itself: its first listing's expiry, or the
    end of a promotion it shows as running (None: nothing on it ends)."""
    now = now_ms()
    ends = [int(r["expires_at"]) for r in rows if r.get("expires_at") is not None]
    for r in rows:
        until = int(r.get("promoted_until") or 0)
        if until > now:
            ends.append(until)
    return min(ends, default=None)


@bp.patch("/products/<product_id:str>")
@openapi.refuses(
    refusals.OWN_UPLOADS, refusals.SHOPS_ONLY, refusals.LISTING_STATUS, refusals.SHIPPING
)
@openapi.summary("Change your listing (owner only)")
@openapi.body({"application/json": ProductPatch})
@openapi.response(200, {"application/json": ProductOut})
@openapi.response(403, None, "the listing is someone else's")
@authenticated
async def patch(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, ProductPatch)
    row = await services(request).catalog.update(
        update_command(request.ctx.user_id, product_id, body)
    )
    return json(products_models.product(row, owner=True))


@bp.delete("/products/<product_id:str>")
@openapi.summary("Delete your listing (owner only)")
@openapi.response(204, None)
@openapi.response(403, None, "the listing is someone else's")
@authenticated
async def delete(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).catalog.delete(request.ctx.user_id, product_id)
    return empty()


@bp.post("/products/<product_id:str>/renew")
@openapi.summary("Extend your listing's expiry (does not change its hype)")
@openapi.response(200, {"application/json": ProductOut})
@openapi.response(403, None, "the listing is someone else's")
@authenticated
async def renew(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request)
    row = await services(request).catalog.renew(request.ctx.user_id, product_id)
    return json(products_models.product(row, owner=True))


@bp.get("/tags")
@openapi.query(TagQuery)
@openapi.summary("Tag autocomplete with counts of active listings")
@openapi.response(200, {"application/json": TagPage})
async def tags(request: Request) -> HTTPResponse:
    query = query_args(request, TagQuery)
    rows = await services(request).browse.tags(query.prefix, query.limit)
    return json({"items": rows})
