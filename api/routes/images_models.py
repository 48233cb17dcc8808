"""Images: what an upload answers, and the size asked for; direct uploads to the bucket."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.models import Input, image_url


class ImageOut(BaseModel):
    id: str
    url: str
    thumb_url: str
    width: int
    height: int


class ImageQuery(BaseModel):
    """Read by hand in the route (other parameters, e.g. a cache-buster, are ignored)."""

    size: Literal["full", "thumb"] = "full"


def image(row: dict[str, Any]) -> dict[str, Any]:
    return ImageOut(
        id=row["id"],
        url=image_url(row["id"]) or "",
        thumb_url=image_url(row["id"], thumb=True) or "",
        width=row["width"],
        height=row["height"],
    ).model_dump(mode="json")


class UploadIn(Input):
    content_type: Literal["image/jpeg", "image/png", "image/webp", "image/gif"] = Field(
        description="the type the file will be sent as (the form allows this one only)"
    )
    bytes: Annotated[int, Field(ge=1, description="the file's size: the form allows no more")]


class UploadOut(BaseModel):
    """A pre-signed form: POST `fields` and then the file (as the last part, `file`) to `url`
    as multipart/form-data before `expires_at`, then confirm."""

    id: str
    url: str
    fields: dict[str, str]
    expires_at: str
    max_bytes: int


class UploadState(BaseModel):
    id: str
    status: Literal["pending", "processing", "ready", "failed"] = Field(
        description="pending: not confirmed; processing: confirmed, the worker has it; ready: "
        "`image` can be attached to a listing; failed: `error` says why"
    )
    image: ImageOut | None = None
    error: str | None = None


def upload_state(found: dict[str, Any]) -> dict[str, Any]:
    return UploadState(
        id=found["id"],
        status=found["status"],
        image=ImageOut.model_validate(image(found["image"])) if "image" in found else None,
        error=found.get("error"),
    ).model_dump(mode="json", exclude_none=True)
