"""Listings through the real app: validation, ownership, transitions, expiry, blocking."""

from __future__ import annotations

from typing import Any

import pytest

from graph.infra.ids import now_ms
from tests.conftest import Api, jpeg_bytes, png_bytes, read


async def image(api: Api, token: str, color: str = "teal") -> str:
    response = await api.call(
        "post", "/v1/images", token, files={"image": ("p.png", png_bytes(color=color), "image/png")}
    )
    assert response.status == 201, response.text
    return response.json["id"]


async def listing(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "Oak dining table",
        "description": "Solid oak, seats six",
        "price": {"amount": 12_500, "currency": "EUR"},
        "condition": "used",
        "location": {"lat": 52.37, "lon": 4.89},
        "tags": ["furniture", "oak"],
        "image_ids": [await image(api, token)],
    } | fields
    response = await api.call("post", "/v1/products", token, json=body)
    assert response.status == 201, response.text
    return response.json


async def test_create_and_read_a_listing(api: Api) -> None:
    seller, token = await api.signup(display_name="Sella")
    first, second = await image(api, token, "red"), await image(api, token, "blue")
    product = await listing(api, token, image_ids=[first, second], tags=[" Vintage ", "#oak"])
    assert product["status"] == "active"
    assert product["price"] == {"amount": 12_500, "currency": "EUR"}
    assert product["tags"] == ["oak", "vintage"]
    assert [i["id"] for i in product["images"]] == [first, second]
    assert product["seller"]["id"] == seller["id"]
    assert product["expires_at"] > product["created_at"]
    fetched = await api.call("get", f"/v1/products/{product['id']}?near=52.37,4.99")
    assert fetched.status == 200
    # measured from the listing's public place: within half a cell's diagonal of the truth
    assert fetched.json["distance_km"] == pytest.approx(6.8, abs=0.75)
    assert fetched.json["images"] == product["images"]


async def test_location_defaults_to_the_sellers_and_is_required_without_one(api: Api) -> None:
    _, token = await api.signup()
    img = await image(api, token)
    body = {"title": "Lamp", "price": {"amount": 500, "currency": "EUR"}, "image_ids": [img]}
    missing = await api.call("post", "/v1/products", token, json=body)
    assert missing.status == 422
    assert "location" in missing.json["errors"]
    await api.call("patch", "/v1/users/me", token, json={"location": {"lat": 48.85, "lon": 2.35}})
    created = await api.call("post", "/v1/products", token, json=body)
    assert created.status == 201
    assert created.json["location"] == {  # near the profile's point, not at it
        "lat": pytest.approx(48.85, abs=0.01),
        "lon": pytest.approx(2.35, abs=0.01),
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"image_ids": []}, "image_ids"),
        ({"image_ids": ["a" * 64] * 6}, "image_ids"),
        ({"price": {"amount": -1, "currency": "EUR"}}, "price.amount"),
        ({"price": {"amount": 100, "currency": "XXX"}}, "price"),
        ({"price": {"amount": 1.5, "currency": "EUR"}}, "price.amount"),
        ({"condition": "like new"}, "condition"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"tags": ["no/slashes"]}, "tags"),
        ({"title": ""}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"quantity": 3}, "quantity"),
        ({"status": "sold"}, "status"),
        ({"location": {"lat": 0, "lon": 181}}, "location.lon"),
    ],
)
async def test_bad_listings_are_422_and_nothing_is_written(
    api: Api, services, change: dict, field: str
) -> None:
    _, token = await api.signup()
    body = {
        "title": "Thing",
        "price": {"amount": 100, "currency": "EUR"},
        "location": {"lat": 52.0, "lon": 4.0},
        "image_ids": [await image(api, token)],
    } | change
    response = await api.call("post", "/v1/products", token, json=body)
    assert response.status == 422, response.text
    assert field in response.json["errors"], response.json
    assert (await read(services, "MATCH (p:Product) RETURN count(p) AS n"))[0]["n"] == 0


async def test_someone_elses_image_is_422(api: Api) -> None:
    _, owner_token = await api.signup()
    theirs = await image(api, owner_token, "purple")
    _, token = await api.signup()
    response = await api.call(
        "post",
        "/v1/products",
        token,
        json={
            "title": "Not mine",
            "price": {"amount": 100, "currency": "EUR"},
            "location": {"lat": 52.0, "lon": 4.0},
            "image_ids": [theirs],
        },
    )
    assert response.status == 422
    assert "image_ids" in response.json["errors"]


async def test_only_the_owner_changes_or_deletes(api: Api) -> None:
    _, owner = await api.signup()
    product = await listing(api, owner)
    _, other = await api.signup()
    url = f"/v1/products/{product['id']}"
    assert (await api.call("patch", url, other, json={"title": "Mine now"})).status == 403
    assert (await api.call("delete", url, other)).status == 403
    assert (await api.call("post", url + "/renew", other)).status == 403
    assert (await api.call("patch", url, json={"title": "Anon"})).status == 401
    assert (await api.call("get", url)).json["title"] == "Oak dining table"
    assert (await api.call("patch", "/v1/products/nope", owner, json={"title": "x"})).status == 404


