from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from api import views
from api.auth import authenticated, limit_writes, services
from api.parsing import json_body
from api.routes.images import MULTIPART, upload_bytes
from api.schemas import ProfilePatch, UserMe, UserPublic
from graph.commands import Place, UpdateProfile

bp = Blueprint("users", url_prefix="/v1/users")


@bp.get("/me")
@openapi.summary("Your own profile")
@openapi.response(200, {"application/json": UserMe})
@authenticated
async def me(request: Request) -> HTTPResponse:
    return json(views.user_me(await services(request).accounts.me(request.ctx.user_id)))


@bp.patch("/me")
@openapi.summary("Change names, handle, bio, place and visibility")
@openapi.body({"application/json": ProfilePatch})
@openapi.response(200, {"application/json": UserMe})
@authenticated
async def patch_me(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, ProfilePatch)
    fields = body.model_dump(exclude_unset=True, exclude={"location"})
    location = Place(lat=body.location.lat, lon=body.location.lon) if body.location else None
    row = await services(request).accounts.update_profile(
        UpdateProfile(user_id=request.ctx.user_id, location=location, **fields)
    )
    return json(views.user_me(row))


@bp.put("/me/avatar")
@openapi.summary("Upload a profile picture (multipart field `image`)")
@openapi.body(MULTIPART)
@openapi.response(200, {"application/json": UserMe})
@authenticated
async def put_avatar(request: Request) -> HTTPResponse:
    image = await upload_bytes(request)
    row = await services(request).accounts.set_avatar(request.ctx.user_id, image["id"])
    return json(views.user_me(row))


@bp.get("/<user_id:str>")
@openapi.summary("Public profile with trust and rating summary")
@openapi.response(200, {"application/json": UserPublic})
async def public(request: Request, user_id: str) -> HTTPResponse:
    return json(views.user_public(await services(request).accounts.public_profile(user_id)))
