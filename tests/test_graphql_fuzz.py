"""The GraphQL gateway, fuzzed: schemathesis draws queries and mutations from the checked-in
schema (api/graphql/schema.graphql, the served one: tests/test_graphql_contract.py) — every
field of Query and Mutation, valid and invalid arguments, the selections under them — and sends
them to a real `vendr serve` as a seeded account. However the request is made, the server never
fails: no 5xx, no `INTERNAL_SERVER_ERROR` among the errors, and no null where the schema
promises a value. A refusal (NOT_FOUND, BAD_USER_INPUT, CONFLICT, QUERY_TOO_COSTLY…) is the
server's business.

The drawn ids are mostly swapped for ids of a seeded marketplace, and page sizes folded into
range half the time (`steer`), so operations reach real offers, orders and pages: schemathesis'
stateful phase for GraphQL cannot chain these (it wants mutations that answer an object with an
`id`; ours answer a payload around it).

Sized as tests/test_fuzz.py is (`VENDR_FUZZ_EXAMPLES`, 8 per operation here; `make fuzz` more),
and run in the same fuzz step of `make test`, in order against one server.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from graphql import (
    ArgumentNode,
    FieldNode,
    GraphQLError,
    IntValueNode,
    ObjectFieldNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    parse,
    print_ast,
    visit,
)
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from api.cli.graphql import CHECKED_IN
from tests.conftest import live_server, png_bytes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("VENDR_FUZZ_EXAMPLES", "8"))
BUDGET = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
pytestmark = pytest.mark.fuzz

PASSWORD = "correct horse battery"
# operations that end the session they run with: each runs as an account of its own
SPENDS_SESSION = {"Mutation.logout"}

# The schema's own scalar: minor units, wider than Int (REST takes 0 to 10^10); drawn past
# both ends, and past 64 bits, so the bounds are the server's to refuse
schemathesis.graphql.scalar(
    "Amount",
    st.one_of(
        st.integers(min_value=-(10**3), max_value=10**11),
        st.integers(min_value=-(2**70), max_value=2**70),
    ).map(nodes.Int),
)

SCHEMA = ROOT / CHECKED_IN
schema = schemathesis.graphql.from_path(SCHEMA)


def gql(c: httpx.Client, query: str, token: str = "", **variables: Any) -> dict[str, Any]:
    """The one payload of a mutation that must succeed."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = c.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.get("errors") is None, answer
    (payload,) = answer["data"].values()
    assert not payload.get("errors"), payload
    return dict(payload)


SIGNUP = """mutation ($input: SignupInput!) { signup(input: $input) {
  token user { id } errors { field message } } }"""
CREATE = """mutation ($input: ProductInput!) { createProduct(input: $input) {
  product { id } errors { field message } } }"""
ROOM = "mutation ($p: ID!) { createRoom(productId: $p) { room { id } errors { code } } }"
SEND = """mutation ($r: ID!) { sendMessage(roomId: $r, text: "still there?") {
  message { id } errors { code } } }"""
OFFER = """mutation ($p: ID!) { makeOffer(productId: $p, amount: 2000, quantity: 1) {
  offer { id } errors { code } } }"""
ORDER = "mutation ($p: ID!) { placeOrder(productId: $p) { order { id } errors { code } } }"
SAVE = "mutation ($p: ID!) { save(productId: $p) { ok errors { code } } }"


def order_move(name: str) -> str:
    return f"mutation ($o: ID!) {{ {name}(orderId: $o) {{ order {{ id }} errors {{ code }} }} }}"


