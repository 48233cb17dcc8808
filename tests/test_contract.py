"""The OpenAPI document is exactly what the server does (issue 15, the contract): it validates
as OpenAPI 3.1, names every route the router serves and nothing else, declares error answers
as problem+json and 204s without a body, and real answers of a short flow match it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from api.contract import refusals
from tests.conftest import Api, png_bytes
from tests.test_catalog_api import listing


@pytest.fixture
async def spec(api: Api) -> dict[str, Any]:
    response = await api.call("get", "/docs/openapi.json")
    assert response.status == 200
    return response.json


def operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in spec["paths"].items() for m in item}


async def test_the_document_is_valid_openapi_3_1(spec) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any error
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(spec).replace("'", '"')))
    assert refs and refs <= set(spec["components"]["schemas"])  # every reference resolves


async def test_every_route_is_documented_and_nothing_else(api: Api, spec) -> None:
    served = set()
    for route in api.app.router.routes:
        # the socket is in the README; GraphQL's contract is its own SDL (test_graphql_contract)
        if route.extra.websocket or route.uri.startswith(("/docs", "/graphql")):
            continue
        path = "/" + re.sub(r"<(\w+)(?::[^>]+)?>", r"{\1}", route.uri).lstrip("/")
        served |= {(m, path) for m in route.methods if m not in ("HEAD", "OPTIONS")}
    assert operations(spec) == served
    # and each says what it answers when it succeeds (POST …/swipe once did not)
    silent = {
        (m, p)
        for p, item in spec["paths"].items()
        for m, op in item.items()
        if not any(status.startswith("2") for status in op["responses"])
    }
    assert silent == set()


async def test_errors_are_problem_documents_and_204s_have_no_body(spec) -> None:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op["summary"], (method, path)
            probe = path in ("/v1/heartbeat", "/v1/ready")  # never rate-limited
            assert ("429" in op["responses"]) != probe, (method, path)
            if op.get("security") == [{"token": []}]:
                assert "401" in op["responses"], (method, path)
            for status, answer in op["responses"].items():
                if status == "204":
                    assert "content" not in answer, (method, path)
                if status.startswith("4"):
                    assert list(answer["content"]) == ["application/problem+json"], (path, status)


class Contract:
    """Checks real answers against the document: a declared status, a matching body."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.checked: list[tuple[str, str, int]] = []

    def operation(self, method: str, url: str) -> tuple[str, dict[str, Any]]:
        path = url.split("?")[0]
        for template, item in self.spec["paths"].items():
            pattern = "^" + re.sub(r"\{\w+\}", "[^/]+", template) + "$"
            if re.match(pattern, path) and method.lower() in item:
                return template, item[method.lower()]
        raise AssertionError(f"{method} {path} is not in the document")

    async def call(self, api: Api, method: str, url: str, token: str | None = None, **kw: Any):
        response = await api.call(method, url, token, **kw)
        template, op = self.operation(method, url)
        status = str(response.status)
        assert status in op["responses"], f"{method} {template} answered {status}, undeclared"
        declared = op["responses"][status]
        if status == "204" or "content" not in declared:
            assert response.content == b"", f"{method} {template} {status} has a body"
        else:
            media = response.headers["content-type"].split(";")[0]
            assert media in declared["content"], (template, status, media)
            schema = declared["content"][media]["schema"] | {"components": self.spec["components"]}
            OAS31Validator(schema).validate(response.json)
        self.checked.append((method, template, response.status))
        return response


