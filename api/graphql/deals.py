"""Offers and orders: your negotiations and orders (keyset pages, as REST's), one of each, and
every move of the deal flow (offer, counter, accept, decline, withdraw; order, pay, confirm,
complete, cancel) through the same services REST calls (api/routes/deals.py, and
api/routes/payments.py for paying an order)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.types import Info

from api.graphql.context import Context, limit_writes, require
from api.graphql.errors import UserError, payload, top_level
from api.graphql.inputs import checked
from api.graphql.relay import Connection, connection, first, keyset
from api.graphql.types import Amount, Offer, Order, Role, build
from api.routes.deals_models import (
    CounterIn,
    DealsQuery,
    OfferIn,
    OffersQuery,
    OrderIn,
    OrdersQuery,
)
from graph.deals import shapes
from graph.deals.machine import OFFER, ORDER, ORDER_PAYMENT_INITIAL
from graph.infra.errors import Conflict, DomainError, Invalid, NotFound
from graph.infra.machine import Machine

Info_ = Info[Context, None]
T = TypeVar("T")

# REST's query parameters as a GraphQL client names them
_ARGS = {"cursor": "after", "limit": "first"}


# ---- payloads ---------------------------------------------------------------------------


@strawberry.type
class OfferPayload:
    offer: Offer | None = None
    order: Order | None = strawberry.field(
        default=None, description="the order this move placed (accepting an offer), else null"
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OrderPayload:
    order: Order | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# ---- helpers ----------------------------------------------------------------------------


async def _reading(work: Callable[[], Awaitable[T]]) -> T:
    """A query's work: every domain error is a top-level one (queries have no payload), its
    fields named as the client named its arguments."""
    try:
        return await work()
    except DomainError as exc:
        exc.errors = {_ARGS.get(k, k): v for k, v in exc.errors.items()}
        for rest, ours in _ARGS.items():
            if exc.detail.startswith(f"{rest}: "):
                exc.detail = f"{ours}: " + exc.detail.removeprefix(f"{rest}: ")
        raise top_level(exc) from None


def _offer(row: dict[str, Any], viewer_id: str) -> Offer:
    return build(Offer, shapes.offer(row, viewer_id))


def _order(row: dict[str, Any], viewer_id: str) -> Order:
    return build(Order, shapes.order(row, viewer_id))


async def _page(
    info: Info_,
    model: type[DealsQuery],
    kind: str,
    machine: Machine,
    role: Role | None,
    status: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], Callable[[int], str], str | None]:
    """REST's `_query` and `_page` for `kind` ("offers", "orders"): the arguments checked by
    the same model, the page's rows, each row's cursor and the end cursor."""
    user_id = require(info)
    svc = info.context.services
    data: dict[str, Any] = {"limit": first(limit)}
    if role is not None:
        data["role"] = role.value
    if status is not None:
        data["status"] = status
    if after is not None:
        data["cursor"] = after

    async def work() -> tuple[list[dict[str, Any]], Callable[[int], str], str | None]:
        query = checked(info, model, data)
        if query.status is not None and query.status not in machine.states:
            states = ", ".join(sorted(machine.states))
            raise Invalid(f"status is one of {states}", errors={"status": "unknown"})
        cursor = svc.cursors.decode(query.cursor, kind) if query.cursor else None
        service = svc.offers if kind == "offers" else svc.orders
        rows = await service.list(user_id, query.role, query.status, cursor, query.limit + 1)
        return keyset(
            rows,
            query.limit,
            lambda row: svc.cursors.encode(kind, row["created_at"], row["id"]),
        )

    return await _reading(work)


First = Annotated[int, strawberry.argument(description="1 to 100")]
RoleArg = Annotated[
    Role | None, strawberry.argument(description="your side of the deal (both when absent)")
]


# ---- queries ----------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(
        description="Your negotiations (the latest offer of each), newest first; `status` is an"
        " offer state (open, countered, accepted, declined, withdrawn, expired)"
    )
    async def offers(
        self,
        info: Info_,
        role: RoleArg = None,
        status: str | None = None,
        first: First = 20,
        after: str | None = None,
    ) -> Connection[Offer]:
        rows, cursor_of, end = await _page(
            info, OffersQuery, "offers", OFFER, role, status, first, after
        )
        me = require(info)
        return connection([_offer(r, me) for r in rows], end, cursor_of)

    @strawberry.field(
        description="One offer with its whole thread and what you can do now; null when it is"
        " not yours or there is no such offer"
    )
    async def offer(self, info: Info_, id: strawberry.ID) -> Offer | None:
        me = require(info)

        async def work() -> Offer | None:
            try:
                row = await info.context.services.offers.thread(me, str(id))
            except NotFound:
                return None
            return _offer(row, me)

        return await _reading(work)

    @strawberry.field(
        description="Your orders as buyer and/or seller, newest first; `status` is an order"
        " state (placed, payment_pending, paid, confirmed, completed, cancelled)"
    )
    async def orders(
        self,
        info: Info_,
        role: RoleArg = None,
        status: str | None = None,
        first: First = 20,
        after: str | None = None,
    ) -> Connection[Order]:
        rows, cursor_of, end = await _page(
            info, OrdersQuery, "orders", ORDER, role, status, first, after
        )
        me = require(info)
        return connection([_order(r, me) for r in rows], end, cursor_of)

    @strawberry.field(
        description="One order, for its buyer and seller only; null when it is not yours or"
        " there is no such order"
    )
    async def order(self, info: Info_, id: strawberry.ID) -> Order | None:
        me = require(info)

        async def work() -> Order | None:
            try:
                row = await info.context.services.orders.get(me, str(id))
            except NotFound:
                return None
            return _order(row, me)

        return await _reading(work)


# ---- mutations --------------------------------------------------------------------------


def _offer_failed(errors: list[UserError]) -> OfferPayload:
    return OfferPayload(errors=errors)


def _order_failed(errors: list[UserError]) -> OrderPayload:
    return OrderPayload(errors=errors)


async def _offer_move(info: Info_, offer_id: strawberry.ID, name: str) -> OfferPayload:
    """REST's POST /offers/{id}/NAME: one move of the offer's state machine. Accepting places
    the order, which the payload carries too."""

    async def work() -> OfferPayload:
        await limit_writes(info, "deal_user")
        me, svc = require(info), info.context.services
        row = await svc.offers.act(me, str(offer_id), name)
        order = None
        if name == "accept" and row.get("order_id"):
            order = _order(await svc.orders.get(me, row["order_id"]), me)
        return OfferPayload(offer=_offer(row, me), order=order)

    return await payload(work, _offer_failed)


async def _order_move(info: Info_, order_id: strawberry.ID, name: str) -> OrderPayload:
    """REST's POST /orders/{id}/NAME: one move of the order's state machine."""

    async def work() -> OrderPayload:
        await limit_writes(info, "deal_user")
        me = require(info)
        row = await info.context.services.orders.act(me, str(order_id), name)
        return OrderPayload(order=_order(row, me))

    return await payload(work, _order_failed)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Offer a price (per unit, minor units) for a listing; opens the room with"
        " the seller. `currency` defaults to the listing's."
    )
    async def make_offer(
        self,
        info: Info_,
        product_id: strawberry.ID,
        amount: Amount,
        quantity: int = 1,
        message: str | None = None,
        currency: str | None = None,
    ) -> OfferPayload:
        async def work() -> OfferPayload:
            await limit_writes(info, "deal_user")
            me = require(info)
            data: dict[str, Any] = {"amount": amount, "quantity": quantity}
            for key, value in (("message", message), ("currency", currency)):
                if value is not None:
                    data[key] = value
            body = checked(info, OfferIn, data)
            row = await info.context.services.offers.make(
                me, str(product_id), body.amount, body.currency, body.quantity, body.message
            )
            return OfferPayload(offer=_offer(row, me))

        return await payload(work, _offer_failed)

    @strawberry.mutation(
        description="Answer the offer on the table with another amount (per unit): the new offer"
    )
    async def counter_offer(
        self, info: Info_, offer_id: strawberry.ID, amount: Amount
    ) -> OfferPayload:
        async def work() -> OfferPayload:
            await limit_writes(info, "deal_user")
            me = require(info)
            body = checked(info, CounterIn, {"amount": amount})
            row = await info.context.services.offers.act(
                me, str(offer_id), "counter", amount=body.amount
            )
            return OfferPayload(offer=_offer(row, me))

        return await payload(work, _offer_failed)

    @strawberry.mutation(
        description="Accept the offer on the table: places the order at that price (`order`)"
    )
    async def accept_offer(self, info: Info_, offer_id: strawberry.ID) -> OfferPayload:
        return await _offer_move(info, offer_id, "accept")

    @strawberry.mutation(description="Decline the offer on the table (ends the negotiation)")
    async def decline_offer(self, info: Info_, offer_id: strawberry.ID) -> OfferPayload:
        return await _offer_move(info, offer_id, "decline")

    @strawberry.mutation(description="The buyer ends the negotiation")
    async def withdraw_offer(self, info: Info_, offer_id: strawberry.ID) -> OfferPayload:
        return await _offer_move(info, offer_id, "withdraw")

    @strawberry.mutation(
        description="Order at the listed price (units reserved at once, never oversold); with"
        " `offerId`, the order an accepted offer of yours on this listing placed"
    )
    async def place_order(
        self,
        info: Info_,
        product_id: strawberry.ID,
        quantity: int = 1,
        offer_id: strawberry.ID | None = None,
    ) -> OrderPayload:
        async def work() -> OrderPayload:
            await limit_writes(info, "deal_user")
            me, svc = require(info), info.context.services
            data: dict[str, Any] = {"quantity": quantity}
            if offer_id is not None:
                data["offer_id"] = str(offer_id)
            body = checked(info, OrderIn, data)
            if body.offer_id is not None:
                # accepting an offer places its order: this finds it, it never orders twice
                offer = await svc.offers.get(me, body.offer_id)
                if offer["product_id"] != str(product_id) or offer["buyer_id"] != me:
                    raise NotFound("no such offer of yours on this listing")
                if not offer["order_id"]:
                    raise Conflict(
                        f"the offer is {offer['status']}: an offer places its order when accepted",
                        errors={"offer_id": offer["status"]},
                        extra={"state": offer["status"]},
                    )
                return OrderPayload(order=_order(await svc.orders.get(me, offer["order_id"]), me))
            row = await svc.orders.place(me, str(product_id), body.quantity)
            return OrderPayload(order=_order(row, me))

        return await payload(work, _order_failed)

    @strawberry.mutation(
        description="Pay an order waiting for payment: its payment (opened once), with the"
        " `clientSecret` the buyer's client confirms it with"
    )
    async def pay_order(self, info: Info_, order_id: strawberry.ID) -> OrderPayload:
        async def work() -> OrderPayload:
            await limit_writes(info, "deal_user")
            me, svc = require(info), info.context.services
            order = await svc.orders.get(me, str(order_id))
            if order["buyer_id"] != me:
                raise NotFound("no such order")  # the seller does not pay
            if order["status"] != ORDER_PAYMENT_INITIAL:
                raise Conflict(
                    f"the order is {order['status']}, not waiting for a payment",
                    errors={"status": order["status"]},
                )
            return OrderPayload(order=_order(await svc.orders.ensure_payment(order), me))

        return await payload(work, _order_failed)

    @strawberry.mutation(description="The seller confirms the order")
    async def confirm_order(self, info: Info_, order_id: strawberry.ID) -> OrderPayload:
        return await _order_move(info, order_id, "confirm")

    @strawberry.mutation(description="The buyer confirms receipt: the deal is done")
    async def complete_order(self, info: Info_, order_id: strawberry.ID) -> OrderPayload:
        return await _order_move(info, order_id, "complete")

    @strawberry.mutation(
        description="Cancel (the buyer before confirmation, the seller until completion)"
    )
    async def cancel_order(self, info: Info_, order_id: strawberry.ID) -> OrderPayload:
        return await _order_move(info, order_id, "cancel")
