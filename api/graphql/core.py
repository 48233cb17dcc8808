"""Accounts and listings: sign-up, log-in, log-out, your profile, anyone's profile, one listing,
browsing, and listing something for sale."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.graphql.context import Context, limit_writes, require, viewer
from api.graphql.errors import UserError, payload
from api.graphql.inputs import checked
from api.graphql.relay import Connection, connection, first
from api.graphql.types import Amount, Me, Product, User, build
from api.routes import products_models, users_models
from api.routes.auth_models import LoginIn, SignupIn
from api.routes.products import browse_command, create_command, update_command
from api.routes.products_models import BrowseQuery, ProductIn, ProductPatch
from graph.accounts.commands import Login, Signup
from graph.accounts.sessions import session_digest

Info_ = Info[Context, None]


# ---- inputs -----------------------------------------------------------------------------


@strawberry.input
class MoneyInput:
    amount: Amount
    currency: str


@strawberry.input
class PlaceInput:
    lat: float
    lon: float


@strawberry.input
class ShippingInput:
    ships: bool
    price: MoneyInput | None = None


@strawberry.input
class SignupInput:
    email: str
    password: str
    display_name: str
    handle: str | None = None
    phone: str | None = None
    kind: str | None = None
    shop_name: str | None = None


@strawberry.input
class LoginInput:
    email: str | None = None
    phone: str | None = None
    password: str


@strawberry.input
class ProductInput:
    title: str
    price: MoneyInput
    condition: str
    description: str | None = None
    local_pickup: bool | None = None
    shipping: ShippingInput | None = None
    location: PlaceInput | None = None
    tags: list[str] | None = None
    image_ids: list[strawberry.ID] | None = None
    quantity: int | None = None


@strawberry.input
class ProductPatchInput:
    title: str | None = None
    description: str | None = None
    price: MoneyInput | None = None
    condition: str | None = None
    local_pickup: bool | None = None
    shipping: ShippingInput | None = None
    location: PlaceInput | None = None
    tags: list[str] | None = None
    image_ids: list[strawberry.ID] | None = None
    quantity: int | None = None
    status: str | None = None


@strawberry.input
class ProductFilter:
    near: PlaceInput | None = None
    radius_km: float | None = None
    tags: list[str] | None = None
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    currency: str | None = None
    condition: str | None = None
    owner: strawberry.ID | None = None


@strawberry.enum
class ProductSort(Enum):
    NEWEST = "newest"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    DISTANCE = "distance"
    HYPE = "hype"


# ---- payloads ---------------------------------------------------------------------------


@strawberry.type
class AuthPayload:
    user: Me | None = None
    token: str | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProductPayload:
    product: Product | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DonePayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


# ---- queries ----------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description="Your own account (UNAUTHENTICATED without a token)")
    async def me(self, info: Info_) -> Me:
        row = await info.context.services.accounts.me(require(info))
        return build(Me, users_models.user_me(row))

    @strawberry.field(description="Anyone's public profile; null when there is no such user")
    async def user(self, info: Info_, id: strawberry.ID) -> User | None:
        from graph.infra.errors import NotFound

        try:
            row = await info.context.services.accounts.public_profile(str(id), viewer(info))
        except NotFound:
            return None
        return build(User, users_models.user_public(row))

    @strawberry.field(description="One listing; null when it is gone or hidden from you")
    async def product(self, info: Info_, id: strawberry.ID) -> Product | None:
        from graph.infra.errors import NotFound

        svc, me = info.context.services, viewer(info)
        try:
            row = await svc.catalog.get(str(id), viewer_id=me, near=None)
        except NotFound:
            return None
        if me and me != row["seller_id"]:
            await svc.feed.viewed(me, str(id))  # views feed hype, as REST's do
        return build(Product, products_models.product(row, owner=me == row["seller_id"]))

    @strawberry.field(description="Browse and search listings; every filter combines")
    async def products(
        self,
        info: Info_,
        filter: ProductFilter | None = None,
        sort: ProductSort = ProductSort.NEWEST,
        first: Annotated[int, strawberry.argument(description="1 to 100")] = 20,
        after: str | None = None,
    ) -> Connection[Product]:
        from api.graphql.inputs import plain

        data = plain(filter) if filter is not None else {}
        if "near" in data:
            data["near"] = f"{data['near']['lat']},{data['near']['lon']}"
        data |= {"sort": sort.value, "limit": _first(first)}
        if after is not None:
            data["cursor"] = after
        query = checked(info, BrowseQuery, data)
        rows, cursor = await info.context.services.browse.browse(
            browse_command(viewer(info), query)
        )
        nodes = [build(Product, products_models.product(r)) for r in rows]
        return connection(nodes, cursor)


def _first(value: int) -> int:
    return first(value)


# ---- mutations --------------------------------------------------------------------------


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a person or business account: the user and a token")
    async def signup(self, info: Info_, input: SignupInput) -> AuthPayload:
        svc = info.context.services

        async def work() -> AuthPayload:
            await svc.limiter.hit("signup_ip", info.context.address)
            body = checked(info, SignupIn, input)
            user, token = await svc.accounts.signup(Signup(**body.model_dump()))
            return AuthPayload(user=build(Me, users_models.user_me(user)), token=token)

        return await payload(work, lambda errors: AuthPayload(errors=errors))

    @strawberry.mutation(description="Log in by email or phone: the user and a token")
    async def login(self, info: Info_, input: LoginInput) -> AuthPayload:
        svc = info.context.services

        async def work() -> AuthPayload:
            await svc.limiter.hit("login_ip", info.context.address)
            body = checked(info, LoginIn, input)
            user, token = await svc.accounts.login(Login(**body.model_dump()), info.context.address)
            return AuthPayload(user=build(Me, users_models.user_me(user)), token=token)

        return await payload(work, lambda errors: AuthPayload(errors=errors))

    @strawberry.mutation(description="Revoke the token this request carries")
    async def logout(self, info: Info_) -> DonePayload:
        user_id = require(info)
        svc, token = info.context.services, info.context.token or ""
        await svc.accounts.logout(token)
        # sockets opened with this token close with it, on every worker
        revoked = {"type": "session.revoked", "session": session_digest(token)}
        await svc.notifier.publish([user_id], revoked)
        return DonePayload(ok=True)

    @strawberry.mutation(description="List something for sale (1 to 5 photos, uploaded first)")
    async def create_product(self, info: Info_, input: ProductInput) -> ProductPayload:
        async def work() -> ProductPayload:
            await limit_writes(info)
            body = checked(info, ProductIn, input)
            row = await info.context.services.catalog.create(create_command(require(info), body))
            return ProductPayload(product=build(Product, products_models.product(row, owner=True)))

        return await payload(work, lambda errors: ProductPayload(errors=errors))

    @strawberry.mutation(description="Change your listing (owner only): only what you set")
    async def update_product(
        self, info: Info_, id: strawberry.ID, input: ProductPatchInput
    ) -> ProductPayload:
        async def work() -> ProductPayload:
            await limit_writes(info)
            body = checked(info, ProductPatch, input)
            command = update_command(require(info), str(id), body)
            row = await info.context.services.catalog.update(command)
            return ProductPayload(product=build(Product, products_models.product(row, owner=True)))

        return await payload(work, lambda errors: ProductPayload(errors=errors))

    @strawberry.mutation(description="Delete your listing (owner only)")
    async def delete_product(self, info: Info_, id: strawberry.ID) -> DonePayload:
        async def work() -> DonePayload:
            await limit_writes(info)
            await info.context.services.catalog.delete(require(info), str(id))
            return DonePayload(ok=True)

        return await payload(work, lambda errors: DonePayload(errors=errors))

    @strawberry.mutation(description="Extend your listing's expiry (does not change its hype)")
    async def renew_product(self, info: Info_, id: strawberry.ID) -> ProductPayload:
        async def work() -> ProductPayload:
            await limit_writes(info)
            row = await info.context.services.catalog.renew(require(info), str(id))
            return ProductPayload(product=build(Product, products_models.product(row, owner=True)))

        return await payload(work, lambda errors: ProductPayload(errors=errors))
