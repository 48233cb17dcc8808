"""The GraphQL gateway's protections through the real app: a document too deep, too aliased,
too long or too costly is refused before anything runs; introspection only where it is on;
one operation per request; queries pay REST's per-address read limit; a page's statements do
not grow with its size. Never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from api.graphql.limits import STATEMENTS_HEADER
from graph.bootstrap import Services
from tests.conftest import Api, limits_on
from tests.test_catalog_api import listing


async def gql(
    api: Api,
    query: str,
    token: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **variables: Any,
) -> Any:
    response = await api.call(
        "post",
        "/graphql",
        token,
        json={"query": query, "variables": variables},
        headers=dict(headers or {}),
    )
    assert response.status == 200, response.text
    return response.json


def messages(answer: dict[str, Any]) -> list[str]:
    return [e["message"] for e in answer.get("errors") or []]


def nested(levels: int) -> str:
    """`{ f { f { … } } }`, `levels` fields deep (unknown fields: only the depth matters)."""
    return "{ " + "f { " * (levels - 1) + "f" + " }" * levels


# a page of cards: listing, seller, images and tags (depth 5)
CARDS = """query ($n: Int!, $filter: ProductFilter) { products(first: $n, filter: $filter) {
  edges { node { id title tags seller { id handle } images { id url } } } } }"""


async def test_depth_is_limited(api: Api) -> None:
    answer = await gql(api, nested(12))
    assert answer["data"] is None
    assert "'anonymous' exceeds maximum operation depth of 10" in messages(answer)
    # within the limit, only the unknown field is wrong
    shallow = await gql(api, nested(9))
    assert not [m for m in messages(shallow) if "depth" in m]


@pytest.mark.parametrize("settings_overrides", [{"graphql_max_depth": 4}])
async def test_the_depth_limit_is_a_setting(api: Api) -> None:
    assert (await gql(api, CARDS, n=2)).get("errors") is None  # products>edges>node>seller>id
    five = "{ products { edges { node { shipping { price { amount } } } } } }"
    answer = await gql(api, five)
    assert answer["data"] is None
    assert messages(answer) == ["'anonymous' exceeds maximum operation depth of 4"]


async def test_aliases_are_limited(api: Api) -> None:
    fifteen = " ".join(f"a{n}: __typename" for n in range(15))
    assert (await gql(api, "{ " + fifteen + " }"))["data"]["a14"] == "Query"
    answer = await gql(api, "{ " + fifteen + " a15: __typename }")
    assert answer["data"] is None
    assert messages(answer) == ["16 aliases found. Allowed: 15"]


async def test_tokens_are_limited(api: Api) -> None:
    def tags(n: int) -> str:  # 22 tokens and n strings
        return "{ products(filter: {tags: [" + '"t" ' * n + "]}) { edges { node { id } } } }"

    fits = await gql(api, tags(1978))  # parsed (then refused by the browse's own limits)
    assert fits["errors"] and not [m for m in messages(fits) if "tokens" in m]
    answer = await gql(api, tags(1979))
    assert answer["data"] is None
    assert messages(answer) == [
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    ]


async def test_a_costly_query_is_refused_before_it_runs(api: Api) -> None:
    # each page: 1 + first * (edges 1 + node (1 + id 1 + images (1 + 5 * 2) + seller (1 + 1)))
    # — a listing has at most 5 images; four aliased pages of 100 cost 4 * 1601
    page = "products(first: $n) { edges { node { id images { id url } seller { id } } } }"
    query = "query ($n: Int!) { " + " ".join(f"p{k}: {page}" for k in range(4)) + " }"
    answer = await gql(api, query, headers={STATEMENTS_HEADER: "1"}, n=100)
    assert answer["data"] is None
    (error,) = answer["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 6404, "maxCost": 5000}
    assert "6404" in error["message"] and "5000" in error["message"]
    assert answer["extensions"] == {"statements": 0}  # nothing ran
    # the same document with smaller pages (4 * 321) runs
    cheap = await gql(api, query, n=20)
    assert cheap.get("errors") is None and set(cheap["data"]) == {"p0", "p1", "p2", "p3"}
    # a literal `first`, and the default (20) when none is given
    literal = await gql(api, "{ " + page.replace("$n", "100") + " }")
    assert literal.get("errors") is None
    assert (await gql(api, LISTS)).get("errors") is None


# 1 + 20 (the default `first`) * (edges 1 + node (1 + tags 1 + images (1 + 5 * id 1)))
LISTS = "{ products { edges { node { tags images { id } } } } }"


@pytest.mark.parametrize("settings_overrides", [{"graphql_max_cost": 180}])
async def test_the_budget_is_a_setting(api: Api) -> None:
    answer = await gql(api, LISTS)
    assert answer["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COSTLY",
        "cost": 181,
        "maxCost": 180,
    }
    smaller = LISTS.replace("products", "products(first: 19)")  # 172
    assert (await gql(api, smaller)).get("errors") is None


async def test_fragments_spread_over_and_over_cost_what_they_expand_to(api: Api) -> None:
    """`...F0` is F1 twice, F1 is F2 twice… 2**60 fields once expanded: refused at once, before
    validation walks it (strawberry's depth limiter would take for ever)."""
    spreads = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(60))
    bomb = "{ ...F0 } " + spreads + " fragment F60 on Query { __typename }"
    answer = await gql(api, bomb)
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] == 2**53 - 1  # reported exactly up to JSON's safe range
    # spread twice, a fragment costs twice, but is counted once
    twice = "{ ...P ...P } fragment P on Query { products(first: 100) { edges { node { id } } } }"
    answer = await gql(api, twice)
    assert answer.get("errors") is None, answer


