"""Who may touch what, over GraphQL (tests/test_authz_matrix.py is the same for REST's routes):
every query and mutation that takes an id, read from the schema so a new one fails here until it
has a row, called on one owner's things by a stranger, someone the owner blocked, a suspended
account, a deleted account and nobody. Each is refused as the operation says (a null, a
payload's NOT_FOUND/FORBIDDEN, a top-level UNAUTHENTICATED/NOT_FOUND/FORBIDDEN), and nothing in
the graph has changed afterwards; then the owner or the other party of the deal does the same
and succeeds.

A row's thing is made afresh for each caller that succeeds (accepting an offer uses it up).
Listings, profiles and reviews are public, and a listing is open to any signed-in buyer (offer,
room, swipe, save, report): there the stranger is the one who succeeds, and the refused are
who the owner blocked and who has no live token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from graphql import GraphQLNamedType, build_schema, get_named_type

from api.graphql.schema import make_schema
from graph.infra.settings import Settings
from tests.conftest import Api, read
from tests.test_authz_matrix import callers
from tests.test_catalog_api import listing
from tests.test_deals_api import offer, order
from tests.test_graphql import gql

PARTIES = ("owner", "party")
STRANGERS = ("stranger", "blocked")
DEAD = ("suspended", "deleted")  # their tokens died with the account: no token at all
EVERYONE_ELSE = (*STRANGERS, *DEAD, "nobody")

# where an id-taking operation outside Query and Mutation is held to the same rule
COVERED_ELSEWHERE = {
    "Subscription.roomMessages": "tests/test_graphql_subscriptions.py::"
    "test_a_stranger_is_refused_a_room_and_hears_nothing",
}

ERRORS = "errors { code }"


@dataclass(frozen=True)
class Row:
    """How an operation treats the callers: `document` takes the thing's id as `$id` (and
    `setup`'s other variables); `allowed` succeed; the others are refused `refusal`-wise:
    "null" (a query's null), "payload" (a mutation's errors), "top" (top-level errors) or
    "scoped" (succeeds on the caller's own things only: someone else's are left alone). Who
    has no token is refused at the top level (UNAUTHENTICATED) unless `public`."""

    document: str
    setup: str
    allowed: tuple[str, ...]
    refusal: str
    public: bool = False
    payment: bool = False  # needs orders paid by card (`VENDR_ORDER_PAYMENT`)
    not_refused: tuple[str, ...] = field(default=())  # neither allowed nor refused: skipped


def move(name: str, arg: str, payload: str, *more: str) -> str:
    params = "".join(f", {m}" for m in more)
    args = "".join(f", {m.split(':')[0].lstrip('$')}: {m.split(':')[0]}" for m in more)
    return f"mutation ($id: ID!{params}) {{ {name}({arg}: $id{args}) {{ {payload} {ERRORS} }} }}"


BUYING = ("stranger",)  # a listing is for sale to anyone signed in but its seller

ROWS: dict[str, Row] = {
    # ---- queries
    "Query.user": Row(
        "query ($id: ID!) { user(id: $id) { id handle } }",
        "owner",
        (*PARTIES, "stranger", "nobody"),
        "null",
        public=True,
    ),
    "Query.product": Row(
        "query ($id: ID!) { product(id: $id) { id title } }",
        "listing",
        (*PARTIES, "stranger", "nobody"),
        "null",
        public=True,
    ),
    "Query.reviews": Row(
        "query ($id: ID!) { reviews(userId: $id) { edges { node { id } } } }",
        "owner",
        (*PARTIES, "stranger", "nobody"),
        "top",
        public=True,
    ),
    "Query.offer": Row(
        "query ($id: ID!) { offer(id: $id) { id status } }", "open_offer", PARTIES, "null"
    ),
    "Query.order": Row(
        "query ($id: ID!) { order(id: $id) { id status } }", "placed_order", PARTIES, "null"
    ),
    "Query.messages": Row(
        "query ($id: ID!) { messages(roomId: $id, first: 5) { edges { node { id } } } }",
        "room",
        PARTIES,
        "top",
    ),
    # ---- a listing, for its owner only
    "Mutation.updateProduct": Row(
        move("updateProduct", "id", "product { id title }", "$input: ProductPatchInput!"),
        "listing",
        ("owner",),
        "payload",
    ),
    "Mutation.renewProduct": Row(
        move("renewProduct", "id", "product { id expiresAt }"),
        "listing",
        ("owner",),
        "payload",
    ),
    "Mutation.deleteProduct": Row(
        move("deleteProduct", "id", "ok"), "listing", ("owner",), "payload"
    ),
    # ---- the deal: offers
    "Mutation.counterOffer": Row(
        move("counterOffer", "offerId", "offer { id }", "$amount: Amount!"),
        "open_offer",
        ("owner",),
        "payload",
        not_refused=("party",),  # not their turn: a CONFLICT, the deal tests' business
    ),
    "Mutation.acceptOffer": Row(
        move("acceptOffer", "offerId", "offer { id } order { id }"),
        "open_offer",
        ("owner",),
        "payload",
        not_refused=("party",),
    ),
    "Mutation.declineOffer": Row(
        move("declineOffer", "offerId", "offer { id }"),
        "open_offer",
        ("owner",),
        "payload",
        not_refused=("party",),
    ),
    "Mutation.withdrawOffer": Row(
        move("withdrawOffer", "offerId", "offer { id }"),
        "open_offer",
        ("party",),
        "payload",
        not_refused=("owner",),
    ),
    # the order an accepted offer placed, found by its buyer only
    "Mutation.placeOrder": Row(
        "mutation ($id: ID!, $productId: ID!) { placeOrder(productId: $productId, offerId: $id)"
        f" {{ order {{ id }} {ERRORS} }} }}",
        "accepted_offer",
        ("party",),
        "payload",
        not_refused=("owner",),
    ),
    # ---- the deal: orders
    "Mutation.payOrder": Row(
        move("payOrder", "orderId", "order { id payment { id } }"),
        "unpaid_order",
        ("party",),
        "payload",
        payment=True,
        not_refused=("owner",),
    ),
    "Mutation.confirmOrder": Row(
        move("confirmOrder", "orderId", "order { id status }"),
        "placed_order",
        ("owner",),
        "payload",
        not_refused=("party",),
    ),
    "Mutation.completeOrder": Row(
        move("completeOrder", "orderId", "order { id status }"),
        "confirmed_order",
        ("party",),
        "payload",
        not_refused=("owner",),
    ),
    "Mutation.cancelOrder": Row(
        move("cancelOrder", "orderId", "order { id status }"),
        "placed_order",
        PARTIES,
        "payload",
    ),
    "Mutation.writeReview": Row(
        move("writeReview", "orderId", "review { id }", "$rating: Int!"),
        "completed_order",
        PARTIES,
        "payload",
    ),
    # ---- rooms
    "Mutation.sendMessage": Row(
        move("sendMessage", "roomId", "message { id }", "$text: String!"),
        "room",
        PARTIES,
        "payload",
    ),
    # ---- a listing, for anyone signed in but its seller
    "Mutation.makeOffer": Row(
        move("makeOffer", "productId", "offer { id }", "$amount: Amount!"),
        "listing",
        BUYING,
        "payload",
        not_refused=("owner", "party"),
    ),
    "Mutation.createRoom": Row(
        move("createRoom", "productId", "room { id }"),
        "listing",
        BUYING,
        "payload",
        not_refused=("owner", "party"),
    ),
    "Mutation.swipe": Row(
        move("swipe", "productId", "productId", "$direction: SwipeDirection!"),
        "listing",
        BUYING,
        "payload",
        not_refused=("owner", "party"),
    ),
    "Mutation.save": Row(
        move("save", "productId", "ok"),
        "listing",
        BUYING,
        "payload",
        not_refused=("owner", "party"),
    ),
    # taking a listing out of your own saved list is yours to do, blocked or not
    "Mutation.unsave": Row(
        move("unsave", "productId", "ok"),
        "listing",
        ("stranger", "blocked"),
        "payload",
        not_refused=("owner", "party"),
    ),
    "Mutation.report": Row(
        "mutation ($id: ID!, $target: ReportTarget!, $reason: ReportReason!) {"
        f" report(target: $target, id: $id, reason: $reason) {{ report {{ id }} {ERRORS} }} }}",
        "listing",
        ("stranger", "blocked"),
        "payload",
        not_refused=("owner", "party"),
    ),
    # ---- notifications: only your own are marked
    "Mutation.markNotificationsRead": Row(
        f"mutation ($id: [ID!]) {{ markNotificationsRead(ids: $id) {{ unread {ERRORS} }} }}",
        "notifications",
        ("owner",),
        "scoped",
        not_refused=("party",),
    ),
}

# what the other variables of a row's document are, when the caller succeeds
EXTRA: dict[str, dict[str, Any]] = {
    "Mutation.updateProduct": {"input": {"title": "Hijacked"}},
    "Mutation.counterOffer": {"amount": 11_000},
    "Mutation.writeReview": {"rating": 4},
    "Mutation.sendMessage": {"text": "still there?"},
    "Mutation.makeOffer": {"amount": 9_000},
    "Mutation.swipe": {"direction": "LEFT"},
    "Mutation.report": {"target": "PRODUCT", "reason": "SCAM"},
}


def id_operations() -> set[str]:
    """Every root field of the code's schema with an argument of type ID (or [ID])."""
    schema = build_schema(make_schema(Settings(env="dev")).as_str())
    roots: list[GraphQLNamedType | None] = [
        schema.query_type,
        schema.mutation_type,
        schema.subscription_type,
    ]
    return {
        f"{root.name}.{name}"
        for root in roots
        if root is not None
        for name, definition in root.fields.items()  # type: ignore[attr-defined]
        if any(get_named_type(a.type).name == "ID" for a in definition.args.values())
    }


