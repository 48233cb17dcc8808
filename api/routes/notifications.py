"""In-app notifications, what notifies through which channel, and saved searches."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from api.auth import authenticated, limit_writes, services
from api.contract import openapi, refusals
from api.contract.openapi import PROBLEM
from api.parsing import json_body, query_args
from api.routes.notifications_models import (
    NotificationPage,
    NotificationSettings,
    NotificationSettingsPatch,
    NotificationsQuery,
    NotificationsReadIn,
    SearchIn,
    SearchList,
    SearchOut,
    UnreadOut,
)
from graph.catalog.searches import SearchSpec

inbox = Blueprint("notifications", url_prefix="/v1/notifications")
mine = Blueprint("notification_settings", url_prefix="/v1/users/me")


@inbox.get("")
@openapi.query(NotificationsQuery)
@openapi.summary("Your in-app notifications, newest first, with the unread count")
@openapi.response(200, {"application/json": NotificationPage})
@authenticated
async def list_notifications(request: Request) -> HTTPResponse:
    query = query_args(request, NotificationsQuery)
    svc, cursors = services(request), services(request).cursors
    after = cursors.decode(query.cursor, "notifications") if query.cursor else None
    items, nxt, unread = await svc.outbox.inbox(
        request.ctx.user_id, after, query.limit, query.unread
    )
    next_cursor = cursors.encode("notifications", *nxt) if nxt else None
    return json({"items": items, "unread": unread, "next_cursor": next_cursor})


@inbox.post("/read")
@openapi.summary("Mark notifications read: some by id, or all")
@openapi.body({"application/json": NotificationsReadIn})
@openapi.response(200, {"application/json": UnreadOut})
@authenticated
async def mark_read(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, NotificationsReadIn)
    unread = await services(request).outbox.mark_read(
        request.ctx.user_id, None if body.all else body.ids
    )
    return json({"unread": unread})


@mine.get("/notifications")
@openapi.summary("Which channels (app, email, sms) each kind of notification uses")
@openapi.response(200, {"application/json": NotificationSettings})
@authenticated
async def get_settings(request: Request) -> HTTPResponse:
    return json(await services(request).outbox.settings_of(request.ctx.user_id))


@mine.patch("/notifications")
@openapi.summary("Switch channels per kind; account notices (codes, resets) always go out")
@openapi.body({"application/json": NotificationSettingsPatch})
@openapi.response(200, {"application/json": NotificationSettings})
@authenticated
async def patch_settings(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, NotificationSettingsPatch)
    changes = {
        kind: {ch: on for ch, on in switches.items() if on is not None}
        for kind, switches in body.model_dump(exclude_none=True).items()
    }
    return json(await services(request).outbox.set_settings(request.ctx.user_id, changes))


@mine.post("/searches")
@openapi.summary("Save a browse query; new matching listings notify you")
@openapi.refuses(refusals.WORDS, refusals.MIN_PRICE, refusals.MAX_PRICE)
@openapi.body({"application/json": SearchIn})
@openapi.response(201, {"application/json": SearchOut})
@openapi.response(409, PROBLEM)
@openapi.response(422, PROBLEM)
@authenticated
async def save_search(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, SearchIn)
    spec = SearchSpec(
        name=body.name,
        q=body.q,
        tags=tuple(body.tags),
        lat=body.near.lat if body.near else None,
        lon=body.near.lon if body.near else None,
        radius_km=body.radius_km,
        min_price=body.min_price,
        max_price=body.max_price,
        currency=body.currency,
        condition=body.condition,
    )
    saved = await services(request).searches.create(request.ctx.user_id, spec)
    return json(saved, status=201)


@mine.get("/searches")
@openapi.summary("Your saved searches")
@openapi.response(200, {"application/json": SearchList})
@authenticated
async def list_searches(request: Request) -> HTTPResponse:
    return json({"items": await services(request).searches.mine(request.ctx.user_id)})


@mine.delete("/searches/<search_id:str>")
@openapi.summary("Delete a saved search")
@openapi.response(204, None)
@openapi.response(404, PROBLEM)
@authenticated
async def delete_search(request: Request, search_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).searches.delete(request.ctx.user_id, search_id)
    return empty()