async def test_fields_repeated_over_and_over_are_refused_before_validation(api: Api) -> None:
    """Validation merges same-named fields pairwise: 300 copies of `shop { id }` in one place
    cost 601 but would take most of a second to validate."""
    answer = await gql(api, "{ me { " + "shop { id } " * 300 + "} }")
    (error,) = answer["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "maxRepeats": 5000}
    spread = " ".join(f"...F{n}" for n in range(120))
    fragments = " ".join(f"fragment F{n} on Query {{ me {{ id }} }}" for n in range(120))
    answer = await gql(api, "{ " + spread + " } " + fragments)
    assert answer["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    # what code generators write: the same few fields in each of many fragments
    spread = " ".join(f"...P{n}" for n in range(20))
    fragments = " ".join(
        f"fragment P{n} on Product {{ id __typename title seller {{ id __typename }} }}"
        for n in range(20)
    )
    answer = await gql(api, "{ products { edges { node { " + spread + " } } } } " + fragments)
    assert answer.get("errors") is None, answer


INTROSPECT = "{ __schema { queryType { name } } }"


async def test_introspection_is_on_in_development(api: Api) -> None:
    answer = await gql(api, INTROSPECT)
    assert answer == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    typed = await gql(api, '{ __type(name: "Product") { fields { name } } }')
    assert {"name": "seller"} in typed["data"]["__type"]["fields"]


@pytest.mark.parametrize("settings_overrides", [{"env": "production"}])
async def test_introspection_is_off_in_production(api: Api) -> None:
    for query in (INTROSPECT, '{ __type(name: "Product") { name } }'):
        answer = await gql(api, query, headers={STATEMENTS_HEADER: "1"})
        assert answer["data"] is None
        assert "introspection has been disabled" in messages(answer)[0]
        assert "extensions" not in answer  # statements are counted in development only
    # __typename is no introspection
    assert (await gql(api, "{ __typename }")) == {"data": {"__typename": "Query"}}
    # no GraphiQL either
    page = await api.call("get", "/graphql", headers={"accept": "text/html"})
    assert page.status == 404


@pytest.mark.parametrize(
    "settings_overrides",
    [{"env": "production", "graphql_introspection": True}, {"graphql_introspection": False}],
)
async def test_introspection_is_a_setting(api: Api, settings) -> None:
    answer = await gql(api, INTROSPECT)
    if settings.graphql_introspection:
        assert answer["data"]["__schema"]["queryType"]["name"] == "Query"
    else:
        assert answer["data"] is None and messages(answer)


async def test_a_query_by_get(api: Api) -> None:
    response = await api.call(
        "get",
        "/graphql",
        params={
            "query": "query ($n: Int!) { products(first: $n) { edges { node { id } } } }",
            "variables": '{"n": 3}',
        },
    )
    assert response.status == 200, response.text
    assert response.json == {"data": {"products": {"edges": []}}}
    # the same limits apply
    deep = await api.call("get", "/graphql", params={"query": nested(12)})
    assert deep.status == 200
    assert "'anonymous' exceeds maximum operation depth of 10" in messages(deep.json)
    # and never a mutation
    mutation = await api.call("get", "/graphql", params={"query": "mutation { logout { ok } }"})
    assert mutation.status == 400


async def test_batches_are_refused(api: Api) -> None:
    one = {"query": "{ __typename }"}
    response = await api.call("post", "/graphql", json=[one, one])
    assert response.status == 400
    assert "Batching is not enabled" in response.text
    empty = await api.call("post", "/graphql", json=[])
    assert empty.status == 400


async def test_malformed_documents_are_errors_not_faults(api: Api) -> None:
    for query in (
        "{ ...Missing }",
        "{ products { edges { node { ...Missing } } } }",
        "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }",
        "{ products(first: 99999999999) { edges { node { id } } } }",
        "{ products(first: -1) { edges { node { id } } } }",
        "query ($n: Int) { products(first: $n) { edges { node { id } } } }",
        "{",
    ):
        answer = await gql(api, query, n="many") if "$n" in query else await gql(api, query)
        assert answer["errors"], (query, answer)
        assert all(
            e.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR" for e in answer["errors"]
        )


async def test_queries_pay_the_read_limit_rest_reads_pay(api: Api, services: Services) -> None:
    with limits_on(services):
        # spend all but one of this address's reads (1200 a minute) …
        await services.limiter.hit("read_ip", "127.0.0.1", 1199)
        assert (await gql(api, "{ __typename }")) == {"data": {"__typename": "Query"}}
        # … then queries are refused, by POST and by GET, as a top-level error
        answer = await gql(api, "{ products { edges { node { id } } } }")
        assert answer["data"] is None
        (error,) = answer["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] >= 1
        got = await api.call("get", "/graphql", params={"query": "{ __typename }"})
        assert got.status == 200 and got.json["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # the bucket is REST's: its reads are refused too
        rest = await api.call("get", "/v1/products")
        assert rest.status == 429
        # mutations pay their own per-account limits, not this one
        logout = await gql(api, "mutation { logout { ok } }")
        assert logout["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_pages_statements_do_not_grow_with_its_size(api: Api) -> None:
    sellers = [await api.signup(display_name=f"Seller {n}") for n in range(2)]
    for n in range(20):
        _, token = sellers[n % 2]
        await listing(api, token, title=f"Chair {n}", tags=["chair", f"c{n}"])

    async def statements(n: int, filter: dict[str, Any]) -> int:
        answer = await gql(api, CARDS, headers={STATEMENTS_HEADER: "1"}, n=n, filter=filter)
        assert answer.get("errors") is None, answer
        edges = answer["data"]["products"]["edges"]
        assert len(edges) == n
        assert all(e["node"]["seller"]["id"] and e["node"]["images"] for e in edges)
        assert {"chair"} <= set(edges[0]["node"]["tags"])
        return int(answer["extensions"]["statements"])

    # (a filtered browse is one statement; the unfiltered newest page reads time windows until
    # it fills, which depends on when the listings were made, not on what the page selects)
    for filter in ({"tags": ["chair"]}, {"q": "chair"}):
        await statements(1, filter)  # the first browse may sample the catalogue for its planner
        five, twenty = await statements(5, filter), await statements(20, filter)
        assert 1 <= five == twenty <= 2, (filter, five, twenty)
    # without the header, nothing is counted or said
    quiet = await gql(api, CARDS, n=5)
    assert "extensions" not in quiet
