"""Offers, orders and the cart: parse, authorise (the services match the caller inside the
statement), call one service, shape the answer."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from api.auth import authenticated, limit_writes, services
from api.contract import openapi, refusals
from api.contract.openapi import PROBLEM
from api.errors import problem
from api.models import image_url
from api.parsing import json_body, query_args
from api.routes.deals_models import (
    CartItemIn,
    CartOut,
    CheckoutOut,
    CounterIn,
    DealsQuery,
    OfferIn,
    OfferOut,
    OfferPage,
    OffersQuery,
    OrderIn,
    OrderOut,
    OrderPage,
    OrdersQuery,
)
from graph.deals import shapes
from graph.deals.machine import OFFER, ORDER
from graph.infra.errors import Conflict, Invalid
from graph.infra.machine import Machine

bp = Blueprint("deals", url_prefix="/v1")


def _page(
    request: Request, rows: list[dict[str, Any]], limit: int, kind: str, shape: Any
) -> dict[str, Any]:
    page = rows[:limit]
    cursor = None
    if len(rows) > limit:
        cursor = services(request).cursors.encode(kind, page[-1]["created_at"], page[-1]["id"])
    viewer = request.ctx.user_id
    return {"items": [shape(r, viewer) for r in page], "next_cursor": cursor}


def _query(
    request: Request, model: type[DealsQuery], kind: str, machine: Machine
) -> tuple[DealsQuery, Any]:
    query = query_args(request, model)
    if query.status is not None and query.status not in machine.states:
        states = ", ".join(sorted(machine.states))
        raise Invalid(f"status is one of {states}", errors={"status": "unknown"})
    cursor = services(request).cursors.decode(query.cursor, kind) if query.cursor else None
    return query, cursor


# ---- offers --------------------------------------------------------------------------------


@bp.post("/products/<product_id:str>/offers")
@openapi.refuses(refusals.NOT_OWN_LISTING, refusals.LISTING_CURRENCY, refusals.ASKING_PRICE)
@openapi.summary("Offer a price (per unit) for a listing; opens the room with the seller")
@openapi.body({"application/json": OfferIn})
@openapi.response(201, {"application/json": OfferOut})
@openapi.response(409, PROBLEM, "an open offer exists, or the listing is not available")
@openapi.response(422, PROBLEM)
@authenticated
async def make_offer(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    body = json_body(request, OfferIn)
    row = await services(request).offers.make(
        request.ctx.user_id, product_id, body.amount, body.currency, body.quantity, body.message
    )
    return json(shapes.offer(row, request.ctx.user_id), status=201)


@bp.get("/offers")
@openapi.query(OffersQuery)
@openapi.summary("Your negotiations (the latest offer of each), newest first")
@openapi.response(200, {"application/json": OfferPage})
@authenticated
async def offers(request: Request) -> HTTPResponse:
    query, cursor = _query(request, OffersQuery, "offers", OFFER)
    rows = await services(request).offers.list(
        request.ctx.user_id, query.role, query.status, cursor, query.limit + 1
    )
    return json(_page(request, rows, query.limit, "offers", shapes.offer))


@bp.get("/offers/<offer_id:str>")
@openapi.summary("One offer with its whole thread of counters and what you can do now")
@openapi.response(200, {"application/json": OfferOut})
@openapi.response(404, PROBLEM)
@authenticated
async def offer(request: Request, offer_id: str) -> HTTPResponse:
    row = await services(request).offers.thread(request.ctx.user_id, offer_id)
    return json(shapes.offer(row, request.ctx.user_id))


def _action(kind: str, name: str, summary: str) -> None:
    """POST /offers/{id}/NAME or /orders/{id}/NAME: one move of the deal's state machine."""
    noun = kind.removesuffix("s")
    out = OfferOut if kind == "offers" else OrderOut

    @bp.post(f"/{kind}/<{noun}_id:str>/{name}", name=f"{noun}_{name}")
    @openapi.summary(summary)
    @openapi.response(200, {"application/json": out})
    @openapi.response(404, PROBLEM)
    @openapi.response(409, PROBLEM, "not allowed in the current state, which the problem names")
    @authenticated
    async def action(request: Request, **path: str) -> HTTPResponse:
        await limit_writes(request, "deal_user")
        deal_id = path[f"{noun}_id"]
        svc, user = services(request), request.ctx.user_id
        if kind == "offers":
            return json(shapes.offer(await svc.offers.act(user, deal_id, name), user))
        return json(shapes.order(await svc.orders.act(user, deal_id, name), user))


for _name, _summary in (
    ("accept", "Accept the offer on the table: places the order at that price"),
    ("decline", "Decline the offer on the table (ends the negotiation)"),
    ("withdraw", "The buyer ends the negotiation"),
):
    _action("offers", _name, _summary)


@bp.post("/offers/<offer_id:str>/counter")
@openapi.refuses(refusals.ASKING_PRICE)
@openapi.summary("Answer the offer on the table with another amount (per unit)")
@openapi.body({"application/json": CounterIn})
@openapi.response(200, {"application/json": OfferOut}, "the new offer")
@openapi.response(404, PROBLEM)
@openapi.response(409, PROBLEM)
@openapi.response(422, PROBLEM)
@authenticated
async def counter(request: Request, offer_id: str) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    body = json_body(request, CounterIn)
    row = await services(request).offers.act(
        request.ctx.user_id, offer_id, "counter", amount=body.amount
    )
    return json(shapes.offer(row, request.ctx.user_id))


