"""Stored rows to response shapes (ISO times, {lat, lon} places, URLs)."""

from __future__ import annotations

from typing import Any

from api.schemas import (
    ImageOut,
    RatingSummary,
    ReviewOut,
    ReviewState,
    Shop,
    UserMe,
    UserPublic,
)
from graph.infra.geo import public_place, shown_distance_km
from graph.infra.ids import iso, now_ms
from graph.messaging.service import message_shape as message


def image_url(image_id: str | None, *, thumb: bool = False) -> str | None:
    if not image_id:
        return None
    return f"/v1/images/{image_id}" + ("?size=thumb" if thumb else "")


def place(value: dict[str, float] | None) -> dict[str, float] | None:
    if not value:
        return None
    return {"lat": round(value["latitude"], 6), "lon": round(value["longitude"], 6)}


def listing_place(row: dict[str, Any]) -> dict[str, float] | None:
    """Where a listing is shown: its grid cell's centre (graph.infra.geo), and nowhere at all when
    the seller keeps their city to themselves. The exact point never leaves the graph."""
    location = row.get("location")
    if not location or not row.get("seller_shows_place", True):
        return None
    lat, lon = public_place(location["latitude"], location["longitude"])
    return {"lat": lat, "lon": lon}


def _shop(row: dict[str, Any]) -> Shop | None:
    if not row.get("shop_id"):
        return None
    return Shop(id=row["shop_id"], name=row["shop_name"], verified=bool(row["shop_verified"]))


def user_me(row: dict[str, Any]) -> dict[str, Any]:
    return UserMe(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        kind=row["kind"],
        bio=row.get("bio") or "",
        city=row.get("city"),
        location=place(row.get("location")),
        show_city=bool(row.get("show_city", True)),
        created_at=iso(row["created_at"]) or "",
        avatar_url=image_url(row.get("avatar_id")),
        shop=_shop(row),
        email=row["email"],
        phone=row.get("phone"),
        email_verified=bool(row.get("email_verified")),
        phone_verified=bool(row.get("phone_verified")),
    ).model_dump(mode="json")


def user_public(row: dict[str, Any]) -> dict[str, Any]:
    stars = [int(s) for s in row.get("stars") or []]
    trust = row["trust"]
    return UserPublic(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        kind=row["kind"],
        bio=row.get("bio") or "",
        city=row.get("city"),
        created_at=iso(row["created_at"]) or "",
        avatar_url=image_url(row.get("avatar_id")),
        shop=_shop(row),
        email_verified=bool(row.get("email_verified")),
        phone_verified=bool(row.get("phone_verified")),
        socials=sorted(row.get("social_links") or [], key=lambda s: s["provider"]),
        trust=trust | {"computed_at": iso(trust.get("computed_at"))},
        rating=RatingSummary(
            count=len(stars),
            average=round(sum(stars) / len(stars), 2) if stars else None,
            stars={str(n): stars.count(n) for n in range(1, 6)},
        ),
    ).model_dump(mode="json")


def review(d: dict[str, Any]) -> dict[str, Any]:
    reply = d.get("reply")
    return ReviewOut(
        **d
        | {
            "created_at": iso(d["created_at"]) or "",
            "published_at": iso(d.get("published_at")),
            "reply": {"body": reply["body"], "at": iso(reply["at"]) or ""} if reply else None,
        }
    ).model_dump(mode="json")


def review_state(d: dict[str, Any]) -> dict[str, Any]:
    return ReviewState(
        order_id=d["order_id"],
        can_review=d["can_review"],
        window_closes_at=iso(d.get("window_closes_at")),
        mine=review(d["mine"]) if d.get("mine") else None,
        theirs_written=d["theirs_written"],
        theirs=review(d["theirs"]) if d.get("theirs") else None,
    ).model_dump(mode="json")


def image(row: dict[str, Any]) -> dict[str, Any]:
    return ImageOut(
        id=row["id"],
        url=image_url(row["id"]) or "",
        thumb_url=image_url(row["id"], thumb=True) or "",
        width=row["width"],
        height=row["height"],
    ).model_dump(mode="json")


def is_promoted(row: dict[str, Any]) -> bool:
    """A paid promotion runs for the listing now (its hype includes the boost)."""
    until = row.get("promoted_until")
    return until is not None and int(until) > now_ms()


def product(row: dict[str, Any]) -> dict[str, Any]:
    """The ProductOut shape, built as a plain dict: this runs for every row of every browse page,
    where constructing models cost a quarter of a cached request."""
    images = sorted(row.get("images") or [], key=lambda i: i["pos"])
    return {
        "id": row["id"],
        "title": row["title"],
        "description": row.get("description") or "",
        "price": {"amount": row["price"], "currency": row["currency"]},
        "condition": row["condition"],
        "local_pickup": bool(row["local_pickup"]),
        "shipping": {
            "ships": bool(row.get("ships")),
            "price": {"amount": row["shipping_price"], "currency": row["currency"]}
            if row.get("ships") and row.get("shipping_price") is not None
            else None,
        },
        "location": listing_place(row),
        "status": row["status"],
        "quantity": int(row["quantity"]) if row.get("quantity") is not None else 1,
        "tags": sorted(row.get("tags") or []),
        "images": [
            {
                "id": i["id"],
                "url": image_url(i["id"]),
                "thumb_url": image_url(i["id"], thumb=True),
                "width": i["width"],
                "height": i["height"],
            }
            for i in images
        ],
        "seller": {
            "id": row["seller_id"],
            "handle": row["seller_handle"],
            "display_name": row["seller_name"],
            "kind": row["seller_kind"],
            "shop_name": row.get("shop_name"),
            "avatar_url": image_url(row.get("seller_avatar")),
            "trust_score": float(row.get("seller_trust") or 0),
        },
        "hype": round(float(row.get("hype") or 0.0), 4),
        "promoted": is_promoted(row),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "expires_at": iso(row["expires_at"]),
        "distance_km": shown_distance_km(row.get("location"), row.get("viewer")),
    }


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


def card(c: Any) -> dict[str, Any]:
    """A feed card: the listing, its score, the reasons as text and as data."""
    return {
        "product": product(c.product),
        "score": c.score,
        "reasons": [r["text"] for r in c.reasons],
        "explain": c.reasons,
    }