async def test_a_short_flow_answers_as_documented(api: Api, spec) -> None:
    c = Contract(spec)
    body = {"email": "flow@example.org", "password": "correct horse battery", "display_name": "F"}
    signed = await c.call(api, "post", "/v1/auth/signup", json=body)
    token = signed.json["token"]
    _, buyer = await api.signup(display_name="Buyer")
    await c.call(api, "get", "/v1/users/me", token)
    files = {"image": ("p.png", png_bytes(), "image/png")}
    image = await c.call(api, "post", "/v1/images", token, files=files)
    listing = {
        "title": "Oak table",
        "price": {"amount": 12_500, "currency": "EUR"},
        "location": {"lat": 52.37, "lon": 4.89},
        "tags": ["oak"],
        "image_ids": [image.json["id"]],
    }
    product = (await c.call(api, "post", "/v1/products", token, json=listing)).json
    await c.call(api, "get", "/v1/products?near=52.37,4.89&sort=distance")
    await c.call(api, "get", f"/v1/products/{product['id']}?near=52.3,4.8", buyer)
    await c.call(api, "get", "/v1/products/nope")  # 404
    await c.call(api, "get", "/v1/products?currency=QQQ")  # 422
    await c.call(api, "get", "/v1/users/me")  # 401
    await c.call(api, "post", "/v1/products", token, content=b"{not json")  # 400
    await c.call(api, "put", f"/v1/users/me/saved/{product['id']}", buyer)  # 204
    await c.call(api, "get", "/v1/users/me/saved", buyer)
    await c.call(api, "get", "/v1/feed?near=52.37,4.89", buyer)
    room = await c.call(api, "post", "/v1/rooms", buyer, json={"product_id": product["id"]})
    await c.call(api, "post", f"/v1/rooms/{room.json['id']}/messages", buyer, json={"text": "Hi"})
    await c.call(api, "get", f"/v1/rooms/{room.json['id']}/messages", token)
    await c.call(api, "post", f"/v1/rooms/{room.json['id']}/read", token)
    offer = {"amount": 11_000}
    await c.call(api, "post", f"/v1/products/{product['id']}/offers", buyer, json=offer)
    await c.call(api, "get", "/v1/offers?role=seller", token)
    await c.call(api, "post", "/v1/auth/logout", token)
    assert {s for _, _, s in c.checked} >= {200, 201, 204, 400, 401, 404, 422}


async def test_an_undeclared_method_is_a_405_naming_the_allowed_ones(api: Api) -> None:
    response = await api.call("trace", "/v1/cart/items/some-listing")
    assert response.status == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"PUT", "DELETE"}
    assert response.headers["content-type"] == "application/problem+json"


async def test_names_and_logins_say_in_the_contract_what_the_server_refuses(spec) -> None:
    schemas = spec["components"]["schemas"]
    name = schemas["SignupIn"]["properties"]["display_name"]
    pattern = re.compile(name["pattern"])
    assert pattern.match("Anna") and pattern.match("  Anna ")
    assert not pattern.match("Ann\u200ba") and not pattern.match("   ")
    assert schemas["LoginIn"]["else"]["required"] == ["phone"]  # email, else phone
    email = re.compile(schemas["LoginIn"]["properties"]["email"]["anyOf"][0]["pattern"])
    assert email.match(" Ann@Example.org ") and not email.match("no-at-sign")


# ---- what fuzzing the contract found: the server and the document disagreed -----------------


def _pattern(schema: dict[str, Any]) -> re.Pattern[str]:
    for branch in [schema, *schema.get("anyOf", [])]:
        if "pattern" in branch:
            return re.compile(branch["pattern"])
    raise AssertionError(f"no pattern in {schema}")


async def test_tags_are_read_alike_by_the_server_and_the_contract(api: Api, spec) -> None:
    """The contract's tag pattern uses no class that Python and ECMA-262 read differently;
    a Turkish capital İ no longer makes a tag invalid; a tag fits in 32 characters as sent."""
    tag = _pattern(spec["components"]["schemas"]["ProductIn"]["properties"]["tags"]["items"])
    _, token = await api.signup()
    product = await listing(api, token, tags=["İstanbul", "🎸", "#Vintage Bikes"])
    assert sorted(product["tags"]) == sorted(["istanbul", "🎸", "vintage-bikes"])
    for good in ("İstanbul", "🎸", "#Vintage Bikes", " x_y "):
        assert tag.fullmatch(good)
    for bad in ("a--b", "a,b", "x\u200by", "0" * 33):
        refused = await api.call("put", "/v1/users/me/interests", token, json={"tags": [bad]})
        assert refused.status == 422, bad
        assert all(field.startswith("tags") for field in refused.json["errors"]), bad
        assert not (tag.fullmatch(bad) and len(bad) <= 32), bad