# ---- orders --------------------------------------------------------------------------------


@bp.post("/products/<product_id:str>/orders")
@openapi.refuses(refusals.NOT_OWN_LISTING)
@openapi.summary("Order at the listed price: the units are reserved at once, never oversold")
@openapi.body({"application/json": OrderIn})
@openapi.response(201, {"application/json": OrderOut})
@openapi.response(200, {"application/json": OrderOut}, "the order an accepted offer placed")
@openapi.response(409, PROBLEM, "not enough left (`available`), or the listing is not active")
@authenticated
async def place(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    body = json_body(request, OrderIn)
    svc, user = services(request), request.ctx.user_id
    if body.offer_id is not None:
        # accepting an offer places its order: this finds it, it never orders twice
        offer = await svc.offers.get(user, body.offer_id)
        if offer["product_id"] != product_id or offer["buyer_id"] != user:
            return problem(404, "Not found", "no such offer of yours on this listing")
        if not offer["order_id"]:
            raise Conflict(
                f"the offer is {offer['status']}: an offer places its order when accepted",
                errors={"offer_id": offer["status"]},
                extra={"state": offer["status"]},
            )
        return json(shapes.order(await svc.orders.get(user, offer["order_id"]), user))
    row = await svc.orders.place(user, product_id, body.quantity)
    return json(shapes.order(row, user), status=201)


@bp.get("/orders")
@openapi.query(OrdersQuery)
@openapi.summary("Your orders as buyer and/or seller, newest first")
@openapi.response(200, {"application/json": OrderPage})
@authenticated
async def orders(request: Request) -> HTTPResponse:
    query, cursor = _query(request, OrdersQuery, "orders", ORDER)
    rows = await services(request).orders.list(
        request.ctx.user_id, query.role, query.status, cursor, query.limit + 1
    )
    return json(_page(request, rows, query.limit, "orders", shapes.order))


@bp.get("/orders/<order_id:str>")
@openapi.summary("One order, for its buyer and seller only")
@openapi.response(200, {"application/json": OrderOut})
@openapi.response(404, PROBLEM)
@authenticated
async def order(request: Request, order_id: str) -> HTTPResponse:
    row = await services(request).orders.get(request.ctx.user_id, order_id)
    return json(shapes.order(row, request.ctx.user_id))


for _name, _summary in (
    ("confirm", "The seller confirms the order"),
    ("complete", "The buyer confirms receipt: the deal is done"),
    ("cancel", "Cancel (the buyer before confirmation, the seller until completion)"),
):
    _action("orders", _name, _summary)


# ---- cart ----------------------------------------------------------------------------------


def _cart_line(row: dict[str, Any]) -> dict[str, Any]:
    images = row.get("images") or []
    return {
        "product_id": row["product_id"],
        "title": row["title"],
        "unit_price": shapes.money(row["unit_price"], row["currency"]),
        "quantity": int(row["quantity"]),
        "available": int(row["available"] or 0),
        "status": row["status"],
        "seller": {
            "id": row["seller_id"],
            "handle": row["seller_handle"],
            "display_name": row["seller_name"],
        },
        "thumb_url": image_url(images[0], thumb=True) if images else None,
        "problem": row["problem"],
    }


@bp.get("/cart")
@openapi.summary("Your cart: lines, what stops any of them, totals per currency")
@openapi.response(200, {"application/json": CartOut})
@authenticated
async def cart(request: Request) -> HTTPResponse:
    rows = await services(request).cart.lines(request.ctx.user_id)
    totals: dict[str, int] = {}
    for row in rows:
        if not row["problem"]:
            totals[row["currency"]] = totals.get(row["currency"], 0) + int(row["unit_price"]) * int(
                row["quantity"]
            )
    return json(
        {
            "items": [_cart_line(r) for r in rows],
            "totals": [shapes.money(v, k) for k, v in sorted(totals.items())],
            "ready": bool(rows) and not any(r["problem"] for r in rows),
        }
    )


@bp.put("/cart/items/<product_id:str>")
@openapi.refuses(refusals.NOT_OWN_LISTING)
@openapi.summary("Put a listing in your cart, or change its quantity")
@openapi.body({"application/json": CartItemIn})
@openapi.response(204, None)
@openapi.response(404, PROBLEM)
@openapi.response(409, PROBLEM)
@authenticated
async def put_item(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, CartItemIn)
    await services(request).cart.put(request.ctx.user_id, product_id, body.quantity)
    return empty()


@bp.delete("/cart/items/<product_id:str>")
@openapi.summary("Take a listing out of your cart")
@openapi.response(204, None)
@authenticated
async def remove_item(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).cart.remove(request.ctx.user_id, product_id)
    return empty()


@bp.post("/cart/checkout")
@openapi.summary("Order the whole cart: one order per seller, every line reserved or none")
@openapi.response(201, {"application/json": CheckoutOut})
@openapi.response(409, PROBLEM, "empty, or lines that cannot be ordered (`lines`)")
@authenticated
async def checkout(request: Request) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    rows = await services(request).cart.checkout(request.ctx.user_id)
    return json({"orders": [shapes.order(r, request.ctx.user_id) for r in rows]}, status=201)
