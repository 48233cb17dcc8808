"""The GraphQL gateway through the real app and embedded database: the same accounts and
listings as REST, payload errors for what a user did wrong, top-level errors for the rest."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.test_catalog_api import image


async def gql(api: Api, query: str, token: str | None = None, **variables: Any) -> Any:
    response = await api.call(
        "post", "/graphql", token, json={"query": query, "variables": variables}
    )
    assert response.status == 200, response.text
    return response.json


SIGNUP = """
mutation ($input: SignupInput!) {
  signup(input: $input) { token user { id handle displayName } errors { field code message } }
}
"""


async def test_signup_me_and_a_listing_browsed(api: Api) -> None:
    done = await gql(
        api,
        SIGNUP,
        input={"email": "gq@example.org", "password": "long enough", "displayName": "Gee"},
    )
    assert done.get("errors") is None, done
    signed = done["data"]["signup"]
    assert signed["errors"] == [] and signed["token"]
    token = signed["token"]
    me = await gql(api, "{ me { id email displayName } }", token)
    assert me["data"]["me"] == {
        "id": signed["user"]["id"],
        "email": "gq@example.org",
        "displayName": "Gee",
    }
    # the same rules as REST: a short password is the user's mistake, in the payload
    bad = await gql(
        api, SIGNUP, input={"email": "x@example.org", "password": "short", "displayName": "X"}
    )
    payload = bad["data"]["signup"]
    assert payload["token"] is None
    assert [e["field"] for e in payload["errors"]] == ["password"]
    unnamed = await gql(
        api,
        """mutation ($input: ProductInput!) { createProduct(input: $input) {
             product { id } errors { field code } } }""",
        signed["token"],
        input={"title": "x", "price": {"amount": 1, "currency": "EUR"}, "condition": "used"},
    )
    # fields are named as the client spelled them
    assert {"field": "imageIds", "code": "BAD_USER_INPUT"} in unnamed["data"]["createProduct"][
        "errors"
    ]
    assert payload["errors"][0]["code"] == "BAD_USER_INPUT"
    # no token: top-level UNAUTHENTICATED
    anonymous = await gql(api, "{ me { id } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    made = await gql(
        api,
        """mutation ($input: ProductInput!) {
             createProduct(input: $input) { product { id title price { amount currency } }
                                            errors { field message } } }""",
        token,
        input={
            "title": "Oak chair",
            "price": {"amount": 4500, "currency": "EUR"},
            "condition": "used",
            "localPickup": True,
            "imageIds": [await image(api, token)],
            "location": {"lat": 52.52, "lon": 13.40},
            "tags": ["furniture"],
        },
    )
    product = made["data"]["createProduct"]
    assert product["errors"] == [], product
    page = await gql(
        api,
        """{ products(first: 5, filter: {tags: ["furniture"]}) {
               edges { node { id title seller { id } } cursor }
               pageInfo { hasNextPage endCursor } } }""",
    )
    conn = page["data"]["products"]
    assert [e["node"]["id"] for e in conn["edges"]] == [product["product"]["id"]]
    assert conn["pageInfo"] == {"hasNextPage": False, "endCursor": None}


async def test_a_domain_error_in_a_query_has_its_code_and_a_fault_is_masked(api: Api) -> None:
    bad = await gql(api, '{ products(after: "not a cursor") { edges { cursor } } }')
    [error] = bad["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["path"] == ["products"]
    huge = await gql(
        api, "{ products(filter: {tags: [" + ",".join(['"t"'] * 11) + "]}) { edges { cursor } } }"
    )
    assert huge["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


UPDATE = """mutation ($id: ID!, $input: ProductPatchInput!) {
  updateProduct(id: $id, input: $input) {
    product { id title price { amount } } errors { field code }
  }
}"""


async def test_a_listing_is_changed_renewed_and_deleted_by_its_owner_only(api: Api) -> None:
    seller, token = await api.signup(display_name="Owner")
    _, stranger = await api.signup(display_name="Stranger")
    made = await gql(
        api,
        """mutation ($input: ProductInput!) { createProduct(input: $input) { product { id } } }""",
        token,
        input={
            "title": "Desk lamp",
            "price": {"amount": 2500, "currency": "EUR"},
            "condition": "used",
            "localPickup": True,
            "location": {"lat": 48.85, "lon": 2.35},
            "imageIds": [await image(api, token)],
        },
    )
    pid = made["data"]["createProduct"]["product"]["id"]
    changed = await gql(api, UPDATE, token, id=pid, input={"title": "Brass desk lamp"})
    assert changed["data"]["updateProduct"] == {
        "product": {"id": pid, "title": "Brass desk lamp", "price": {"amount": 2500}},
        "errors": [],
    }
    bad = await gql(api, UPDATE, token, id=pid, input={"quantity": 0})
    assert bad["data"]["updateProduct"]["errors"] == [
        {"field": "quantity", "code": "BAD_USER_INPUT"}
    ]
    theirs = await gql(api, UPDATE, stranger, id=pid, input={"title": "Mine now"})
    assert theirs["data"]["updateProduct"]["product"] is None
    assert theirs["data"]["updateProduct"]["errors"][0]["code"] in ("FORBIDDEN", "NOT_FOUND")
    renewed = await gql(
        api,
        "mutation ($id: ID!) { renewProduct(id: $id) { product { expiresAt } errors { code } } }",
        token,
        id=pid,
    )
    assert renewed["data"]["renewProduct"]["errors"] == []
    delete = "mutation ($id: ID!) { deleteProduct(id: $id) { ok errors { code } } }"
    refused = await gql(api, delete, stranger, id=pid)
    assert refused["data"]["deleteProduct"]["ok"] is False
    assert (await gql(api, "query ($id: ID!) { product(id: $id) { title } }", id=pid))["data"] == {
        "product": {"title": "Brass desk lamp"}
    }
    gone = await gql(api, delete, token, id=pid)
    assert gone["data"]["deleteProduct"] == {"ok": True, "errors": []}
    after = await gql(api, "query ($id: ID!) { product(id: $id) { id } }", id=pid)
    assert after["data"] == {"product": None}
    assert seller["id"]


async def test_values_with_nul_bytes_are_refused_before_a_resolver(api: Api) -> None:
    answer = await gql(api, "query ($id: ID!) { product(id: $id) { id } }", id="a\x00b")
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # an id longer than any of ours is simply no listing
    long = await gql(api, "query ($id: ID!) { product(id: $id) { id } }", id="x" * 5000)
    assert long == {"data": {"product": None}}
    literal = await gql(api, '{ product(id: "a\\u0000b") { id } }')
    assert literal["data"] is None and "NUL" in literal["errors"][0]["message"]


async def test_a_dead_token_is_refused_on_public_queries_too(api: Api) -> None:
    _, token = await api.signup(display_name="Leaving")
    assert (await api.call("post", "/v1/auth/logout", token)).status == 204
    answer = await gql(api, "{ products(first: 1) { edges { cursor } } }", token)
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    anonymous = await gql(api, "{ products(first: 1) { edges { cursor } } }")
    assert anonymous.get("errors") is None