async def test_places_out_of_range_are_refused_by_the_pattern_too(api: Api, spec) -> None:
    params = spec["paths"]["/v1/products"]["get"]["parameters"]
    near = _pattern(next(p for p in params if p["name"] == "near")["schema"]["anyOf"][0])
    for good in ("-90,180", " 52.37 , 4.89 ", "0.5,-179.999"):
        assert near.fullmatch(good)
        assert (await api.call("get", f"/v1/products?near={good.strip()}")).status == 200
    for bad in ("90.5,0", "0,180.01", "052,1", "1e3,2"):
        assert not near.fullmatch(bad)
        assert (await api.call("get", f"/v1/products?near={bad}")).status == 422


async def test_whole_numbers_written_as_floats_are_integers(api: Api) -> None:
    """JSON Schema's integer takes 2.0; so does every integer field of every body."""
    _, seller = await api.signup()
    _, buyer = await api.signup()
    product = await listing(api, seller, price={"amount": 2_500.0, "currency": "EUR"})
    assert product["price"]["amount"] == 2_500
    put = await api.call("put", f"/v1/cart/items/{product['id']}", buyer, json={"quantity": 1.0})
    assert put.status == 204, put.text
    half = await api.call("put", f"/v1/cart/items/{product['id']}", buyer, json={"quantity": 1.5})
    assert half.status == 422


async def test_blank_text_and_lookalike_handles_are_refused_as_the_contract_says(
    api: Api, spec
) -> None:
    schemas = spec["components"]["schemas"]
    title = _pattern(schemas["ProductIn"]["properties"]["title"])
    handle = _pattern(schemas["ProfilePatch"]["properties"]["handle"])
    _, token = await api.signup()
    blank = await api.call("post", "/v1/products", token, json={"title": " \u3000 "})
    assert blank.status == 422 and "title" in blank.json["errors"]
    assert not title.fullmatch(" \u3000 ") and title.fullmatch(" Lamp ")
    kelvin = "\u212aelvin"  # the Kelvin sign lowercases to a `k`
    refused = await api.call("patch", "/v1/users/me", token, json={"handle": kelvin})
    assert refused.status == 422 and not handle.fullmatch(kelvin)
    taken = await api.call("patch", "/v1/users/me", token, json={"handle": " Kelvin "})
    assert taken.status == 200 and taken.json["handle"] == "kelvin"


async def test_deal_states_are_an_enum_in_the_contract(api: Api, spec) -> None:
    params = spec["paths"]["/v1/offers"]["get"]["parameters"]
    status = next(p for p in params if p["name"] == "status")["schema"]["anyOf"][0]
    assert "open" in status["anyOf"][0]["enum"]
    _, token = await api.signup()
    assert (await api.call("get", "/v1/offers?status=open", token)).status == 200
    assert (await api.call("get", "/v1/offers?status=_", token)).status == 422


def test_each_refusal_matches_the_reason_the_server_gives() -> None:
    for refusal in refusals.ALL:
        assert refusal.explains(refusal.field, refusal.example), refusal
        assert refusal.status in (400, 409, 422)


async def test_a_refusal_that_depends_on_state_is_declared_where_it_is_given(
    api: Api, spec
) -> None:
    """An offer in KRW is schema-valid, and refused on a listing priced in EUR: the
    operation declares that refusal under its 422, in words and as `x-refusals`."""
    _, seller = await api.signup(display_name="Sella")
    _, buyer = await api.signup(display_name="Bea")
    product = await listing(api, seller)
    url = f"/v1/products/{product['id']}/offers"
    answer = await api.call("post", url, buyer, json={"amount": 100, "currency": "KRW"})
    assert answer.status == 422, answer.text
    assert answer.json["errors"] == {"currency": "must be EUR"}
    declared = spec["paths"]["/v1/products/{product_id}/offers"]["post"]["responses"]["422"]
    assert any(
        refusals.Refusal(**r, example="").explains("currency", "must be EUR")
        for r in declared["x-refusals"]
    )
    assert "the listing's currency" in declared["description"]
    # a list with a cursor declares the cursor's rule without saying so itself
    browse = spec["paths"]["/v1/users/me/saved"]["get"]["responses"]["422"]
    assert [r["field"] for r in browse["x-refusals"]] == ["cursor"]
