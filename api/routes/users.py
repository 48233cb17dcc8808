from __future__ import annotations

from typing import Any

import orjson
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json, raw

from api.auth import authenticated, limit_writes, optional_user, services
from api.contract import openapi, refusals
from api.models import PageQuery
from api.parsing import json_body, query_args
from api.routes import products_models, users_models
from api.routes.images import MULTIPART, upload_bytes
from api.routes.products_models import ProductPage
from api.routes.users_models import BlockedPage, ProfilePatch, UserMe, UserPublic
from graph.accounts.commands import UpdateProfile
from graph.catalog.commands import Browse
from graph.infra.geo import Place
from graph.infra.ids import iso

bp = Blueprint("users", url_prefix="/v1/users")


@bp.get("/me")
@openapi.summary("Your own profile")
@openapi.response(200, {"application/json": UserMe})
@authenticated
async def me(request: Request) -> HTTPResponse:
    # the answer's bytes, held by this worker for a few seconds (graph.accounts.tokens)
    body = await services(request).accounts.own_profile(request.ctx.user_id, _own_answer)
    return raw(body, content_type="application/json")


def _own_answer(row: dict[str, Any]) -> bytes:
    return orjson.dumps(users_models.user_me(row))


@bp.patch("/me")
@openapi.summary("Change names, handle, bio, place and visibility")
@openapi.body({"application/json": ProfilePatch})
@openapi.response(200, {"application/json": UserMe})
@openapi.response(409, None, "the handle is taken")
@authenticated
async def patch_me(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, ProfilePatch)
    fields = body.model_dump(exclude_unset=True, exclude={"location"})
    location = Place(lat=body.location.lat, lon=body.location.lon) if body.location else None
    row = await services(request).accounts.update_profile(
        UpdateProfile(user_id=request.ctx.user_id, location=location, **fields)
    )
    return json(users_models.user_me(row))


@bp.put("/me/avatar")
@openapi.refuses(refusals.IMAGE)
@openapi.summary("Upload a profile picture (multipart field `image`)")
@openapi.body(MULTIPART)
@openapi.response(200, {"application/json": UserMe})
@authenticated
async def put_avatar(request: Request) -> HTTPResponse:
    image = await upload_bytes(request)
    row = await services(request).accounts.set_avatar(request.ctx.user_id, image["id"])
    return json(users_models.user_me(row))


@bp.get("/<user_id:str>")
@openapi.summary("Public profile with trust and rating summary")
@openapi.response(200, {"application/json": UserPublic})
@optional_user
async def public(request: Request, user_id: str) -> HTTPResponse:
    row = await services(request).accounts.public_profile(user_id, request.ctx.user_id)
    return json(users_models.user_public(row))


@bp.get("/<user_id:str>/products")
@openapi.query(PageQuery)
@openapi.summary("A seller's active listings, newest first")
@openapi.response(200, {"application/json": ProductPage})
@optional_user
async def products(request: Request, user_id: str) -> HTTPResponse:
    query = query_args(request, PageQuery)
    svc = services(request)
    await svc.accounts.public_profile(user_id, request.ctx.user_id)  # 404 when hidden
    rows, cursor = await svc.browse.browse(
        Browse(
            viewer_id=request.ctx.user_id, owner_id=user_id, cursor=query.cursor, limit=query.limit
        )
    )
    return json({"items": [products_models.product(r) for r in rows], "next_cursor": cursor})


@bp.get("/me/blocked")
@openapi.summary("The users you block")
@openapi.response(200, {"application/json": BlockedPage})
@authenticated
async def blocked(request: Request) -> HTTPResponse:
    rows = await services(request).accounts.blocked(request.ctx.user_id)
    items = [r | {"blocked_at": iso(r["blocked_at"])} for r in rows]
    return json({"items": items, "next_cursor": None})


@bp.post("/<user_id:str>/block")
@openapi.refuses(refusals.NOT_YOURSELF)
@openapi.summary("Block a user: each stops seeing the other's profile and listings")
@openapi.response(204, None)
@authenticated
async def block(request: Request, user_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).accounts.block(request.ctx.user_id, user_id)
    return empty()


@bp.delete("/<user_id:str>/block")
@openapi.summary("Unblock a user")
@openapi.response(204, None)
@authenticated
async def unblock(request: Request, user_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).accounts.unblock(request.ctx.user_id, user_id)
    return empty()
