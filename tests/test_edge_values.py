"""Edge values get a clear 4xx, never a 500: huge numbers in queries, deeply nested JSON,
cursors that carry Infinity or numbers hundreds of digits long."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import Api


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
    sort = json.loads(raw.replace("Infinity", "0").replace("NaN", "0").replace("1e400", "0"))[0]
    response = await api.call("get", f"/v1/products?sort={sort}&cursor={cursor(raw)}")
    assert response.status == 422, response.text


async def test_deeply_nested_json_is_a_400(api: Api) -> None:
    _, token = await api.signup()
    body = "[" * 30_000 + "]" * 30_000
    for method, url in (("post", "/v1/products"), ("patch", "/v1/users/me")):
        response = await api.call(
            method, url, token, content=body, headers={"content-type": "application/json"}
        )
        assert response.status == 400, response.text
        assert "JSON" in response.json["detail"]