def test_every_operation_that_takes_an_id_has_a_row() -> None:
    operations = id_operations()
    missing = operations - set(ROWS) - set(COVERED_ELSEWHERE)
    assert not missing, f"give the matrix a row for {sorted(missing)}"
    stale = (set(ROWS) | set(COVERED_ELSEWHERE)) - operations
    assert not stale, f"rows for operations the schema no longer has: {sorted(stale)}"
    assert set(EXTRA) <= set(ROWS)


# ---- the world ------------------------------------------------------------------------------


class World:
    """An owner (a shop) and a buyer (the other party of each deal), and the callers who are
    neither; `make(setup)` builds a fresh thing of the owner's for one row."""

    def __init__(
        self, api: Api, services: Any, tokens: dict[str, str | None], ids: dict[str, str]
    ) -> None:
        self.api = api
        self.services = services
        self.tokens = tokens
        self.ids = ids

    @property
    def owner(self) -> str:
        return str(self.tokens["owner"])

    @property
    def party(self) -> str:
        return str(self.tokens["party"])

    async def ok(self, method: str, url: str, token: str, **kw: Any) -> Any:
        response = await self.api.call(method, url, token, **kw)
        assert response.status < 300, (url, response.text)
        return response.json

    async def listing(self) -> str:
        return str((await listing(self.api, self.owner, quantity=5))["id"])

    async def make(self, setup: str) -> dict[str, Any]:
        """The variables naming a fresh thing of the owner's, of the kind `setup` names."""
        api, party = self.api, self.party
        if setup == "owner":
            return {"id": self.ids["owner"]}
        if setup == "notifications":
            # an offer on a listing of theirs tells the owner, once the outbox has gone round
            await self.make("open_offer")
            await self.services.outbox.round()
            inbox = await gql(
                api,
                "{ notifications(first: 50, unreadOnly: true) { edges { node { id } } } }",
                self.owner,
            )
            ids = [e["node"]["id"] for e in inbox["data"]["notifications"]["edges"]]
            assert ids, inbox
            return {"id": ids}
        product = await self.listing()
        if setup == "listing":
            return {"id": product}
        if setup == "room":
            room = await self.ok("post", "/v1/rooms", party, json={"product_id": product})
            path = f"/v1/rooms/{room['id']}/messages"
            await self.ok("post", path, party, json={"text": "hello"})
            return {"id": room["id"]}
        if setup in ("open_offer", "accepted_offer"):
            made = await offer(api, party, product, 9_000)
            assert made.status == 201, made.text
            if setup == "open_offer":
                return {"id": made.json["id"]}
            await self.ok("post", f"/v1/offers/{made.json['id']}/accept", self.owner)
            return {"id": made.json["id"], "productId": product}
        placed = await order(api, party, product)
        assert placed.status == 201, placed.text
        order_id = placed.json["id"]
        if setup in ("placed_order", "unpaid_order"):
            return {"id": order_id}
        await self.ok("post", f"/v1/orders/{order_id}/confirm", self.owner)
        if setup == "confirmed_order":
            return {"id": order_id}
        await self.ok("post", f"/v1/orders/{order_id}/complete", party)
        assert setup == "completed_order", setup
        return {"id": order_id}


