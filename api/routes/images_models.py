"""Images: what an upload answers, and the size asked for."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
)

from api.models import image_url


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
