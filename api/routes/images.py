from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from api.auth import authenticated, limit_writes, services
from api.contract import openapi, refusals
from api.contract.openapi import PROBLEM
from api.parsing import json_body
from api.routes import images_models
from api.routes.images_models import ImageOut, ImageQuery, UploadIn, UploadOut, UploadState
from graph.infra.errors import Invalid, NotFound

bp = Blueprint("images", url_prefix="/v1/images")

_IMAGE_ID = re.compile(r"^[0-9a-f]{64}$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
MULTIPART = {
    "multipart/form-data": {
        "type": "object",
        "properties": {"image": {"type": "string", "format": "binary", "minLength": 1}},
        "required": ["image"],
    }
}


async def upload_bytes(request: Request) -> dict[str, Any]:
    """The `image` part of a multipart upload, checked, re-encoded and stored."""
    await limit_writes(request, "upload_user")
    files = request.files
    part = files.get("image") or files.get("file") if files else None
    if part is None:
        raise Invalid("send the picture as multipart field `image`", errors={"image": "required"})
    return await services(request).images.upload(request.ctx.user_id, part.body)


@bp.post("")
@openapi.refuses(refusals.IMAGE)
@openapi.summary("Upload one image (multipart field `image`)")
@openapi.body(MULTIPART)
@openapi.response(201, {"application/json": ImageOut})
@authenticated
async def upload(request: Request) -> HTTPResponse:
    return json(images_models.image(await upload_bytes(request)), status=201)


@bp.post("/uploads")
@openapi.refuses(refusals.IMAGE)
@openapi.summary("Ask for a pre-signed form to upload one picture straight to object storage")
@openapi.description(
    "Answers a form (`url`, `fields`) valid until `expires_at` for one file of at most the"
    " declared `bytes` and of exactly the declared `content_type`. POST the fields, then the"
    " file as the part `file`, to `url` (multipart/form-data); then confirm with"
    " `POST /v1/images/uploads/{upload_id}/confirm` and poll its status until `ready` (or"
    " `failed`): only then is there an image to attach to a listing. A server that keeps"
    " images on its own disk answers 409: send the picture to `POST /v1/images` there."
)
@openapi.body({"application/json": UploadIn})
@openapi.response(201, {"application/json": UploadOut})
@openapi.response(409, PROBLEM, "this server keeps images on its disk: use POST /v1/images")
@authenticated
async def start_upload(request: Request) -> HTTPResponse:
    await limit_writes(request, "upload_user")
    body = json_body(request, UploadIn)
    form = await services(request).uploads.start(request.ctx.user_id, body.content_type, body.bytes)
    return json(form, status=201)


@bp.post("/uploads/<upload_id:str>/confirm")
@openapi.refuses(refusals.IMAGE)
@openapi.summary("Say the picture is uploaded: it is checked, then processed in the background")
@openapi.response(202, {"application/json": UploadState})
@openapi.response(404, PROBLEM, "no such upload of yours (or it expired unconfirmed)")
@openapi.response(409, PROBLEM, "nothing uploaded yet, or uploaded after the form expired")
@authenticated
async def confirm_upload(request: Request, upload_id: str) -> HTTPResponse:
    await limit_writes(request)
    if not _UPLOAD_ID.match(upload_id):
        raise NotFound("no such upload")
    found = await services(request).uploads.confirm(request.ctx.user_id, upload_id)
    return json(images_models.upload_state(found), status=202)


@bp.get("/uploads/<upload_id:str>")
@openapi.summary("A direct upload's status; the image once it is ready")
@openapi.response(200, {"application/json": UploadState})
@openapi.response(404, PROBLEM, "no such upload of yours (or it expired)")
@authenticated
async def upload_status(request: Request, upload_id: str) -> HTTPResponse:
    if not _UPLOAD_ID.match(upload_id):
        raise NotFound("no such upload")
    found = await services(request).uploads.status(request.ctx.user_id, upload_id)
    return json(images_models.upload_state(found))


@bp.get("/<image_id:str>")
@openapi.summary("The image bytes (JPEG); `?size=thumb` for the thumbnail")
@openapi.query(ImageQuery)
@openapi.response(200, {"image/jpeg": {"type": "string", "format": "binary"}})
async def get_image(request: Request, image_id: str) -> HTTPResponse:
    if not _IMAGE_ID.match(image_id):
        raise NotFound("no such image")
    size = request.args.get("size", "full")
    if size not in ("full", "thumb"):
        raise Invalid("size is full or thumb", errors={"size": "full or thumb"})
    data = await services(request).images.read(image_id, thumb=size == "thumb")
    return raw(
        data,
        content_type="image/jpeg",
        headers={"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{image_id}"'},
    )