async def world(api: Api, services: Any) -> World:
    _, owner = await api.signup(display_name="Shop", kind="business", shop_name="Velo")
    party_user, party = await api.signup(display_name="Buyer")
    _, stranger = await api.signup(display_name="Stranger")
    owner_id = (await api.call("get", "/v1/users/me", owner)).json["id"]
    others = await callers(api, services, owner)
    tokens: dict[str, str | None] = {"owner": owner, "party": party, "stranger": stranger}
    tokens |= others
    assert set(tokens) == {*PARTIES, *EVERYONE_ELSE}
    return World(api, services, tokens, {"owner": owner_id, "party": party_user["id"]})


async def graph_state(services: Any) -> list[str]:
    """Every node and relationship with its properties, in an order of its own."""
    nodes = await read(services, "MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
    links = await read(
        services,
        "MATCH (a)-[r]->(b) RETURN labels(a) AS a, a.id AS a_id, type(r) AS type, "
        "labels(b) AS b, b.id AS b_id, properties(r) AS props",
    )
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in [*nodes, *links])


def changed(before: list[str], after: list[str]) -> list[str]:
    gone, new = set(before) - set(after), set(after) - set(before)
    return [f"- {row}" for row in sorted(gone)] + [f"+ {row}" for row in sorted(new)]