async def test_patch_changes_fields_tags_and_images(api: Api, services) -> None:
    _, token = await api.signup()
    product = await listing(api, token)
    new_image = await image(api, token, "yellow")
    response = await api.call(
        "patch",
        f"/v1/products/{product['id']}",
        token,
        json={
            "title": "Oak table",
            "price": {"amount": 9_900, "currency": "EUR"},
            "tags": ["tables"],
            "image_ids": [new_image],
            "local_pickup": False,
            "shipping": {"ships": True},
        },
    )
    assert response.status == 200, response.text
    changed = response.json
    assert (changed["title"], changed["price"]["amount"]) == ("Oak table", 9_900)
    assert changed["tags"] == ["tables"]
    assert [i["id"] for i in changed["images"]] == [new_image]
    assert changed["description"] == product["description"]  # untouched
    events = await read(
        services,
        "MATCH (e:Event {subject_id: $id}) RETURN e.type AS t ORDER BY e.at",
        id=product["id"],
    )
    assert [e["t"] for e in events] == ["product.created", "product.updated"]


async def test_status_moves_only_along_allowed_transitions(api: Api) -> None:
    _, token = await api.signup()
    product = await listing(api, token)
    url = f"/v1/products/{product['id']}"
    steps = [("reserved", 200), ("active", 200), ("sold", 200), ("active", 409), ("reserved", 409)]
    for status, expected in steps:
        response = await api.call("patch", url, token, json={"status": status})
        assert response.status == expected, (status, response.text)
    assert (await api.call("post", url + "/renew", token)).status == 409
    assert (await api.call("patch", url, token, json={"title": "Changed after sale"})).status == 409


async def test_delete_is_soft_and_hides_the_listing(api: Api, services) -> None:
    _, token = await api.signup()
    product = await listing(api, token)
    url = f"/v1/products/{product['id']}"
    assert (await api.call("delete", url, token)).status == 204
    assert (await api.call("get", url)).status == 404
    assert (await api.call("get", url, token)).status == 404
    assert (await api.call("delete", url, token)).status == 404
    rows = await read(
        services, "MATCH (p:Product {id: $id}) RETURN p.status AS s", id=product["id"]
    )
    assert rows == [{"s": "deleted"}]


async def test_shops_list_quantities(api: Api) -> None:
    _, token = await api.signup(kind="business", shop_name="Bike Shed")
    product = await listing(api, token, quantity=12)
    assert product["quantity"] == 12
    assert product["seller"]["shop_name"] == "Bike Shed"


async def test_expired_listings_leave_browse_and_return_on_renew(api: Api, services) -> None:
    _, token = await api.signup()
    product = await listing(api, token, title="Expiring lamp")
    await listing(api, token, title="Staying chair")

    async def titles() -> list[str]:
        response = await api.call("get", "/v1/products")
        return sorted(p["title"] for p in response.json["items"])

    assert await titles() == ["Expiring lamp", "Staying chair"]
    await services.store.run_text(
        "MATCH (p:Product {id: $id}) SET p.expires_at = $past RETURN p.id",
        {"id": product["id"], "past": now_ms() - 1000},
        write=True,
    )
    await services.cache.bump("catalog")  # as every write through the services does
    assert await titles() == ["Staying chair"]  # gone before any sweep
    report = await services.jobs.run_once()
    assert report.expired == 1
    url = f"/v1/products/{product['id']}"
    assert (await api.call("get", url)).status == 404  # expired: only its seller sees it
    mine = await api.call("get", url, token)
    assert mine.json["status"] == "expired"
    renewed = await api.call("post", url + "/renew", token)
    assert renewed.status == 200
    assert renewed.json["status"] == "active"
    assert renewed.json["hype"] == product["hype"]
    assert await titles() == ["Expiring lamp", "Staying chair"]


async def test_purge_removes_old_listings_and_unreferenced_images(api: Api, services) -> None:
    _, token = await api.signup()
    product = await listing(api, token, image_ids=[await image(api, token, "olive")])
    kept = await listing(api, token, title="Kept")
    image_id = product["images"][0]["id"]
    assert image_id != kept["images"][0]["id"]
    await api.call("delete", f"/v1/products/{product['id']}", token)
    long_ago = now_ms() - 365 * 86_400_000
    await services.store.run_text(
        "MATCH (p:Product {id: $id}) SET p.deleted_at = $t WITH p "
        "MATCH (p)-[:HAS_IMAGE]->(i:Image) SET i.created_at = $t RETURN p.id",
        {"id": product["id"], "t": long_ago},
        write=True,
    )
    assert services.blobs.get(image_id) is not None
    report = await services.jobs.run_once()
    assert (report.purged_products, report.purged_images) == (1, 1)
    assert services.blobs.get(image_id) is None
    assert services.blobs.get(image_id + ".thumb") is None
    assert (await api.call("get", f"/v1/products/{kept['id']}")).status == 200
    assert services.blobs.get(kept["images"][0]["id"]) is not None
    again = await services.jobs.run_once()
    assert (again.purged_products, again.purged_images) == (0, 0)


