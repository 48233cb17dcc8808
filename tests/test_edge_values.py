"""Edge values get a clear 4xx, never a 500: huge numbers in queries, deeply nested JSON,
cursors that carry Infinity or numbers hundreds of digits long (sealed with the server's own
key, as only the server can: a cursor a client makes up is refused before its values are
read)."""

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
