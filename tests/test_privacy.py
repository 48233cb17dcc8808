"""Where a listing is (issue 15, finding 1; issue 40, finding 1): never the seller's exact home,
to anyone but the seller. A listing is public at the centre of a ~1 km grid cell, stored
beside its point, and every distance others meet is measured from that centre: what is shown,
radius filters, pickup reach, distance sorting and its cursors (which are sealed besides). So
no sequence of questions finds more than the centre, which is public anyway; `show_city:
false` hides even that; the seller sees the point they gave."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest

from graph.infra.geo import haversine_m, public_place
from tests.conftest import Api, read
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
    shown = [(await api.call("get", f"/v1/products/{x['id']}")).json["location"] for x in (a, b)]
    assert shown[0] == shown[1] == {"lat": centre[0], "lon": centre[1]}


async def test_show_city_false_hides_the_place_but_radius_search_still_finds_it(
    api: Api,
) -> None:
    token = await seller_at_home(api, show_city=False)
    product = await listing(api, token, location=None)
    got = await api.call("get", f"/v1/products/{product['id']}?near=51.2194,4.4125")
    assert got.json["location"] is None and got.json["distance_km"] is not None
    # the public place answers radius queries: 0.7 km from the cell's centre, inside 1 km
    inside = await api.call("get", "/v1/products?near=51.2194,4.4125&radius_km=1")
    assert [p["id"] for p in inside.json["items"]] == [product["id"]]
    outside = await api.call("get", "/v1/products?near=51.2194,4.4325&radius_km=1")
    assert outside.json["items"] == []


async def test_the_seller_sees_the_point_they_gave(api: Api) -> None:
    token = await seller_at_home(api)
    product = await listing(api, token, location=None)
    # (FalkorDB keeps a point's coordinates in single precision: to a few decimetres)
    assert product["location"] == pytest.approx(HOME, abs=1e-5)  # the answer to creating it
    mine = (await api.call("get", f"/v1/products/{product['id']}", token)).json
    assert mine["location"] == pytest.approx(HOME, abs=1e-5)
    theirs = (await api.call("get", f"/v1/products/{product['id']}")).json
    assert (theirs["location"]["lat"], theirs["location"]["lon"]) == public_place(**HOME)


def _distance_by_bisection(api: Api, product_id: str, lat: float, lon: float) -> Any:
    """What an outsider can learn of the distance from (lat, lon) with radius filters alone:
    halve the radius until it is known to a metre (about twenty questions)."""

    async def found(radius_km: float) -> bool:
        page = await api.call(
            "get", f"/v1/products?near={lat},{lon}&radius_km={radius_km}&limit=100"
        )
        assert page.status == 200, page.text
        return product_id in {p["id"] for p in page.json["items"]}

    async def bisect() -> float:
        low, high = 0.0, 20.0  # km
        assert await found(high)
        while high - low > 0.001:
            middle = (low + high) / 2
            low, high = (low, middle) if await found(middle) else (middle, high)
        return high * 1000.0

    return bisect()


def _trilaterate(points: list[tuple[float, float, float]]) -> tuple[float, float]:
    """The place whose distances to each (lat, lon) are the measured ones (metres), by least
    squares on a local plane: what an attacker would compute."""
    lat0, lon0 = points[0][0], points[0][1]
    k = math.cos(math.radians(lat0))
    xy = [((lon - lon0) * k * 111_320.0, (lat - lat0) * 111_320.0, d) for lat, lon, d in points]
    (x1, y1, d1), rest = xy[0], xy[1:]
    a = [(2 * (x - x1), 2 * (y - y1)) for x, y, _ in rest]
    b = [d1**2 - d**2 + x**2 - x1**2 + y**2 - y1**2 for x, y, d in rest]
    # the normal equations of a two-unknown least-squares fit
    s11 = sum(r[0] * r[0] for r in a)
    s12 = sum(r[0] * r[1] for r in a)
    s22 = sum(r[1] * r[1] for r in a)
    t1 = sum(r[0] * v for r, v in zip(a, b, strict=True))
    t2 = sum(r[1] * v for r, v in zip(a, b, strict=True))
    det = s11 * s22 - s12 * s12
    x, y = (t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det
    return lat0 + y / 111_320.0, lon0 + x / (k * 111_320.0)


async def test_an_outsider_bisecting_radii_from_three_places_finds_the_cell_not_the_home(
    api: Api,
) -> None:
    """The attack the tester ran (0.03 m from the stored point, before): radius filters
    bisected from three places, then trilaterated. Now it lands on the cell's centre."""
    token = await seller_at_home(api)
    product = await listing(api, token, location=None)
    centre = public_place(**HOME)
    home_off = haversine_m(*centre, HOME["lat"], HOME["lon"])
    assert home_off > 100  # the home is well away from the centre: a real test
    spots = [(51.2394, 4.4025), (51.2094, 4.4425), (51.2094, 4.3625)]
    measured = [
        (lat, lon, await _distance_by_bisection(api, product["id"], lat, lon)) for lat, lon in spots
    ]
    found = _trilaterate(measured)
    assert haversine_m(*found, *centre) < 10  # the public centre, found to metres
    assert haversine_m(*found, HOME["lat"], HOME["lon"]) > home_off - 10  # and no nearer home


async def test_distance_cursors_are_sealed(api: Api) -> None:
    """The cursor of a page sorted by distance told the distance from the stored point in
    plain base64; now nothing in it reads."""
    token = await seller_at_home(api)
    for _ in range(3):
        await listing(api, token, location=None)
    page = await api.call("get", "/v1/products?near=51.2394,4.4025&sort=distance&limit=2")
    cursor = page.json["next_cursor"]
    assert cursor
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"distance" not in raw  # it was ["distance", metres, id] in plain base64
    with pytest.raises(ValueError):
        json.loads(raw)
    more = await api.call("get", f"/v1/products?near=51.2394,4.4025&sort=distance&cursor={cursor}")
    assert more.status == 200 and len(more.json["items"]) == 1


async def test_a_listing_from_before_places_were_stored_gets_one_from_the_sweeper(
    api: Api, services: Any
) -> None:
    token = await seller_at_home(api)
    product = await listing(api, token, location=None)
    unplace = "MATCH (p:Product {id: $id}) REMOVE p.place, p.place_cell RETURN 1 AS ok"
    await services.store.run_text(unplace, {"id": product["id"]}, write=True)
    report = await services.jobs.run_once()
    assert report.placed == 1
    rows = await read(
        services, "MATCH (p:Product {id: $id}) RETURN p.place AS place", id=product["id"]
    )
    place = rows[0]["place"]
    assert (round(place["latitude"], 5), round(place["longitude"], 5)) == public_place(**HOME)
