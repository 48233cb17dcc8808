"""Reviews after a deal, replies, reports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
)

from api.models import NONBLANK, TRIMMED, Cursor, EntityId, Input, Note, Query, nonblank_schema
from graph.infra.ids import iso
from graph.moderation.service import Reason, Target

# ---- trust and safety ------------------------------------------------------------------------

Comment = Annotated[str, StringConstraints(max_length=2000), TRIMMED]


class ReviewIn(Input):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Comment = ""


class ReplyIn(Input):
    body: Annotated[str, StringConstraints(max_length=2000), NONBLANK, nonblank_schema(2000)]


class ReviewAuthor(BaseModel):
    id: str
    handle: str
    name: str


class ReviewProduct(BaseModel):
    id: str
    title: str


class ReviewReply(BaseModel):
    body: str
    at: str


class ReviewOut(BaseModel):
    id: str
    order_id: str
    rating: int
    comment: str
    role: Literal["buyer", "seller"]  # what the author was in the deal
    author: ReviewAuthor | None  # null once the author deleted their account
    subject_id: str
    products: list[ReviewProduct]
    created_at: str
    published: bool
    published_at: str | None
    reply: ReviewReply | None
    mine: bool


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    next_cursor: str | None


class ReviewState(BaseModel):
    order_id: str
    can_review: bool
    window_closes_at: str | None
    mine: ReviewOut | None
    theirs_written: bool  # the other side wrote theirs (shown once both wrote or at the close)
    theirs: ReviewOut | None


class ReviewsQuery(Query):
    role: Literal["buyer", "seller"] | None = Field(
        None, description="reviews written as buyer or as seller (the author's side)"
    )
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 20


class ReportIn(Input):
    target: Target
    id: EntityId
    reason: Reason
    note: Note | None = None


class ReportOut(BaseModel):
    id: str
    status: Literal["open"]
    created_at: str


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
