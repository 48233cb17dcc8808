"""Security and caching headers: nosniff and no referrer on every answer, a content policy and
no framing on the docs page, no-store where a token or a code is involved, caching rules kept
where an answer is meant to be cached."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, png_bytes


def assert_hardened(response: Any) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.headers
    assert response.headers["referrer-policy"] == "no-referrer"


async def listed(api: Api) -> tuple[str, str, dict[str, Any]]:
    """A seller's token, an image id and a listing of theirs showing it."""
    _, token = await api.signup()
    upload = await api.call(
        "post", "/v1/images", token, files={"image": ("p.png", png_bytes(), "image/png")}
    )
    assert upload.status == 201, upload.text
    image_id = upload.json["id"]
    body = {
        "title": "Oak table",
        "price": {"amount": 12_500, "currency": "EUR"},
        "location": {"lat": 52.37, "lon": 4.89},
        "image_ids": [image_id],
    }
    product = await api.call("post", "/v1/products", token, json=body)
    assert product.status == 201, product.text
    return token, image_id, product.json


async def test_every_kind_of_answer_says_nosniff(api: Api) -> None:
    token, image_id, product = await listed(api)
    answers = {
        "json": await api.call("get", f"/v1/products/{product['id']}"),
        "problem": await api.call("get", "/v1/users/me"),  # 401, no token
        "404": await api.call("get", "/v1/nowhere"),
        "refused in middleware": await api.call("get", "/v1/users/a%00b"),
        "image": await api.call("get", f"/v1/images/{image_id}"),
        "docs": await api.call("get", "/docs/"),
        "openapi": await api.call("get", "/docs/openapi.json"),
        "no body": await api.call("post", f"/v1/products/{product['id']}/renew", token),
    }
    expected = {
        "json": (200, "application/json"),
        "problem": (401, "application/problem+json"),
        "404": (404, "application/problem+json"),
        "refused in middleware": (422, "application/problem+json"),
        "image": (200, "image/jpeg"),
        "docs": (200, "text/html"),
        "openapi": (200, "application/json"),
    }
    for kind, response in answers.items():
        assert_hardened(response)
        if kind in expected:
            status, media = expected[kind]
            assert response.status == status, (kind, response.text)
            assert response.headers["content-type"].startswith(media), kind


async def test_the_docs_page_allows_what_it_loads_and_no_framing(api: Api) -> None:
    response = await api.call("get", "/docs/")
    assert response.status == 200
    directives = response.headers["content-security-policy"].split("; ")
    policy = {name: value for name, _, value in (d.partition(" ") for d in directives)}
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    # the one script the page loads is from the origin the policy names, and only that
    assert 'src="https://cdn.redoc.ly/' in response.text
    assert policy["script-src"] == "https://cdn.redoc.ly"
    assert policy["connect-src"] == "'self'"  # the document it reads: /docs/openapi.json
    assert 'spec-url="/docs/openapi.json"' in response.text
    # JSON answers are not pages: no policy to carry
    spec = await api.call("get", "/docs/openapi.json")
    assert "content-security-policy" not in spec.headers


async def test_answers_to_a_token_are_not_stored(api: Api) -> None:
    token, _, product = await listed(api)
    for url in ("/v1/users/me", f"/v1/products/{product['id']}", "/v1/nowhere"):
        response = await api.call("get", url, token)
        assert response.headers["cache-control"] == "no-store", url
    # a stale token's 401 too
    response = await api.call("get", f"/v1/products/{product['id']}", "stale-token")
    assert response.status == 401
    assert response.headers["cache-control"] == "no-store"


async def test_login_signup_and_reset_are_not_stored(api: Api) -> None:
    user, _ = await api.signup(email="keep@example.org")
    login = await api.call(
        "post",
        "/v1/auth/login",
        json={"email": "keep@example.org", "password": "correct horse battery"},
    )
    assert login.status == 200, login.text
    assert login.headers["cache-control"] == "no-store"
    wrong = await api.call(
        "post", "/v1/auth/login", json={"email": "keep@example.org", "password": "wrong one"}
    )
    assert wrong.status == 401
    assert wrong.headers["cache-control"] == "no-store"
    signup = await api.call(
        "post",
        "/v1/auth/signup",
        json={"email": "new@example.org", "password": "long enough pw", "display_name": "N"},
    )
    assert signup.status == 201, signup.text
    assert signup.headers["cache-control"] == "no-store"
    reset = await api.call("post", "/v1/auth/password/reset", json={"email": "keep@example.org"})
    assert reset.status == 202, reset.text
    assert reset.headers["cache-control"] == "no-store"
    assert user["id"]


async def test_an_anonymous_listing_keeps_its_caching_and_varies_on_the_token(api: Api) -> None:
    """Public catalogue reads had no caching rule and have none now; a cache that keeps one
    must not hand it to a caller with a token, who may be answered otherwise (the seller)."""
    _, _, product = await listed(api)
    for url in (
        f"/v1/products/{product['id']}",
        "/v1/products",
        f"/v1/users/{product['seller']['id']}",
    ):
        response = await api.call("get", url)
        assert response.status == 200, response.text
        assert "cache-control" not in response.headers, url
        # browse pages and listings carry the ETag of their bytes (a 304 on If-None-Match)
        assert ("etag" in response.headers) == url.startswith("/v1/products"), url
        vary = [v.strip().lower() for v in response.headers["vary"].split(",")]
        assert "authorization" in vary, url


async def test_images_stay_public_and_immutable_with_or_without_a_token(api: Api) -> None:
    """Content-addressed: the same bytes for everyone, forever."""
    token, image_id, _ = await listed(api)
    for who in (None, token):
        response = await api.call("get", f"/v1/images/{image_id}?size=thumb", who)
        assert response.status == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["etag"] == f'"{image_id}"'
        assert_hardened(response)
