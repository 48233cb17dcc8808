"""The swipe feed: swipes (one or a page's worth), the deck's cards, stated interests."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
)

from api.models import Input, Near, Query, TagText
from api.routes.products_models import ProductOut, product
from api.routes.rooms_models import RoomOut


class SwipeIn(Input):
    dir: Literal["right", "left"]


class SwipeOut(BaseModel):
    product_id: str
    dir: Literal["right", "left"]
    room: RoomOut | None  # a right swipe opens (or returns) your room with the seller


MAX_SWIPES = 50  # a batch: at most a deck's largest page


class SwipeItem(Input):
    product_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    dir: Literal["right", "left"]


class SwipesIn(Input):
    swipes: Annotated[list[SwipeItem], Field(min_length=1, max_length=MAX_SWIPES)] = Field(
        description="in the order they were made: of two swipes on one listing the last counts"
    )


class SwipeResult(BaseModel):
    product_id: str
    dir: Literal["right", "left"]
    swiped: bool = Field(
        description="false: the listing can no longer be swiped (gone, yours, its seller blocked)"
    )
    room: RoomOut | None  # for a right swipe: your room with the seller


class SwipesOut(BaseModel):
    items: list[SwipeResult]


class FeedQuery(Query):
    near: Near | None = Field(None, description="lat,lon (defaults to your profile's)")
    radius_km: Annotated[float, Field(gt=0, le=500)] | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 20
    fresh: bool = Field(False, description="start a new swipe session, not the next page")


class Interests(Input):
    tags: Annotated[list[TagText], Field(max_length=10)]


class FeedCard(BaseModel):
    product: ProductOut
    score: float
    reasons: list[str]
    explain: list[dict[str, object]]


class FeedPage(BaseModel):
    items: list[FeedCard]
    next_cursor: str | None


def card(c: Any) -> dict[str, Any]:
    """A feed card: the listing, its score, the reasons as text and as data."""
    return {
        "product": product(c.product),
        "score": c.score,
        "reasons": [r["text"] for r in c.reasons],
        "explain": c.reasons,
    }
