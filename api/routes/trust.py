"""Trust and safety: reviews after a deal, replies, a person's reviews, reports."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from api.auth import authenticated, limit_writes, optional_user, services
from api.contract import openapi, refusals
from api.contract.openapi import PROBLEM
from api.parsing import json_body, query_args
from api.routes import trust_models
from api.routes.trust_models import (
    ReplyIn,
    ReportIn,
    ReportOut,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    ReviewsQuery,
    ReviewState,
)
from graph.infra.ids import iso

bp = Blueprint("trust", url_prefix="/v1")


@bp.post("/orders/<order_id:str>/review")
@openapi.summary("Review the other side of a completed order (once, within the window)")
@openapi.description(
    "Buyer and seller each review the other once, from completion until the review window"
    " closes (`VENDR_REVIEW_WINDOW_DAYS`, 14 days). Reviews are blind: neither is shown until"
    " both are written or the window closes. `published` says whether this one is public now."
)
@openapi.body({"application/json": ReviewIn})
@openapi.response(201, {"application/json": ReviewOut})
@openapi.response(404, PROBLEM, "not an order of yours")
@openapi.response(409, PROBLEM, "not completed, already reviewed, or the window closed")
@authenticated
async def write(request: Request, order_id: str) -> HTTPResponse:
    await limit_writes(request, "review_user")
    body = json_body(request, ReviewIn)
    review, _ = await services(request).reviews.write(
        request.ctx.user_id, order_id, body.rating, body.comment
    )
    return json(trust_models.review(review), status=201)


@bp.get("/orders/<order_id:str>/review")
@openapi.summary("The reviews of your order: yours, theirs once published, the window")
@openapi.response(200, {"application/json": ReviewState})
@openapi.response(404, PROBLEM, "not an order of yours")
@authenticated
async def state(request: Request, order_id: str) -> HTTPResponse:
    found = await services(request).reviews.state(request.ctx.user_id, order_id)
    return json(trust_models.review_state(found))


@bp.post("/reviews/<review_id:str>/reply")
@openapi.summary("Answer a published review of you (once)")
@openapi.body({"application/json": ReplyIn})
@openapi.response(200, {"application/json": ReviewOut})
@openapi.response(403, PROBLEM, "the review is not about you")
@openapi.response(409, PROBLEM, "not published yet, or already answered")
@authenticated
async def reply(request: Request, review_id: str) -> HTTPResponse:
    await limit_writes(request, "review_user")
    body = json_body(request, ReplyIn)
    found = await services(request).reviews.reply(request.ctx.user_id, review_id, body.body)
    return json(trust_models.review(found))


@bp.get("/users/<user_id:str>/reviews")
@openapi.query(ReviewsQuery)
@openapi.summary("Published reviews of a person, newest first")
@openapi.response(200, {"application/json": ReviewPage})
@openapi.response(404, PROBLEM, "no such person (or blocked)")
@optional_user
async def of_user(request: Request, user_id: str) -> HTTPResponse:
    query = query_args(request, ReviewsQuery)
    svc = services(request)
    await svc.accounts.public_profile(user_id, request.ctx.user_id)  # 404 when hidden
    after = svc.cursors.decode(query.cursor, "reviews") if query.cursor else None
    items, nxt = await svc.reviews.of_user(
        user_id, request.ctx.user_id, role=query.role, after=after, limit=query.limit
    )
    cursor = svc.cursors.encode("reviews", *nxt) if nxt else None
    return json({"items": [trust_models.review(r) for r in items], "next_cursor": cursor})


@bp.post("/reports")
@openapi.refuses(refusals.NOT_YOURSELF)
@openapi.summary("Report a listing, an account, a message or a review to the moderators")
@openapi.description(
    "One open report per reporter and target (409 with the open report's id). Messages can be"
    " reported from conversations you are in, reviews once published (or when about you)."
)
@openapi.body({"application/json": ReportIn})
@openapi.response(201, {"application/json": ReportOut})
@openapi.response(404, PROBLEM, "no such target, or not one you can see")
@openapi.response(409, PROBLEM, "you already have an open report on it")
@openapi.response(422, PROBLEM, "invalid, or about yourself")
@authenticated
async def report(request: Request) -> HTTPResponse:
    await limit_writes(request, "report_user")
    body = json_body(request, ReportIn)
    filed = await services(request).reports.file(
        request.ctx.user_id, body.target, body.id, body.reason, body.note
    )
    return json(filed | {"created_at": iso(filed["created_at"])}, status=201)
