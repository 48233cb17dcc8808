"""Shop collections: create, rename, reorder, add and remove listings; a page per collection."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from api import models
from api.auth import authenticated, limit_writes, optional_user, services
from api.contract import openapi, refusals
from api.contract.openapi import PROBLEM
from api.parsing import json_body
from api.routes import products_models
from api.routes.collections_models import (
    CollectionIn,
    CollectionOut,
    CollectionPage,
    CollectionPatch,
)
from graph.infra.ids import iso

bp = Blueprint("collections", url_prefix="/v1")


def collection(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "shop": {"id": row["shop_id"], "name": row["shop_name"]},
        "owner_id": row["owner_id"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if "items" in row:
        out["items"] = [products_models.product(p) for p in row["items"]]
    if "active" in row:
        out["active"] = int(row["active"])
        out["cover_url"] = models.image_url(row.get("cover_id"), thumb=True)
    return out


@bp.post("/collections")
@openapi.refuses(refusals.OWN_LISTINGS)
@openapi.summary("Create a collection of your shop's listings (business accounts)")
@openapi.body({"application/json": CollectionIn})
@openapi.response(201, {"application/json": CollectionOut})
@openapi.response(403, PROBLEM, "not a shop")
@openapi.response(422, PROBLEM)
@authenticated
async def create(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, CollectionIn)
    row = await services(request).collections.create(
        request.ctx.user_id, body.name, list(body.product_ids)
    )
    return json(collection(row), status=201)


@bp.patch("/collections/<collection_id:str>")
@openapi.refuses(refusals.OWN_LISTINGS)
@openapi.summary("Rename, or set its listings in order (adds, removes and reorders at once)")
@openapi.body({"application/json": CollectionPatch})
@openapi.response(200, {"application/json": CollectionOut})
@openapi.response(403, PROBLEM, "not a shop")
@openapi.response(404, PROBLEM)
@authenticated
async def patch(request: Request, collection_id: str) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, CollectionPatch)
    row = await services(request).collections.update(
        request.ctx.user_id,
        collection_id,
        body.name,
        list(body.product_ids) if body.product_ids is not None else None,
    )
    return json(collection(row))


@bp.delete("/collections/<collection_id:str>")
@openapi.summary("Delete a collection (its listings stay)")
@openapi.response(204, None)
@openapi.response(404, PROBLEM)
@authenticated
async def delete(request: Request, collection_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).collections.delete(request.ctx.user_id, collection_id)
    return empty()


@bp.get("/collections/<collection_id:str>")
@openapi.summary("A collection page with its listings in order")
@openapi.response(200, {"application/json": CollectionOut})
@openapi.response(404, PROBLEM)
@optional_user
async def get(request: Request, collection_id: str) -> HTTPResponse:
    row = await services(request).collections.get(collection_id, viewer_id=request.ctx.user_id)
    return json(collection(row))


@bp.get("/users/<user_id:str>/collections")
@openapi.summary("A shop's collections, with how many active listings each holds")
@openapi.response(200, {"application/json": CollectionPage})
@optional_user
async def of_user(request: Request, user_id: str) -> HTTPResponse:
    rows = await services(request).collections.of_user(user_id, viewer_id=request.ctx.user_id)
    return json({"items": [collection(r) for r in rows], "next_cursor": None})
