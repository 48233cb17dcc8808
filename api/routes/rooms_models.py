"""Rooms and messages: what opening a room and sending take, how they read."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
)

from api.models import NONBLANK, Cursor, Input, PageQuery, Query, image_url, nonblank_schema
from graph.infra.ids import iso
from graph.messaging import message_shape as message


class RoomIn(Input):
    product_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MessageIn(Input):
    text: Annotated[str, StringConstraints(max_length=2000), NONBLANK, nonblank_schema(2000)]


class RoomsQuery(Query):
    role: Literal["buyer", "seller"] | None = None
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


MessagesQuery = PageQuery


class WsQuery(Query):
    token: Annotated[str, StringConstraints(max_length=128)] | None = None
    after: Annotated[str, StringConstraints(pattern=r"^[0-9a-hjkmnp-tv-z]{26}$")] | None = None


class MessageOut(BaseModel):
    id: str
    room_id: str
    sender_id: str
    kind: Literal["text", "system"]
    text: str
    data: dict[str, object] | None
    sent_at: str


class RoomOut(BaseModel):
    id: str
    role: Literal["buyer", "seller"]
    product: dict[str, object]
    other: dict[str, object]
    last_message: MessageOut | None
    unread: int
    created_at: str
    last_message_at: str


class RoomPage(BaseModel):
    items: list[RoomOut]
    next_cursor: str | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


def room(row: dict[str, Any]) -> dict[str, Any]:
    images = row.get("product_images") or []
    last = None
    if row.get("last_id"):
        last = message(
            {
                "id": row["last_id"],
                "room_id": row["id"],
                "sender_id": row["last_sender_id"],
                "body": row["last_body"],
                "sent_at": row["last_sent_at"],
                "kind": row.get("last_kind"),
                "data": row.get("last_data"),
            }
        )
    return {
        "id": row["id"],
        "role": row["role"],
        "product": {
            "id": row["product_id"],
            "title": row["product_title"],
            "price": {"amount": row["product_price"], "currency": row["product_currency"]},
            "status": row["product_status"],
            "thumb_url": image_url(images[0], thumb=True) if images else None,
        },
        "other": {
            "id": row["other_id"],
            "handle": row["other_handle"],
            "display_name": row["other_name"],
        },
        "last_message": last,
        "unread": int(row.get("unread") or 0),
        "created_at": iso(row["created_at"]),
        "last_message_at": iso(row["last_message_at"]),
    }
