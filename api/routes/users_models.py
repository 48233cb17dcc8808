"""Profiles: your own, other people's (trust, rating, shop, verified socials), edits, blocks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    StringConstraints,
)

from api.models import (
    NONBLANK,
    TRIMMED,
    Handle,
    Input,
    Name,
    PlaceIO,
    image_url,
    nonblank_schema,
    place,
)
from graph.infra.ids import iso

Bio = Annotated[str, StringConstraints(max_length=1000), TRIMMED]


City = Annotated[str, StringConstraints(max_length=80), NONBLANK, nonblank_schema(80)]


class ProfilePatch(Input):
    display_name: Name | None = None
    handle: Handle | None = None
    bio: Bio | None = None
    city: City | None = None
    location: PlaceIO | None = None
    show_city: bool | None = None
    shop_name: Name | None = None


class TrustComponent(BaseModel):
    points: int
    max: int
    why: str


class Trust(BaseModel):
    """0 to 100; the components' points add up to the score. Recomputed by the background
    worker (see `computed_at`), never per request."""

    score: int
    components: dict[str, TrustComponent]
    computed_at: str | None


class RatingSummary(BaseModel):
    count: int
    average: float | None
    stars: dict[str, int]  # "1".."5" -> how many published reviews gave that many


class Shop(BaseModel):
    id: str
    name: str
    verified: bool


class SocialPublic(BaseModel):
    provider: str
    handle: str


class UserPublic(BaseModel):
    id: str
    handle: str
    display_name: str
    kind: Literal["person", "business"]
    bio: str
    city: str | None
    created_at: str
    avatar_url: str | None
    shop: Shop | None
    email_verified: bool
    phone_verified: bool
    socials: list[SocialPublic] = []
    trust: Trust
    rating: RatingSummary


class UserMe(BaseModel):
    id: str
    handle: str
    display_name: str
    kind: Literal["person", "business"]
    bio: str
    city: str | None
    location: PlaceIO | None
    show_city: bool
    created_at: str
    avatar_url: str | None
    shop: Shop | None
    email: str
    phone: str | None
    email_verified: bool
    phone_verified: bool


class BlockedUser(BaseModel):
    id: str
    handle: str
    display_name: str
    blocked_at: str | None


class BlockedPage(BaseModel):
    items: list[BlockedUser]
    next_cursor: str | None


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
