"""Self-promotion and spam (issue 15, finding 9): no saving your own listing to lift its hype,
right swipes open rooms at the room-opening rate, names without invisible or direction-flipping
characters."""

from __future__ import annotations

import pytest

from tests.conftest import Api, limits_on, read
from tests.test_catalog_api import listing


async def test_a_seller_cannot_save_their_own_listing(api: Api, services) -> None:
    _, seller = await api.signup(display_name="Seller")
    product = await listing(api, seller)
    response = await api.call("put", f"/v1/users/me/saved/{product['id']}", seller)
    assert response.status == 422
    saves = await read(services, "MATCH (:User)-[s:SAVED]->(:Product) RETURN count(s) AS n")
    assert saves[0]["n"] == 0


async def test_right_swipes_open_rooms_at_the_room_opening_rate(api: Api, services) -> None:
    _, seller = await api.signup(display_name="Seller")
    _, buyer = await api.signup(display_name="Buyer")
    products = [await listing(api, seller, title=f"Lamp {n}") for n in range(3)]
    with limits_on(services):  # off elsewhere in the tests; this one is about them
        # spend the buyer's room-opening budget but one (the swipe budget is five times larger)
        user = (await api.call("get", "/v1/users/me", buyer)).json["id"]
        for _ in range(119):
            await services.limiter.hit("write_user", user)
        first = await api.call(
            "post", f"/v1/products/{products[0]['id']}/swipe", buyer, json={"dir": "right"}
        )
        assert first.status == 200, first.text
        second = await api.call(
            "post", f"/v1/products/{products[1]['id']}/swipe", buyer, json={"dir": "right"}
        )
        assert second.status == 429
        left = await api.call(
            "post", f"/v1/products/{products[2]['id']}/swipe", buyer, json={"dir": "left"}
        )
        assert left.status == 200  # passing opens nothing: the swipe rate alone applies


@pytest.mark.parametrize(
    "name",
    [
        "Anna\u202egnp.exe",  # right-to-left override
        "Ann\u200ba",  # zero-width space
        "\u2066Anna\u2069",  # isolates
        "Anna\ufeff",  # zero-width no-break space
        "Ann\u200d\u200da",  # zero-width joiners
    ],
)
async def test_names_refuse_invisible_and_direction_controls(api: Api, name: str) -> None:
    _, token = await api.signup()
    for body in ({"display_name": name}, {"shop_name": name}):
        response = await api.call("patch", "/v1/users/me", token, json=body)
        assert response.status == 422, (body, response.text)
    signup = await api.call(
        "post",
        "/v1/auth/signup",
        json={"email": "x@example.org", "password": "long enough", "display_name": name},
    )
    assert signup.status == 422
