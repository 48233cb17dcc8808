"""The cart (one order per seller, every line or none) and shop collections, through the app."""

from __future__ import annotations

from tests.conftest import Api, read
from tests.test_catalog_api import listing
from tests.test_deals_api import stock


async def shop(api: Api, name: str) -> str:
    _, token = await api.signup(display_name=name, kind="business", shop_name=name)
    return token


async def put(api: Api, token: str, product_id: str, quantity: int) -> int:
    url = f"/v1/cart/items/{product_id}"
    return (await api.call("put", url, token, json={"quantity": quantity})).status


async def test_checkout_makes_one_order_per_seller_and_empties_the_cart(api: Api, services) -> None:
    first, second = await shop(api, "Alpha"), await shop(api, "Beta")
    a1 = await listing(api, first, quantity=5)
    a2 = await listing(api, first, quantity=2, price={"amount": 500, "currency": "EUR"})
    b1 = await listing(api, second, quantity=1, price={"amount": 900, "currency": "EUR"})
    _, buyer = await api.signup(display_name="Buyer")
    assert await put(api, buyer, a1["id"], 1) == 204
    assert await put(api, buyer, a1["id"], 2) == 204  # changes the quantity
    assert await put(api, buyer, a2["id"], 2) == 204
    assert await put(api, buyer, b1["id"], 1) == 204
    cart = (await api.call("get", "/v1/cart", buyer)).json
    assert [(line["product_id"], line["quantity"]) for line in cart["items"]] == [
        (a1["id"], 2),
        (a2["id"], 2),
        (b1["id"], 1),
    ]
    assert cart["ready"] and cart["totals"] == [
        {"amount": 2 * 12_500 + 1000 + 900, "currency": "EUR"}
    ]
    done = await api.call("post", "/v1/cart/checkout", buyer)
    assert done.status == 201, done.text
    amounts = sorted(o["amount"]["amount"] for o in done.json["orders"])
    assert amounts == [900, 26_000]
    assert (await api.call("get", "/v1/cart", buyer)).json["items"] == []
    assert await stock(api, a1["id"], first) == (3, "active")
    assert await stock(api, a2["id"], first) == (0, "reserved")
    assert await stock(api, b1["id"], second) == (0, "reserved")
    lines = await read(services, "MATCH (:Order)-[l:OF]->(:Product) RETURN count(l) AS n")
    assert lines[0]["n"] == 3
    again = await api.call("post", "/v1/cart/checkout", buyer)
    assert again.status == 409


async def test_a_line_that_ran_short_is_named_and_nothing_is_reserved(api: Api, services) -> None:
    seller = await shop(api, "Gamma")
    plenty = await listing(api, seller, quantity=10)
    scarce = await listing(api, seller, quantity=2)
    _, buyer = await api.signup(display_name="Buyer")
    _, rival = await api.signup(display_name="Rival")
    await put(api, buyer, plenty["id"], 3)
    await put(api, buyer, scarce["id"], 2)
    rival_order = await api.call(
        "post", f"/v1/products/{scarce['id']}/orders", rival, json={"quantity": 1}
    )
    assert rival_order.status == 201
    cart = (await api.call("get", "/v1/cart", buyer)).json
    assert not cart["ready"]
    refused = await api.call("post", "/v1/cart/checkout", buyer)
    assert refused.status == 409
    assert refused.json["lines"] == [
        {
            "product_id": scarce["id"],
            "quantity": 2,
            "problem": "short",
            "detail": "only 1 left",
            "available": 1,
        }
    ]
    assert await stock(api, plenty["id"], seller) == (10, "active")  # none of it taken
    orders = await read(services, "MATCH (o:Order) RETURN count(o) AS n")
    assert orders[0]["n"] == 1  # the rival's only


async def test_cart_refusals(api: Api) -> None:
    seller = await shop(api, "Delta")
    product = await listing(api, seller)
    _, buyer = await api.signup(display_name="Buyer")
    assert await put(api, seller, product["id"], 1) == 422  # your own listing
    assert await put(api, buyer, "missing", 1) == 404
    assert await put(api, buyer, product["id"], 0) == 422
    empty = await api.call("post", "/v1/cart/checkout", buyer)
    assert empty.status == 409
    assert await put(api, buyer, product["id"], 1) == 204
    removed = await api.call("delete", f"/v1/cart/items/{product['id']}", buyer)
    assert removed.status == 204
    assert (await api.call("get", "/v1/cart", buyer)).json["items"] == []


async def test_collections_are_made_renamed_reordered_and_shown(api: Api) -> None:
    seller = await shop(api, "Epsilon")
    me = (await api.call("get", "/v1/users/me", seller)).json
    items = [await listing(api, seller, title=f"Bike {n}") for n in range(3)]
    ids = [p["id"] for p in items]
    made = await api.call(
        "post", "/v1/collections", seller, json={"name": "Summer", "product_ids": ids[:2]}
    )
    assert made.status == 201, made.text
    cid = made.json["id"]
    assert [p["id"] for p in made.json["items"]] == ids[:2]
    changed = await api.call(
        "patch",
        f"/v1/collections/{cid}",
        seller,
        json={"name": "Summer bikes", "product_ids": [ids[2], ids[0]]},
    )
    assert changed.json["name"] == "Summer bikes"
    assert [p["id"] for p in changed.json["items"]] == [ids[2], ids[0]]
    page = (await api.call("get", f"/v1/collections/{cid}")).json  # anyone may look
    assert [p["title"] for p in page["items"]] == ["Bike 2", "Bike 0"]
    shelf = (await api.call("get", f"/v1/users/{me['id']}/collections")).json["items"]
    assert [(c["name"], c["active"]) for c in shelf] == [("Summer bikes", 2)]
    assert shelf[0]["cover_url"]
    renamed_only = await api.call("patch", f"/v1/collections/{cid}", seller, json={"name": "Bikes"})
    assert len(renamed_only.json["items"]) == 2  # listings untouched
    assert (await api.call("delete", f"/v1/collections/{cid}", seller)).status == 204
    assert (await api.call("get", f"/v1/collections/{cid}")).status == 404


async def test_collections_refuse_persons_strangers_and_other_listings(api: Api) -> None:
    seller = await shop(api, "Zeta")
    theirs = await listing(api, seller)
    _, person = await api.signup(display_name="Person")
    refused = await api.call("post", "/v1/collections", person, json={"name": "Mine"})
    assert refused.status == 403
    other = await shop(api, "Eta")
    stolen = await api.call(
        "post", "/v1/collections", other, json={"name": "X", "product_ids": [theirs["id"]]}
    )
    assert stolen.status == 422
    made = (await api.call("post", "/v1/collections", seller, json={"name": "Ok"})).json
    url = f"/v1/collections/{made['id']}"
    assert (await api.call("patch", url, other, json={"name": "Mine now"})).status == 404
    assert (await api.call("delete", url, other)).status == 404
    assert (await api.call("post", "/v1/collections", seller, json={"name": ""})).status == 422
