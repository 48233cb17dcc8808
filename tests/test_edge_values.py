"""Edge values get a clear 4xx, never a 500: huge numbers in queries, deeply nested JSON,
cursors that carry Infinity or numbers hundreds of digits long (sealed with the server's own
key, as only the server can: a cursor a client makes up is refused before its values are
read)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from tests.conftest import Api, png_bytes


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        "min_price=100000000000000000000",
        "max_price=100000000000000000000",
        "min_price=-1",
        "radius_km=1e400&near=52.37,4.89",
        "limit=100000000000000000000",
        "near=1e400,4.89",
    ],
)
async def test_huge_numbers_in_a_browse_query_are_422(api: Api, query: str) -> None:
    response = await api.call("get", f"/v1/products?{query}")
    assert response.status == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "raw",
    [
        '["newest", Infinity, "01abc"]',
        '["newest", -Infinity, "01abc"]',
        '["newest", NaN, "01abc"]',
        '["newest", 1' + "0" * 370 + ', "01abc"]',
        '["price_asc", 1e400, "01abc"]',
        '["newest", 1700000000000, "' + "x" * 500 + '"]',
    ],
)
async def test_cursors_with_impossible_values_are_422(api: Api, raw: str) -> None:
    payload = json.loads(raw)  # Python's json reads Infinity, NaN and 1e400 (as infinity)
    await api.start()
    sealed = api.app.ctx.services.cursors._seal(payload)
    response = await api.call("get", f"/v1/products?sort={payload[0]}&cursor={sealed}")
    assert response.status == 422, response.text
    assert "cursor" in response.json["errors"]  # malformed, or longer than a cursor may be


async def test_a_cursor_a_client_writes_is_refused(api: Api) -> None:
    """What cursors held before they were sealed: a sort, a value, an id, in base64."""
    written = cursor('["price_asc", 1, "x"]')
    response = await api.call("get", f"/v1/products?sort=price_asc&cursor={written}")
    assert response.status == 422, response.text
    assert response.json["errors"] == {"cursor": "malformed"}


async def test_deeply_nested_json_is_a_400(api: Api) -> None:
    _, token = await api.signup()
    body = "[" * 30_000 + "]" * 30_000
    for method, url in (("post", "/v1/products"), ("patch", "/v1/users/me")):
        response = await api.call(
            method, url, token, content=body, headers={"content-type": "application/json"}
        )
        assert response.status == 400, response.text
        assert "JSON" in response.json["detail"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


JSON = {"content-type": "application/json"}


def assert_refused_structure(response: Any, limit: str) -> None:
    assert response.status == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert limit in response.json["detail"], response.json


@pytest.mark.parametrize("depth", [400, 2000])
@pytest.mark.parametrize("body", [nested, nested_object])
async def test_json_nested_past_the_limit_is_a_400_before_login(
    api: Api, depth: int, body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """What a 500 was (the NUL scan recursed), with a traceback per request in the log."""
    caplog.set_level(logging.DEBUG)
    for url in ("/v1/auth/signup", "/v1/auth/login", "/v1/auth/password/reset"):
        response = await api.call("post", url, content=body(depth), headers=JSON)
        assert_refused_structure(response, "nested deeper than 32")
    logged = [r for r in caplog.records if r.name.startswith(("vendr", "sanic"))]
    assert not [r for r in logged if r.exc_info or "Traceback" in r.getMessage()]


@pytest.mark.parametrize("depth", [33, 400, 2000])
async def test_json_nested_past_the_limit_is_a_400_on_authenticated_routes(
    api: Api, depth: int
) -> None:
    _, token = await api.signup()
    for method, url in (
        ("post", "/v1/products"),
        ("patch", "/v1/users/me"),
        ("patch", "/v1/users/me/notifications"),
    ):
        inner = nested_object(depth - 1)
        response = await api.call(method, url, token, content=f'{{"bio": {inner}}}', headers=JSON)
        assert_refused_structure(response, "nested deeper than 32")


async def test_json_as_deep_as_the_limit_reaches_the_model(api: Api) -> None:
    """32 levels pass the edge; the model then says what is wrong with the field."""
    _, token = await api.signup()
    body = f'{{"bio": {nested_object(31)}}}'
    response = await api.call("patch", "/v1/users/me", token, content=body, headers=JSON)
    assert response.status == 422, response.text
    assert "bio" in response.json["errors"]


async def test_wide_arrays_and_objects_are_refused(api: Api) -> None:
    _, token = await api.signup()
    wide_array = json.dumps({"product_ids": ["p"] * 1001, "name": "x"})
    response = await api.call("post", "/v1/collections", token, content=wide_array, headers=JSON)
    assert_refused_structure(response, "more than 1000 items")
    wide_object = json.dumps({f"k{n}": 1 for n in range(101)})
    response = await api.call("patch", "/v1/users/me", token, content=wide_object, headers=JSON)
    assert_refused_structure(response, "more than 100 members")
    # many small containers: each within its limits, too many values together
    many = json.dumps({"swipes": [[[0] * 9] * 999, [[0] * 9] * 200]})
    response = await api.call("post", "/v1/feed/swipes", token, content=many, headers=JSON)
    assert_refused_structure(response, "more than 10000 values")


async def test_the_largest_legit_bodies_pass_the_edge(api: Api) -> None:
    _, token = await api.signup(kind="business", shop_name="Big Shop")
    ids = [f"p{n:04d}" for n in range(200)]  # a collection's most
    response = await api.call(
        "post", "/v1/collections", token, json={"name": "Everything", "product_ids": ids}
    )
    # past the edge and the model: the service says the listings are not the shop's own
    assert response.status == 422, response.text
    assert "not your listing" in response.json["errors"]["product_ids"]
    # a listing with every field at its most: created
    images = []
    for color in ("red", "blue", "green", "navy", "teal"):
        upload = await api.call(
            "post",
            "/v1/images",
            token,
            files={"image": ("p.png", png_bytes(color=color), "image/png")},
        )
        images.append(upload.json["id"])
    product = {
        "title": "T" * 120,
        "description": "D" * 5000,
        "price": {"amount": 12_500, "currency": "EUR"},
        "condition": "used",
        "local_pickup": False,
        "shipping": {"ships": True, "price": {"amount": 500, "currency": "EUR"}},
        "location": {"lat": 52.37, "lon": 4.89},
        "tags": [f"tag{n}" for n in range(10)],
        "image_ids": images,
        "quantity": 100_000,
    }
    response = await api.call("post", "/v1/products", token, json=product)
    assert response.status == 201, response.text
    assert len(response.json["tags"]) == 10
    swipes = {"swipes": [{"product_id": f"p{n}", "dir": "left"} for n in range(50)]}
    response = await api.call("post", "/v1/feed/swipes", token, json=swipes)
    assert response.status == 200, response.text
    assert len(response.json["items"]) == 50


async def test_nul_bytes_are_still_refused_deep_in_a_body(api: Api) -> None:
    _, token = await api.signup()
    body = {"bio": "ok", "location": {"lat": 1, "lon": 2}, "x": [[["a\x00"]]]}
    response = await api.call("patch", "/v1/users/me", token, json=body)
    assert response.status == 422, response.text
    assert response.json["errors"] == {"body": "NUL byte"}


async def test_the_query_string_has_the_same_limits(api: Api) -> None:
    """A 422, as any query a model refuses: that is what query operations declare."""
    query = "&".join(f"k{n}=1" for n in range(101))
    response = await api.call("get", f"/v1/products?{query}")
    assert response.status == 422, response.text
    assert response.json["detail"] == "an object in the query has more than 100 members"
    tags = ",".join(f"t{n}" for n in range(1001))
    response = await api.call("get", f"/v1/products?tags={tags}")
    assert response.status == 422, response.text
    assert response.json["detail"] == "an array in the query has more than 1000 items"
