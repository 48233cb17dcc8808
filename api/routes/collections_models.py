"""Shop collections: what creating and editing one take, how one reads."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
)

from api.models import EntityId, Input, Name
from api.routes.products_models import ProductOut


class CollectionIn(Input):
    name: Name
    product_ids: Annotated[
        list[EntityId], Field(max_length=200, json_schema_extra={"uniqueItems": True})
    ] = []


class CollectionPatch(Input):
    name: Name | None = None
    product_ids: (
        Annotated[list[EntityId], Field(max_length=200, json_schema_extra={"uniqueItems": True})]
        | None
    ) = None


class CollectionOut(BaseModel):
    id: str
    name: str
    shop: dict[str, object]
    owner_id: str
    created_at: str
    updated_at: str
    items: list[ProductOut] | None = None
    active: int | None = None
    cover_url: str | None = None


class CollectionPage(BaseModel):
    items: list[CollectionOut]
    next_cursor: str | None
