"""The deal flow through the GraphQL gateway, on the real app and both backends: a negotiation
to a completed order, refused moves as payload errors, orders paged by REST's keyset cursors,
and top-level errors for a bad cursor and a missing token."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.test_deals_api import parties
from tests.test_graphql import gql

OFFER_FIELDS = """
id status madeBy round orderId actions quantity
amount { amount currency }
product { id price { amount currency } }
"""
ORDER_FIELDS = """
id status quantity offerId actions confirmedAt completedAt
amount { amount currency }
lines { productId quantity unitPrice { amount currency } }
buyer { id } seller { id }
due { event }
"""
ERRORS = "errors { field code message }"

MAKE = f"""
mutation ($productId: ID!, $amount: Amount!, $quantity: Int! = 1, $message: String,
          $currency: String) {{
  makeOffer(productId: $productId, amount: $amount, quantity: $quantity, message: $message,
            currency: $currency) {{ offer {{ {OFFER_FIELDS} }} {ERRORS} }}
}}
"""
COUNTER = f"""
mutation ($offerId: ID!, $amount: Amount!) {{
  counterOffer(offerId: $offerId, amount: $amount) {{ offer {{ {OFFER_FIELDS} }} {ERRORS} }}
}}
"""
ACCEPT = f"""
mutation ($offerId: ID!) {{
  acceptOffer(offerId: $offerId) {{
    offer {{ {OFFER_FIELDS} }} order {{ {ORDER_FIELDS} }} {ERRORS} }}
}}
"""
PLACE = f"""
mutation ($productId: ID!, $quantity: Int! = 1, $offerId: ID) {{
  placeOrder(productId: $productId, quantity: $quantity, offerId: $offerId) {{
    order {{ {ORDER_FIELDS} }} {ERRORS} }}
}}
"""


def order_move(name: str) -> str:
    return f"""
    mutation ($orderId: ID!) {{
      {name}(orderId: $orderId) {{ order {{ {ORDER_FIELDS} }} {ERRORS} }}
    }}
    """


ORDERS = """
query ($first: Int!, $after: String, $role: Role, $status: String) {
  orders(first: $first, after: $after, role: $role, status: $status) {
    edges { node { id status } cursor }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def ok(result: dict[str, Any], field: str) -> dict[str, Any]:
    """The payload of mutation `field`, which must have no errors of any kind."""
    assert result.get("errors") is None, result
    out = result["data"][field]
    assert out["errors"] == [], out
    return dict(out)


def ids(result: dict[str, Any]) -> list[str]:
    return [e["node"]["id"] for e in result["data"]["orders"]["edges"]]


def top_code(result: dict[str, Any]) -> str:
    return str(result["errors"][0]["extensions"]["code"])


async def test_a_negotiation_ends_in_a_completed_order(api: Api) -> None:
    seller, buyer, stranger, product = await parties(api)
    pid = product["id"]
    made = ok(
        await gql(api, MAKE, buyer, productId=pid, amount=9_000, message="Would you take 90?"),
        "makeOffer",
    )["offer"]
    assert made["status"] == "open" and made["madeBy"] == "BUYER" and made["round"] == 1
    assert made["amount"] == {"amount": 9_000, "currency": "EUR"}
    assert made["product"] == {"id": pid, "price": {"amount": 12_500, "currency": "EUR"}}
    assert made["actions"] == ["withdraw"]  # the buyer waits for the seller

    countered = ok(
        await gql(api, COUNTER, seller, offerId=made["id"], amount=11_500), "counterOffer"
    )["offer"]
    assert countered["id"] != made["id"]
    assert countered["madeBy"] == "SELLER" and countered["round"] == 2
    assert countered["amount"] == {"amount": 11_500, "currency": "EUR"}

    accepted = ok(await gql(api, ACCEPT, buyer, offerId=countered["id"]), "acceptOffer")
    assert accepted["offer"]["status"] == "accepted"
    order = accepted["order"]
    assert accepted["offer"]["orderId"] == order["id"]
    assert order["status"] == "placed" and order["offerId"] == countered["id"]
    assert order["amount"] == {"amount": 11_500, "currency": "EUR"}  # the agreed price
    assert order["lines"] == [
        {"productId": pid, "quantity": 1, "unitPrice": {"amount": 11_500, "currency": "EUR"}}
    ]
    assert order["actions"] == ["cancel"]  # the buyer's: the seller confirms

    # a move on a closed offer is the user's mistake: CONFLICT in the payload
    twice = await gql(api, ACCEPT, buyer, offerId=countered["id"])
    assert twice.get("errors") is None, twice
    assert twice["data"]["acceptOffer"]["offer"] is None
    assert [e["code"] for e in twice["data"]["acceptOffer"]["errors"]] == ["CONFLICT"]
    # asking to order the accepted offer finds its order, never a second one
    again = ok(await gql(api, PLACE, buyer, productId=pid, offerId=countered["id"]), "placeOrder")
    assert again["order"]["id"] == order["id"]

    # the thread reads back whole, for the parties only
    thread = await gql(
        api,
        "query ($id: ID!) { offer(id: $id) { id status thread { amount { amount } status } } }",
        seller,
        id=countered["id"],
    )
    assert [(s["amount"]["amount"], s["status"]) for s in thread["data"]["offer"]["thread"]] == [
        (9_000, "countered"),
        (11_500, "accepted"),
    ]
    for query in ("offer", "order"):
        hidden = await gql(
            api,
            f"query ($id: ID!) {{ {query}(id: $id) {{ id }} }}",
            stranger,
            id=countered["id"] if query == "offer" else order["id"],
        )
        assert hidden == {"data": {query: None}}
    mine = await gql(
        api, "query ($id: ID!) { order(id: $id) { id status } }", buyer, id=order["id"]
    )
    assert mine["data"]["order"] == {"id": order["id"], "status": "placed"}
    meddling = await gql(api, order_move("cancelOrder"), stranger, orderId=order["id"])
    assert [e["code"] for e in meddling["data"]["cancelOrder"]["errors"]] == ["NOT_FOUND"]
    early = await gql(api, order_move("completeOrder"), buyer, orderId=order["id"])
    assert [e["code"] for e in early["data"]["completeOrder"]["errors"]] == ["CONFLICT"]

    confirmed = ok(
        await gql(api, order_move("confirmOrder"), seller, orderId=order["id"]), "confirmOrder"
    )["order"]
    assert confirmed["status"] == "confirmed" and confirmed["confirmedAt"]
    assert confirmed["due"] == {"event": "auto_complete"}
    done = ok(
        await gql(api, order_move("completeOrder"), buyer, orderId=order["id"]), "completeOrder"
    )["order"]
    assert done["status"] == "completed" and done["completedAt"]
    assert done["amount"] == {"amount": 11_500, "currency": "EUR"}
    assert done["actions"] == []
    # the same order as REST reads it
    rest = (await api.call("get", f"/v1/orders/{order['id']}", buyer)).json
    assert (rest["status"], rest["amount"]) == ("completed", {"amount": 11_500, "currency": "EUR"})


async def test_orders_page_by_keyset_cursors(api: Api) -> None:
    seller, buyer, _, product = await parties(api, quantity=5)
    placed = []
    for _ in range(3):
        made = ok(await gql(api, PLACE, buyer, productId=product["id"]), "placeOrder")
        placed.append(made["order"]["id"])
    seen: list[str] = []
    pages: list[bool] = []
    after = None
    while True:
        page = await gql(api, ORDERS, buyer, first=1, after=after)
        assert page.get("errors") is None, page
        conn = page["data"]["orders"]
        assert len(conn["edges"]) == 1
        seen += [e["node"]["id"] for e in conn["edges"]]
        pages.append(conn["pageInfo"]["hasNextPage"])
        if not conn["pageInfo"]["hasNextPage"]:
            assert conn["pageInfo"]["endCursor"] is None
            break
        after = conn["pageInfo"]["endCursor"]
        # the last edge's cursor (sealed afresh, so not the same text) leads where the end does
        by_edge = await gql(api, ORDERS, buyer, first=5, after=conn["edges"][-1]["cursor"])
        by_end = await gql(api, ORDERS, buyer, first=5, after=after)
        assert ids(by_edge) == ids(by_end) != []
    assert pages == [True, True, False]
    assert seen == list(reversed(placed))  # newest first, none skipped or repeated
    whole = (await gql(api, ORDERS, buyer, first=5))["data"]["orders"]
    assert [e["node"]["id"] for e in whole["edges"]] == seen
    assert whole["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    assert all(e["cursor"] for e in whole["edges"])
    # a cursor handed back in the middle continues after its edge
    rest = await gql(api, ORDERS, buyer, first=5, after=whole["edges"][0]["cursor"])
    assert [e["node"]["id"] for e in rest["data"]["orders"]["edges"]] == seen[1:]
    # by role and state
    as_seller = await gql(api, ORDERS, seller, first=5, role="SELLER", status="placed")
    assert len(as_seller["data"]["orders"]["edges"]) == 3
    none = await gql(api, ORDERS, buyer, first=5, role="SELLER")
    assert none["data"]["orders"]["edges"] == []

    # what a client got wrong in a query is a top-level BAD_USER_INPUT, never a 500
    for variables in (
        {"first": 1, "after": "not-a-cursor"},
        {"first": 1, "after": "bad cursor!"},
        {"first": 1, "after": "x" * 600},
        {"first": 0},
        {"first": 101},
        {"first": 1, "status": "bogus"},
    ):
        bad = await gql(api, ORDERS, buyer, **variables)
        assert bad["data"] is None and top_code(bad) == "BAD_USER_INPUT", (variables, bad)
    malformed = await gql(api, ORDERS, buyer, first=1, after="not-a-cursor")
    assert malformed["errors"][0]["extensions"]["errors"] == {"after": "malformed"}
    # an orders cursor is not an offers cursor
    other = await gql(
        api,
        "query ($after: String) { offers(after: $after) { edges { cursor } } }",
        buyer,
        after=whole["edges"][0]["cursor"],
    )
    assert top_code(other) == "BAD_USER_INPUT"


async def test_mistakes_are_payload_errors_and_no_token_is_unauthenticated(api: Api) -> None:
    seller, buyer, _, product = await parties(api)
    pid = product["id"]
    cases: tuple[tuple[dict[str, Any], str | None], ...] = (
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 12_501}, "amount"),  # over the asking price
        ({"amount": 100, "currency": "USD"}, "currency"),
        ({"amount": 100, "currency": "euro"}, "currency"),
        ({"amount": 100, "quantity": 0}, "quantity"),
        ({"amount": 100, "message": "   "}, "message"),
    )
    for variables, field in cases:
        refused = await gql(api, MAKE, buyer, productId=pid, **variables)
        assert refused.get("errors") is None, (variables, refused)
        out = refused["data"]["makeOffer"]
        assert out["offer"] is None
        assert [e["code"] for e in out["errors"]] == ["BAD_USER_INPUT"], (variables, out)
        assert field is None or out["errors"][0]["field"] == field, (variables, out)
    # a NUL byte in any value is refused before any resolver runs (top-level), as REST
    # refuses one anywhere in a body
    nul = await gql(api, MAKE, buyer, productId=pid, amount=100, message="x\x00y")
    assert nul["data"] is None and top_code(nul) == "BAD_USER_INPUT"
    own = await gql(api, MAKE, seller, productId=pid, amount=100)
    assert [(e["field"], e["code"]) for e in own["data"]["makeOffer"]["errors"]] == [
        ("productId", "BAD_USER_INPUT")
    ]
    for missing in ("no-such-listing", "", "x" * 5000):
        gone = await gql(api, MAKE, buyer, productId=missing, amount=100)
        assert [e["code"] for e in gone["data"]["makeOffer"]["errors"]] == ["NOT_FOUND"]
    # one open negotiation per buyer and listing
    first = ok(await gql(api, MAKE, buyer, productId=pid, amount=5_000), "makeOffer")["offer"]
    second = await gql(api, MAKE, buyer, productId=pid, amount=5_000)
    assert [(e["field"], e["code"]) for e in second["data"]["makeOffer"]["errors"]] == [
        ("productId", "CONFLICT")
    ]
    own_turn = await gql(api, ACCEPT, buyer, offerId=first["id"])
    assert [e["code"] for e in own_turn["data"]["acceptOffer"]["errors"]] == ["CONFLICT"]
    low = await gql(api, COUNTER, seller, offerId=first["id"], amount=-1)
    assert [e["field"] for e in low["data"]["counterOffer"]["errors"]] == ["amount"]
    declined = ok(
        await gql(
            api,
            "mutation ($id: ID!) { declineOffer(offerId: $id) { offer { status } errors "
            "{ code } } }",
            seller,
            id=first["id"],
        ),
        "declineOffer",
    )
    assert declined["offer"]["status"] == "declined"
    withdrawn = await gql(
        api,
        "mutation ($id: ID!) { withdrawOffer(offerId: $id) { offer { id } errors { code } } }",
        buyer,
        id=first["id"],
    )
    assert [e["code"] for e in withdrawn["data"]["withdrawOffer"]["errors"]] == ["CONFLICT"]
    # no unaccepted offer has an order to find
    other = ok(await gql(api, MAKE, buyer, productId=pid, amount=6_000), "makeOffer")["offer"]
    pending = await gql(api, PLACE, buyer, productId=pid, offerId=other["id"])
    assert [(e["field"], e["code"]) for e in pending["data"]["placeOrder"]["errors"]] == [
        ("offerId", "CONFLICT")
    ]
    wrong = await gql(api, PLACE, buyer, productId="elsewhere", offerId=other["id"])
    assert [e["code"] for e in wrong["data"]["placeOrder"]["errors"]] == ["NOT_FOUND"]
    too_many = await gql(api, PLACE, buyer, productId=pid, quantity=5_000)
    assert [e["field"] for e in too_many["data"]["placeOrder"]["errors"]] == ["quantity"]
    # an order not waiting for a payment cannot be paid; the seller never pays
    order = ok(await gql(api, PLACE, buyer, productId=pid), "placeOrder")["order"]
    unpaid = await gql(api, order_move("payOrder"), buyer, orderId=order["id"])
    assert [e["code"] for e in unpaid["data"]["payOrder"]["errors"]] == ["CONFLICT"]
    by_seller = await gql(api, order_move("payOrder"), seller, orderId=order["id"])
    assert [e["code"] for e in by_seller["data"]["payOrder"]["errors"]] == ["NOT_FOUND"]
    cancelled = ok(
        await gql(api, order_move("cancelOrder"), buyer, orderId=order["id"]), "cancelOrder"
    )
    assert cancelled["order"]["status"] == "cancelled"

    # no token: top-level UNAUTHENTICATED, for queries and mutations alike
    for query, variables in (
        (MAKE, {"productId": pid, "amount": 100}),
        (ACCEPT, {"offerId": other["id"]}),
        (order_move("payOrder"), {"orderId": order["id"]}),
        (ORDERS, {"first": 1}),
        ("{ offers { edges { cursor } } }", {}),
        ("query ($id: ID!) { order(id: $id) { id } }", {"id": order["id"]}),
    ):
        anonymous = await gql(api, query, None, **variables)
        assert top_code(anonymous) == "UNAUTHENTICATED", (query, anonymous)
        assert not any((anonymous["data"] or {}).values()), anonymous