# ---- calling ----------------------------------------------------------------------------------


def outcome(answer: dict[str, Any]) -> tuple[str, set[str]]:
    """("top", codes) | ("payload", codes) | ("null", ∅) | ("ok", ∅)."""
    if answer.get("errors"):
        return "top", {str((e.get("extensions") or {}).get("code")) for e in answer["errors"]}
    data = answer.get("data") or {}
    (value,) = data.values()
    if value is None:
        return "null", set()
    if isinstance(value, dict) and value.get("errors"):
        return "payload", {str(e["code"]) for e in value["errors"]}
    return "ok", set()


REFUSED = {"NOT_FOUND", "FORBIDDEN"}


def refused_rightly(row: Row, role: str, answer: dict[str, Any]) -> bool:
    kind, codes = outcome(answer)
    if role == "nobody" or role in DEAD:
        if kind == "top" and codes == {"UNAUTHENTICATED"}:
            return True
        # a dead token is no token: where nobody may look, they see what nobody sees
        return role in DEAD and row.public and kind == "ok"
    if row.refusal == "scoped":
        return kind == "ok"  # nothing of the owner's changes: the snapshot says
    if row.refusal == "null":
        return kind == "null"
    if row.refusal == "top":
        return kind == "top" and codes <= REFUSED
    return kind == "payload" and codes <= REFUSED


async def run_rows(api: Api, services: Any, names: list[str]) -> None:
    w = await world(api, services)
    wrong: list[str] = []
    checked = 0

    async def call(name: str, role: str, variables: dict[str, Any]) -> dict[str, Any]:
        row = ROWS[name]
        return dict(
            await gql(api, row.document, w.tokens[role], **(EXTRA.get(name, {}) | variables))
        )

    for name in names:
        row = ROWS[name]
        refused = [r for r in (*PARTIES, *EVERYONE_ELSE) if r not in row.allowed + row.not_refused]
        first, *more = row.allowed
        variables = await w.make(row.setup)
        before = await graph_state(services)
        for role in refused:
            answer = await call(name, role, variables)
            checked += 1
            if not refused_rightly(row, role, answer):
                wrong.append(f"{role:9} {name}: not refused: {json.dumps(answer)[:200]}")
        if diff := changed(before, await graph_state(services)):
            wrong.append(f"{name}: refused callers changed the graph:\n  " + "\n  ".join(diff))
        for role, fresh in [(first, variables)] + [(r, await w.make(row.setup)) for r in more]:
            answer = await call(name, role, fresh)
            if outcome(answer)[0] != "ok":
                wrong.append(f"{role:9} {name}: refused: {json.dumps(answer)[:200]}")
    assert not wrong, "\n".join(wrong)
    assert checked >= 3 * len(names)


async def test_nobody_touches_what_is_not_theirs(api: Api, services: Any) -> None:
    await run_rows(api, services, [name for name, row in ROWS.items() if not row.payment])


@pytest.mark.parametrize(
    "settings_overrides", [{"order_payment": True, "order_payment_seconds": 600.0}]
)
async def test_nobody_pays_what_is_not_theirs(api: Api, services: Any) -> None:
    await run_rows(api, services, [name for name, row in ROWS.items() if row.payment])


async def test_a_scoped_operation_leaves_the_owners_things_alone(api: Api, services: Any) -> None:
    """Marking someone else's notifications read answers, but about the caller's own."""
    w = await world(api, services)
    ids = (await w.make("notifications"))["id"]
    unread = "{ notifications(first: 1) { unread } }"
    before = (await gql(api, unread, w.owner))["data"]["notifications"]["unread"]
    assert before >= len(ids) > 0
    mark = ROWS["Mutation.markNotificationsRead"].document
    for role in STRANGERS:
        answer = await gql(api, mark, w.tokens[role], id=ids)
        assert outcome(answer) == ("ok", set()), answer
    assert (await gql(api, unread, w.owner))["data"]["notifications"]["unread"] == before
    await gql(api, mark, w.owner, id=ids)
    assert (await gql(api, unread, w.owner))["data"]["notifications"]["unread"] == before - len(ids)
