from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from api.auth import authenticated, limit_writes, services
from api.contract import openapi, refusals
from api.routes import images_models
from api.routes.images_models import ImageOut, ImageQuery
from graph.infra.errors import Invalid, NotFound

bp = Blueprint("images", url_prefix="/v1/images")

_IMAGE_ID = re.compile(r"^[0-9a-f]{64}$")
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