class Seeded:
    """The fuzzing account, and a shop, in a marketplace where the fuzzer is on both sides:
    it buys (a conversation, an open offer, an order placed, an order completed and not yet
    reviewed, a saved listing) and sells (a listing of its own with an offer and an order on
    it): the ids `steer` gives the fuzzer's ID arguments."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ids: dict[str, list[str]] = {}
        with httpx.Client(base_url=base, timeout=30) as c:
            self.token, me_id = self.signup(c, "Fuzz")
            shop, shop_id = self.signup(c, "Shop", kind="business", shopName="Fuzz Supplies")
            images: list[str] = []

            def listing(token: str, n: int) -> str:
                files = {
                    "image": ("p.png", png_bytes(color=("navy", "teal", "red")[n]), "image/png")
                }
                auth = {"authorization": f"Bearer {token}"}
                uploaded = c.post("/v1/images", files=files, headers=auth)
                assert uploaded.status_code == 201, uploaded.text
                images.append(uploaded.json()["id"])
                product = {
                    "title": f"Fuzzable lamp {n}",
                    "price": {"amount": 2_500, "currency": "EUR"},
                    "condition": "used",
                    "location": {"lat": 52.37, "lon": 4.89},
                    "tags": ["lamp", "vintage"],
                    "imageIds": [images[-1]],
                    "quantity": 50 if token == shop else 1,  # a person sells one of a kind
                }
                return str(gql(c, CREATE, token, input=product)["product"]["id"])

            me = self.token
            first, second, mine = listing(shop, 0), listing(shop, 1), listing(me, 2)
            room = gql(c, ROOM, me, p=first)["room"]["id"]
            message = gql(c, SEND, me, r=room)["message"]["id"]
            bought = gql(c, OFFER, me, p=first)["offer"]["id"]
            sold = gql(c, OFFER, shop, p=mine)["offer"]["id"]
            placed = gql(c, ORDER, me, p=second)["order"]["id"]
            done = gql(c, ORDER, me, p=first)["order"]["id"]
            gql(c, order_move("confirmOrder"), shop, o=done)
            gql(c, order_move("completeOrder"), me, o=done)
            selling = gql(c, ORDER, shop, p=mine)["order"]["id"]
            gql(c, SAVE, me, p=second)
        self.ids = {
            "product": [first, second, mine],
            "user": [me_id, shop_id],
            "room": [room],
            "message": [message],
            "offer": [bought, sold],
            "order": [placed, done, selling],
            "image": images,
        }

    def signup(self, c: httpx.Client, name: str, **extra: Any) -> tuple[str, str]:
        body = {
            "email": f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.org",
            "password": PASSWORD,
            "displayName": name,
        } | extra
        signed = gql(c, SIGNUP, input=body)
        return str(signed["token"]), str(signed["user"]["id"])

    def headers(self, operation: str) -> dict[str, str]:
        if operation in SPENDS_SESSION:
            with httpx.Client(base_url=self.base, timeout=30) as c:
                return {"Authorization": f"Bearer {self.signup(c, 'Spent')[0]}"}
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def seeded(data_dir: Path) -> Iterator[Seeded]:
    with live_server(data_dir, "gqlfuzz") as base:
        yield Seeded(base)


# which seeded ids an ID argument (or input field) is given, by its name; `id` by its field's
KIND_OF = {
    "productId": "product",
    "offerId": "offer",
    "orderId": "order",
    "roomId": "room",
    "userId": "user",
    "owner": "user",
    "imageIds": "image",
}
# an `id` argument's kind is the one its field names (`product`, `deleteProduct`…)
KINDS = ("product", "user", "offer", "order", "room", "message")


def kind_of_id(field_name: str) -> str | None:
    return next((kind for kind in KINDS if kind in field_name.lower()), None)


CLIENT_SCHEMA = build_schema(SCHEMA.read_text(encoding="utf-8"))


# Int arguments folded into the bounds REST keeps (half the time): drawn from all the integers,
# a page size is almost never 1 to 100, so pages would rarely get past the check of `first`
FOLDED = {"first": 20, "rating": 5, "quantity": 3}


def _pick(name: str, drawn: str, choices: int) -> int:
    """One of `choices`, by a digest of what was drawn (so a drawn case stays the same case);
    `choices` itself means "keep what was drawn"."""
    digest = hashlib.sha256(f"{name}:{drawn}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (choices + 1)


def steer(body: str, ids: dict[str, list[str]]) -> str:
    """`body` with its ID values mostly swapped for seeded ids of the kind the argument names
    (`KIND_OF`: the others from all of them), and its page sizes, ratings and quantities
    often folded into range (`FOLDED`): the fuzzer's operations reach real things and real
    pages, not only NOT_FOUND and BAD_USER_INPUT. The rest keep what was drawn."""
    try:
        document = parse(body)
    except GraphQLError:
        return body
    info = TypeInfo(CLIENT_SCHEMA)
    everything = [i for kind in ids.values() for i in kind]

    class Steer(Visitor):
        def steer(self, node: Any, above: list[Any]) -> Any:
            named = get_named_type(info.get_input_type())
            names = [a.name.value for a in above if isinstance(a, ArgumentNode | ObjectFieldNode)]
            name = names[-1] if names else ""
            if isinstance(node, IntValueNode) and name in FOLDED:
                if _pick(name, node.value, 1) == 0:
                    return IntValueNode(value=str(1 + abs(int(node.value)) % FOLDED[name]))
                return None
            if named is None or named.name != "ID":
                return None
            fields = [a.name.value for a in above if isinstance(a, FieldNode)]
            kind = KIND_OF.get(name) or (kind_of_id(fields[-1]) if name == "id" else None)
            pool = ids.get(kind, []) if kind else everything
            pick = _pick(name, node.value, len(pool))
            return StringValueNode(value=pool[pick]) if pick < len(pool) else None

        def enter_string_value(
            self, node: Any, _key: Any, parent: Any, _path: Any, ancestors: Any
        ) -> Any:
            return self.steer(node, [*ancestors, parent])

        def enter_int_value(
            self, node: Any, _key: Any, parent: Any, _path: Any, ancestors: Any
        ) -> Any:
            return self.steer(node, [*ancestors, parent])

    return print_ast(visit(document, TypeInfoVisitor(info, Steer())))


def no_server_error(ctx: Any, response: Any, case: Any) -> bool:
    """No 5xx, and no error the server owns: INTERNAL_SERVER_ERROR is a resolver that failed
    (api/graphql/errors.py masks every unexpected exception so, a null in a non-null field
    included)."""
    assert response.status_code < 500, f"the server failed: {response.status_code}"
    try:
        answer = response.json()
    except ValueError:
        raise AssertionError(f"not JSON ({response.status_code}): {response.text[:200]}") from None
    if not isinstance(answer, dict):
        raise AssertionError(f"not a GraphQL answer: {answer!r}"[:300])
    internal = [
        error
        for error in answer.get("errors") or []
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]
    assert not internal, f"a resolver failed: {internal}"
    return True


CHECKS = [no_server_error, schemathesis.checks.response_schema_conformance]


def test_the_fuzzed_operations_are_every_root_field() -> None:
    labels = {result.ok().label for result in schema.get_all_operations()}  # type: ignore[union-attr]
    roots = {
        f"{root.name}.{field}"
        for root in (CLIENT_SCHEMA.query_type, CLIENT_SCHEMA.mutation_type)
        if root is not None
        for field in root.fields
    }
    assert labels == roots


def test_drawn_values_are_steered_to_real_things() -> None:
    ids = {"offer": ["o1"], "product": ["p1", "p2"], "user": ["u1"], "image": ["i1"]}

    def accepting(drawn: str) -> str:
        body = steer(f'mutation {{ acceptOffer(offerId: "{drawn}") {{ errors {{ code }} }} }}', ids)
        return body.split('"')[1]

    drawn = [f"drawn-{n}" for n in range(40)]
    swapped = {accepting(d) for d in drawn}
    # mostly the offer, sometimes what was drawn; the same drawn value, the same swap
    assert "o1" in swapped and swapped - {"o1"} and swapped <= {"o1", *drawn}
    assert [accepting(d) for d in drawn] == [accepting(d) for d in drawn]
    # `id` by its field, ints too; other values are left alone
    assert steer("{ product(id: 7) { title } }", ids).split('"')[1] in {"p1", "p2", "7"}
    renewed = steer('mutation { renewProduct(id: "q") { errors { code } } }', ids)
    assert renewed.split('"')[1] in {"p1", "p2", "q"}
    body = steer('{ products(filter: {owner: "x", q: "x"}) { pageInfo { endCursor } } }', ids)
    assert 'q: "x"' in body and ('owner: "u1"' in body or 'owner: "x"' in body)
    # page sizes: some folded into 1 to 20, the others as drawn
    sizes = {
        steer(f"{{ rooms(first: {n}) {{ pageInfo {{ endCursor }} }} }}", ids).split("first: ")[1]
        for n in range(-5000, 5000, 97)
    }
    folded = {s.split(")")[0] for s in sizes}
    assert {str(n) for n in range(1, 21)} & folded and folded - {str(n) for n in range(1, 21)}
    assert 'first: "x"' in steer('{ rooms(first: "x") { pageInfo { endCursor } } }', ids)
    assert steer("{ not parsed", ids) == "{ not parsed"


def test_the_check_fails_on_what_the_server_owns() -> None:
    class Answer:
        def __init__(self, status: int, body: Any) -> None:
            self.status_code, self.body, self.text = status, body, str(body)

        def json(self) -> Any:
            return self.body

    refused = {"data": None, "errors": [{"message": "no", "extensions": {"code": "NOT_FOUND"}}]}
    assert no_server_error(None, Answer(200, refused), None)
    failed = {"data": None, "errors": [{"extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    for answer in (Answer(200, failed), Answer(502, {}), Answer(200, [1])):
        with pytest.raises(AssertionError):
            no_server_error(None, answer, None)


@schema.parametrize()
@BUDGET
def test_no_operation_fails_the_server(case: Any, seeded: Seeded) -> None:
    if isinstance(case.body, str):
        case.body = steer(case.body, seeded.ids)
    case.call_and_validate(
        base_url=f"{seeded.base}/graphql",
        headers=seeded.headers(case.operation.label),
        checks=CHECKS,
    )