async def test_blocking_hides_listings_and_profiles_both_ways(api: Api) -> None:
    seller, seller_token = await api.signup()
    product = await listing(api, seller_token)
    buyer, buyer_token = await api.signup()
    assert (await api.call("post", f"/v1/users/{seller['id']}/block", buyer_token)).status == 204
    for token in (buyer_token,):
        assert (await api.call("get", f"/v1/products/{product['id']}", token)).status == 404
        assert (await api.call("get", "/v1/products", token)).json["items"] == []
        assert (await api.call("get", f"/v1/users/{seller['id']}", token)).status == 404
    # the blocked seller no longer sees the buyer either
    assert (await api.call("get", f"/v1/users/{buyer['id']}", seller_token)).status == 404
    # others still see everything
    assert len((await api.call("get", "/v1/products")).json["items"]) == 1
    blocked = await api.call("get", "/v1/users/me/blocked", buyer_token)
    assert [b["id"] for b in blocked.json["items"]] == [seller["id"]]
    assert (await api.call("delete", f"/v1/users/{seller['id']}/block", buyer_token)).status == 204
    assert (await api.call("get", f"/v1/products/{product['id']}", buyer_token)).status == 200
    assert (await api.call("post", f"/v1/users/{buyer['id']}/block", buyer_token)).status == 422


async def test_tags_autocomplete_counts_active_listings(api: Api) -> None:
    _, token = await api.signup()
    await listing(api, token, tags=["vinyl", "vintage"])
    await listing(api, token, tags=["vintage"])
    gone = await listing(api, token, tags=["vinyl-rare"])
    await api.call("delete", f"/v1/products/{gone['id']}", token)
    response = await api.call("get", "/v1/tags?prefix=VI")
    assert response.json["items"] == [
        {"name": "vintage", "products": 2},
        {"name": "vinyl", "products": 1},
    ]


async def test_a_sellers_listings_page(api: Api) -> None:
    seller, token = await api.signup()
    for n in range(3):
        await listing(api, token, title=f"Item {n}")
    _, other = await api.signup()
    await listing(api, other, title="Not theirs")
    response = await api.call("get", f"/v1/users/{seller['id']}/products?limit=2")
    assert [p["title"] for p in response.json["items"]] == ["Item 2", "Item 1"]
    rest = await api.call(
        "get", f"/v1/users/{seller['id']}/products?limit=2&cursor=" + response.json["next_cursor"]
    )
    assert [p["title"] for p in rest.json["items"]] == ["Item 0"]
    assert rest.json["next_cursor"] is None


async def test_bad_browse_parameters_are_422(api: Api) -> None:
    for query in (
        "near=91,0",
        "near=abc",
        "radius_km=0",
        "radius_km=501",
        "sort=random",
        "sort=distance",
        "limit=0",
        "limit=101",
        "min_price=-1",
        "cursor=%%%",
        "min_price=10&max_price=5",
        "q=%20%20",
        "unknown=1",
        "tags=a/b",
    ):
        response = await api.call("get", f"/v1/products?{query}")
        assert response.status == 422, (query, response.text)


async def test_a_jpeg_upload_works_as_a_listing_photo(api: Api) -> None:
    _, token = await api.signup()
    response = await api.call(
        "post",
        "/v1/images",
        token,
        files={"image": ("p.jpg", jpeg_bytes((900, 900)), "image/jpeg")},
    )
    product = await listing(api, token, image_ids=[response.json["id"]])
    assert product["images"][0]["width"] == 900


async def test_browse_pages_are_cached_until_the_catalog_changes(api: Api, services) -> None:
    _, token = await api.signup()
    first = await listing(api, token, title="First")
    assert [p["title"] for p in (await api.call("get", "/v1/products")).json["items"]] == ["First"]
    # a change behind the services' back is not seen: the page comes from the cache
    await services.store.run_text(
        "MATCH (p:Product {id: $id}) SET p.title = 'Renamed' RETURN p.id",
        {"id": first["id"]},
        write=True,
    )
    assert [p["title"] for p in (await api.call("get", "/v1/products")).json["items"]] == ["First"]
    # any change through the services invalidates every cached page
    await listing(api, token, title="Second")
    titles = [p["title"] for p in (await api.call("get", "/v1/products")).json["items"]]
    assert titles == ["Second", "Renamed"]


async def test_listing_responses_match_the_documented_schema(api: Api) -> None:
    from api.routes.products_models import ProductOut, ProductPage

    _, token = await api.signup(kind="business", shop_name="Schema Shop")
    product = await listing(api, token)
    assert ProductOut.model_validate(product).model_dump(mode="json") == product
    page = (await api.call("get", "/v1/products?near=52.37,4.89")).json
    assert ProductPage.model_validate(page).model_dump(mode="json") == page
