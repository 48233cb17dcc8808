"""Payments and paid promotion: the provider's webhook, paying an order, buying a promotion,
and (dev mode, local provider only) the development card terminal."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from api.auth import authenticated, limit_writes, services
from api.contract import openapi, refusals
from api.contract.openapi import PROBLEM
from api.errors import BadRequest
from api.parsing import json_body
from api.routes.deals_models import OrderOut
from api.routes.payments_models import (
    DevPaymentOut,
    PlanList,
    PromotionIn,
    PromotionList,
    PromotionOut,
    WebhookOut,
)
from graph.deals import shapes
from graph.deals.machine import ORDER_PAYMENT_INITIAL
from graph.infra.errors import Conflict, NotFound
from graph.payments.local import LocalProvider
from graph.payments.port import BadSignature, PaymentRefused
from graph.payments.promotions import shape

bp = Blueprint("payments", url_prefix="/v1")
# registered in dev mode only (api.routes.blueprints): production has no such path at all
dev = Blueprint("payments_dev", url_prefix="/v1/dev")


@bp.post("/payments/webhook")
@openapi.refuses(refusals.SIGNATURE)
@openapi.summary("The payment provider's webhooks (Stripe's signature scheme)")
@openapi.description(
    "The raw body is verified against `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 over `t.body`"
    " with the endpoint's secret, the timestamp within the tolerance either way) before"
    " anything is read; each event id is applied once, a redelivery answers what the first"
    " did. Unknown event types are acknowledged and ignored."
)
@openapi.parameter("Stripe-Signature", str, "header", "the provider's signature", required=True)
@openapi.response(200, {"application/json": WebhookOut})
@openapi.response(400, PROBLEM, "not signed by the provider, or too old or too new")
@openapi.response(409, PROBLEM, "the same event is being applied by another delivery")
async def webhook(request: Request) -> HTTPResponse:
    try:
        outcome = await services(request).payments.webhook(
            request.body, request.headers.get("stripe-signature")
        )
    except BadSignature as exc:
        raise BadRequest(
            f"webhook refused: {exc}", errors={"stripe-signature": "not verified"}
        ) from exc
    return json(outcome)


@bp.post("/orders/<order_id:str>/payment")
@openapi.summary("Pay an order: its payment, with what the buyer's client confirms it with")
@openapi.description(
    "Opens the order's payment at the order's amount (once; asking again returns the same"
    " payment), for orders waiting for payment. The client confirms it with the provider"
    " using `payment.client_secret`; the provider's webhook then marks the order paid."
)
@openapi.response(200, {"application/json": OrderOut})
@openapi.response(409, PROBLEM, "the order is not waiting for a payment")
@authenticated
async def pay_order(request: Request, order_id: str) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    svc, user = services(request), request.ctx.user_id
    order = await svc.orders.get(user, order_id)
    if order["buyer_id"] != user:
        raise NotFound("no such order")  # the seller does not pay
    if order["status"] != ORDER_PAYMENT_INITIAL:
        raise Conflict(
            f"the order is {order['status']}, not waiting for a payment",
            errors={"status": order["status"]},
        )
    return json(shapes.order(await svc.orders.ensure_payment(order), user))


@bp.get("/promotions/plans")
@openapi.summary("The promotion plans on sale: period, hype boost, price")
@openapi.response(200, {"application/json": PlanList})
async def plans(request: Request) -> HTTPResponse:
    svc = services(request)
    currency = svc.settings.promotion_currency
    items = [
        {
            "name": p.name,
            "days": p.days,
            "boost": p.boost,
            "price": {"amount": p.price, "currency": currency},
        }
        for p in sorted(svc.promotions.plans.values(), key=lambda p: p.price)
    ]
    return json({"items": items})


@bp.post("/products/<product_id:str>/promotions")
@openapi.summary("Promote your listing: a promotion pending payment")
@openapi.description(
    "The price is the plan's, set by the server. The promotion starts when the provider"
    " confirms the payment (its webhook): the listing's hype gets the plan's boost and it is"
    " shown as promoted until the period ends. Unpaid, it is cancelled after"
    " `VENDR_ORDER_PAYMENT_SECONDS`. One open promotion per listing."
)
@openapi.body({"application/json": PromotionIn})
@openapi.response(201, {"application/json": PromotionOut})
@openapi.response(409, PROBLEM, "already promoted, or not on sale")
@openapi.response(503, PROBLEM, "this server has no payment provider configured")
@authenticated
async def promote(request: Request, product_id: str) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    body = json_body(request, PromotionIn)
    svc, user = services(request), request.ctx.user_id
    row = await svc.promotions.buy(user, product_id, body.plan)
    return json(shape(row, user), status=201)


@bp.get("/products/<product_id:str>/promotions")
@openapi.summary("Your listing's promotions, newest first")
@openapi.response(200, {"application/json": PromotionList})
@authenticated
async def promotions(request: Request, product_id: str) -> HTTPResponse:
    user = request.ctx.user_id
    rows = await services(request).promotions.of_product(user, product_id)
    return json({"items": [shape(r, user) for r in rows]})


@bp.get("/promotions/<promotion_id:str>")
@openapi.summary("One of your promotions")
@openapi.response(200, {"application/json": PromotionOut})
@authenticated
async def promotion(request: Request, promotion_id: str) -> HTTPResponse:
    user = request.ctx.user_id
    return json(shape(await services(request).promotions.get(user, promotion_id), user))


@bp.post("/promotions/<promotion_id:str>/cancel")
@openapi.summary("Drop a promotion that is still waiting for its payment")
@openapi.response(200, {"application/json": PromotionOut})
@openapi.response(409, PROBLEM, "it is running or over")
@authenticated
async def cancel_promotion(request: Request, promotion_id: str) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    user = request.ctx.user_id
    return json(shape(await services(request).promotions.cancel(user, promotion_id), user))


@dev.post("/payments/<payment_id:str>/<outcome:succeed|fail>")
@openapi.summary("Development only: pay (or have the card declined) with the local provider")
@openapi.description(
    "The local provider's card terminal: the payer completes their payment, and the provider"
    " posts the signed webhook to the server as Stripe would. Only with VENDR_ENV=dev; not"
    " there with Stripe (404)."
)
@openapi.response(200, {"application/json": DevPaymentOut})
@openapi.response(404, PROBLEM, "no such payment of yours, or payments go through Stripe")
@openapi.response(409, PROBLEM, "the payment cannot take that now")
@authenticated
async def dev_pay(request: Request, payment_id: str, outcome: str) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    svc = services(request)
    provider = svc.payments.provider
    if not isinstance(provider, LocalProvider):
        raise NotFound("payments go through Stripe: pay with the client secret")
    payment = await svc.payments.get(payment_id)
    if payment["payer_id"] != request.ctx.user_id or payment["intent_id"] is None:
        raise NotFound("no such payment of yours")
    try:
        status = await provider.complete(payment["intent_id"], succeed=outcome == "succeed")
    except PaymentRefused as exc:
        raise Conflict(str(exc), errors={"payment": payment["status"]}) from exc
    return json({"payment_id": payment_id, "intent_status": status})
