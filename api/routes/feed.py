from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from api.auth import authenticated, limit_writes, services
from api.contract import openapi, refusals
from api.models import PageQuery
from api.parsing import json_body, query_args
from api.routes import feed_models, products_models, rooms_models
from api.routes.feed_models import (
    FeedPage,
    FeedQuery,
    Interests,
    SwipeIn,
    SwipeOut,
    SwipesIn,
    SwipesOut,
)
from api.routes.products_models import ProductPage
from graph.infra.geo import Place

bp = Blueprint("feed", url_prefix="/v1")


@bp.get("/feed")
@openapi.query(FeedQuery)
@openapi.summary("Your swipe deck: cards with a score and the reasons for them")
@openapi.response(200, {"application/json": FeedPage})
@authenticated
async def feed(request: Request) -> HTTPResponse:
    """Each call deals the next page of your swipe session: no card twice, each checked against
    the graph just before (sold, blocked or swiped since are left out)."""
    query = query_args(request, FeedQuery)
    near = Place(query.near.lat, query.near.lon) if query.near else None
    cards = await services(request).feed.deck(
        request.ctx.user_id, near, query.radius_km, query.limit, fresh=query.fresh
    )
    return json({"items": [feed_models.card(c) for c in cards], "next_cursor": None})


@bp.get("/users/me/interests")
@openapi.summary("The tags you said you are into")
@openapi.response(200, {"application/json": Interests})
@authenticated
async def interests(request: Request) -> HTTPResponse:
    return json({"tags": await services(request).feed.interests(request.ctx.user_id)})


@bp.put("/users/me/interests")
@openapi.summary("Say which tags you are into (replaces them): your first decks start there")
@openapi.body({"application/json": Interests})
@openapi.response(200, {"application/json": Interests})
@authenticated
async def set_interests(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, Interests)
    tags = await services(request).feed.set_interests(request.ctx.user_id, body.tags)
    return json({"tags": tags})


@bp.post("/products/<product_id:str>/swipe")
@openapi.refuses(refusals.NOT_OWN_LISTING)
@openapi.summary("Swipe right (like; opens your room with the seller) or left (pass)")
@openapi.body({"application/json": SwipeIn})
@openapi.response(200, {"application/json": SwipeOut})
@authenticated
async def swipe(request: Request, product_id: str) -> HTTPResponse:
    svc = services(request)
    await limit_writes(request, "swipe_user")
    body = json_body(request, SwipeIn)
    if body.dir == "right":  # it opens a room: the room-opening rate applies as well
        await limit_writes(request)
    await svc.feed.swipe(request.ctx.user_id, product_id, body.dir)
    if body.dir == "left":
        return json({"product_id": product_id, "dir": "left", "room": None})
    room, _ = await svc.messaging.open_room(request.ctx.user_id, product_id)
    return json({"product_id": product_id, "dir": "right", "room": rooms_models.room(room)})


@bp.post("/feed/swipes")
@openapi.summary("Several swipes at once (a page's worth, say): one write for all of them")
@openapi.body({"application/json": SwipesIn})
@openapi.response(200, {"application/json": SwipesOut})
@authenticated
async def swipes(request: Request) -> HTTPResponse:
    """Each swipe as `POST /v1/products/{id}/swipe` would take it, counted as many against
    the swipe (and, for right swipes, the room-opening) rate limits, in one request and one
    write. A listing that can no longer be swiped is answered `swiped: false` rather than
    failing the rest."""
    svc = services(request)
    body = json_body(request, SwipesIn)
    last = {item.product_id: item.dir for item in body.swipes}
    rights = [pid for pid, way in last.items() if way == "right"]
    await limit_writes(request, "swipe_user", len(last))
    await limit_writes(request, cost=len(rights))
    user_id = request.ctx.user_id
    done = await svc.feed.swipes(user_id, list(last.items()))
    rooms = await svc.messaging.open_rooms(user_id, [pid for pid in rights if pid in done])
    items = [
        {
            "product_id": pid,
            "dir": way,
            "swiped": pid in done,
            "room": rooms_models.room(rooms[pid]) if pid in rooms else None,
        }
        for pid, way in last.items()
    ]
    return json({"items": items})


@bp.put("/users/me/saved/<product_id:str>")
@openapi.refuses(refusals.NOT_OWN_LISTING)
@openapi.summary("Save a listing for later")
@openapi.response(204, None)
@authenticated
async def save(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).feed.save(request.ctx.user_id, product_id)
    return empty()


@bp.delete("/users/me/saved/<product_id:str>")
@openapi.summary("Forget a saved listing")
@openapi.response(204, None)
@authenticated
async def unsave(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).feed.unsave(request.ctx.user_id, product_id)
    return empty()


@bp.get("/users/me/saved")
@openapi.query(PageQuery)
@openapi.summary("Your saved listings, last saved first")
@openapi.response(200, {"application/json": ProductPage})
@authenticated
async def saved(request: Request) -> HTTPResponse:
    query = query_args(request, PageQuery)
    svc = services(request)
    cursor = services(request).cursors.decode(query.cursor, "saved") if query.cursor else None
    hidden = await svc.browse.hidden_sellers(request.ctx.user_id)
    rows = await svc.feed.saved(request.ctx.user_id, cursor, query.limit + 1, hidden)
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = services(request).cursors.encode(
            "saved", page[-1]["saved_at"], page[-1]["id"]
        )
    return json({"items": [products_models.product(r) for r in page], "next_cursor": next_cursor})
