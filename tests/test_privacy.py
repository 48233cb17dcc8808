"""Where a listing is shown (issue 15, finding 1): never the seller's exact home. Listings are
shown at the centre of a ~1 km grid cell and distances are measured from that centre, so
asking from many places finds the centre and nothing finer; `show_city: false` hides the
place altogether; the exact point still answers radius queries."""

from __future__ import annotations

import math

from graph.infra.geo import haversine_m, public_place
from tests.conftest import Api
from tests.test_catalog_api import listing

HOME = {"lat": 51.2194, "lon": 4.4025}  # the seller's front door, in Antwerp


async def seller_at_home(api: Api, **profile: object) -> str:
    _, token = await api.signup(display_name="Seller")
    patch = {"location": HOME} | profile
    assert (await api.call("patch", "/v1/users/me", token, json=patch)).status == 200
    return token


async def test_a_listing_never_shows_the_sellers_home(api: Api) -> None:
    token = await seller_at_home(api)
    product = await listing(api, token, location=None)  # placed at the profile's point
    shown = (await api.call("get", f"/v1/products/{product['id']}")).json["location"]
    centre = public_place(HOME["lat"], HOME["lon"])
    assert (shown["lat"], shown["lon"]) == centre
    off = haversine_m(shown["lat"], shown["lon"], HOME["lat"], HOME["lon"])
    assert 0 < off < 1000 / math.sqrt(2)  # somewhere in the cell, never the point itself


async def test_distances_from_anywhere_lead_to_the_cell_not_the_home(api: Api) -> None:
    token = await seller_at_home(api)
    product = await listing(api, token, location=None)
    centre = public_place(HOME["lat"], HOME["lon"])
    for lat, lon in ((51.2194, 4.4125), (51.2294, 4.4025), (51.20, 4.38), (51.2195, 4.4026)):
        got = await api.call("get", f"/v1/products/{product['id']}?near={lat},{lon}")
        expected = round(haversine_m(centre[0], centre[1], lat, lon) / 1000, 1)
        assert got.json["distance_km"] == expected, (lat, lon)
    # the same in browse
    page = await api.call("get", "/v1/products?near=51.2194,4.4125&sort=distance")
    [item] = page.json["items"]
    assert item["distance_km"] == round(haversine_m(*centre, 51.2194, 4.4125) / 1000, 1)


async def test_neighbours_in_one_cell_look_alike(api: Api) -> None:
    centre = public_place(HOME["lat"], HOME["lon"])
    token = await seller_at_home(api)
    near_a = {"lat": centre[0] + 0.001, "lon": centre[1] - 0.001}
    near_b = {"lat": centre[0] - 0.002, "lon": centre[1] + 0.002}
    a = await listing(api, token, location=near_a)
    b = await listing(api, token, location=near_b)
    assert a["location"] == b["location"] == {"lat": centre[0], "lon": centre[1]}


async def test_show_city_false_hides_the_place_but_radius_search_still_finds_it(
    api: Api,
) -> None:
    token = await seller_at_home(api, show_city=False)
    product = await listing(api, token, location=None)
    got = await api.call("get", f"/v1/products/{product['id']}?near=51.2194,4.4125")
    assert got.json["location"] is None and got.json["distance_km"] is not None
    # the exact point answers radius queries: 0.7 km from home, inside a 1 km radius
    inside = await api.call("get", "/v1/products?near=51.2194,4.4125&radius_km=1")
    assert [p["id"] for p in inside.json["items"]] == [product["id"]]
    outside = await api.call("get", "/v1/products?near=51.2194,4.4325&radius_km=1")
    assert outside.json["items"] == []
