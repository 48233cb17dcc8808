"""A seller's money: their balances and payouts, the provider onboarding that lets them be
paid, and refunds of part of an order they sold. Development shortcuts (VENDR_ENV=dev, the
local provider only) stand in for the provider's pages and for the card holder's bank."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from api.auth import authenticated, limit_writes, services
from api.contract import openapi
from api.contract.openapi import PROBLEM
from api.parsing import json_body, query_args
from api.routes.deals_models import OrderOut
from api.routes.money_models import (
    BalanceOut,
    OnboardingOut,
    PayoutIn,
    PayoutOut,
    PayoutPage,
    PayoutsQuery,
    RefundIn,
)
from graph.deals import shapes
from graph.infra.errors import Conflict, NotFound
from graph.infra.ids import iso
from graph.payments import LocalProvider, money
from graph.payments.port import PaymentRefused

bp = Blueprint("money", url_prefix="/v1")
# registered in dev mode only (api.routes.blueprints)
dev = Blueprint("money_dev", url_prefix="/v1/dev")


def payout_shape(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "amount": money(row["amount"], row["currency"]),
        "status": row["status"],
        "trigger": row["trigger"],
        "transfer_id": row["transfer_id"],
        "failure": row["failure"],
        "created_at": iso(row["created_at"]),
        "paid_at": iso(row["paid_at"]),
    }


@bp.get("/users/me/balance")
@openapi.summary("Your money as a seller, per currency: pending, available, disputed, paid")
@openapi.description(
    "An order's money is `pending` from its capture (the seller's confirmation) until the"
    " order is completed and the hold has passed, then `available`; a payout moves the"
    " available balance to your connected account (`in_transit`, then `paid`). A refund or a"
    " lost dispute after a payout makes `available` negative: later earnings pay it back."
)
@openapi.response(200, {"application/json": BalanceOut})
@authenticated
async def balance(request: Request) -> HTTPResponse:
    return json(await services(request).payouts.balance(request.ctx.user_id))


@bp.post("/users/me/payouts/onboarding")
@openapi.summary("Open your payout account at the provider and get its onboarding link")
@openapi.description(
    "Opens your connected account once (Stripe Connect Express) and answers a fresh,"
    " short-lived link to the provider's page where you give what it needs to pay you. When"
    " the provider says you can be paid, `payouts_enabled` turns true."
)
@openapi.response(200, {"application/json": OnboardingOut})
@openapi.response(503, PROBLEM, "no payment provider, or it is unreachable")
@authenticated
async def onboarding(request: Request) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    svc = services(request)
    svc.payments.require()
    return json(await svc.payouts.onboard(request.ctx.user_id))


@bp.get("/users/me/payouts")
@openapi.query(PayoutsQuery)
@openapi.summary("Your payouts, newest first")
@openapi.response(200, {"application/json": PayoutPage})
@authenticated
async def payouts(request: Request) -> HTTPResponse:
    query = query_args(request, PayoutsQuery)
    svc = services(request)
    cursor = svc.cursors.decode(query.cursor, "payouts") if query.cursor else None
    rows = await svc.payouts.list(request.ctx.user_id, cursor, query.limit + 1)
    page = rows[: query.limit]
    after = None
    if len(rows) > query.limit:
        after = svc.cursors.encode("payouts", page[-1]["created_at"], page[-1]["id"])
    return json({"items": [payout_shape(r) for r in page], "next_cursor": after})


@bp.post("/users/me/payouts")
@openapi.body({"application/json": PayoutIn})
@openapi.summary("Be paid out your available balance in one currency now")
@openapi.response(201, {"application/json": PayoutOut})
@openapi.response(409, PROBLEM, "not onboarded yet, or below the minimum")
@authenticated
async def payout(request: Request) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    body = json_body(request, PayoutIn)
    svc = services(request)
    svc.payments.require()
    made = await svc.payouts.request(request.ctx.user_id, body.currency)
    return json(payout_shape(made), status=201)


@bp.post("/orders/<order_id:str>/refunds")
@openapi.body({"application/json": RefundIn})
@openapi.summary("The seller gives part of a paid order's money back (a damaged item…)")
@openapi.description(
    "Only for an order whose payment was captured (confirmed or completed), never more than"
    " is left of it, one refund on its way at a time. The buyer's card is refunded; the"
    " platform's fee is refunded in proportion and the rest comes out of the seller's balance."
)
@openapi.response(200, {"application/json": OrderOut})
@openapi.response(403, PROBLEM, "only the seller refunds")
@openapi.response(404, PROBLEM)
@openapi.response(409, PROBLEM, "nothing captured, a dispute open, or a refund on its way")
@authenticated
async def refund(request: Request, order_id: str) -> HTTPResponse:
    await limit_writes(request, "deal_user")
    body = json_body(request, RefundIn)
    user = request.ctx.user_id
    row = await services(request).orders.refund_part(user, order_id, body.amount, body.reason)
    return json(shapes.order(row, user))


# ---- development: the provider's pages and the card holder's bank ---------------------------


def _local(request: Request) -> LocalProvider:
    provider = services(request).payments.provider
    if not isinstance(provider, LocalProvider):
        raise NotFound("payments go through Stripe")
    return provider


@dev.post("/payouts/accounts/<account_id:str>/onboard")
@openapi.summary("Development only: finish your payout onboarding at the local provider")
@openapi.response(204, None)
@openapi.response(404, PROBLEM, "not your account, or payments go through Stripe")
@authenticated
async def dev_onboard(request: Request, account_id: str) -> HTTPResponse:
    provider = _local(request)
    state = await services(request).payouts.account(request.ctx.user_id)
    if state["account_id"] != account_id:
        raise NotFound("no such account of yours")
    await provider.finish_onboarding(account_id)
    return HTTPResponse(status=204)


@dev.post("/orders/<order_id:str>/dispute")
@openapi.summary("Development only: the buyer's bank opens a dispute on a paid order")
@openapi.response(204, None)
@openapi.response(404, PROBLEM)
@openapi.response(409, PROBLEM, "the order's payment cannot be disputed")
@authenticated
async def dev_dispute(request: Request, order_id: str) -> HTTPResponse:
    provider = _local(request)
    svc = services(request)
    order = await svc.orders.get(request.ctx.user_id, order_id)
    if order["buyer_id"] != request.ctx.user_id or not order.get("payment_id"):
        raise NotFound("no such paid order of yours")
    payment = await svc.payments.get(order["payment_id"])
    try:
        await provider.dispute(payment["intent_id"], int(payment["amount"]))
    except PaymentRefused as exc:
        raise Conflict(str(exc), errors={"payment": payment["status"]}) from exc
    return HTTPResponse(status=204)
