"""Feed, second round: local pickup within the pickup radius, shipping, stated interests and
swipe sessions, through the real app."""

from __future__ import annotations

from typing import Any

from graph.bootstrap import Services
from tests.conftest import Api, limits_on, read
from tests.test_catalog_api import listing
from tests.test_deals_api import order

ANTWERP = {"lat": 51.2194, "lon": 4.4025}
NEAR_ANTWERP = {"lat": 51.23, "lon": 4.41}
HAMBURG = {"lat": 53.5511, "lon": 9.9937}  # ~450 km from Antwerp


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [c["product"]["id"] if "product" in c else c["id"] for c in items]


async def test_pickup_only_listings_stay_within_the_pickup_radius_unless_shipped(
    api: Api,
) -> None:
    _, seller = await api.signup()
    tags = ["amplifiers", "audio"]
    far_pickup = await listing(api, seller, title="Tube amp", location=HAMBURG, tags=tags)
    far_shipped = await listing(
        api,
        seller,
        title="Transistor amp",
        location=HAMBURG,
        tags=tags,
        shipping={"ships": True, "price": {"amount": 695, "currency": "EUR"}},
    )
    _, other = await api.signup()
    near = await listing(api, other, title="Small amp", location=NEAR_ANTWERP, tags=tags)
    assert far_pickup["shipping"] == {"ships": False, "price": None}
    assert far_shipped["shipping"] == {"ships": True, "price": {"amount": 695, "currency": "EUR"}}

    _, viewer = await api.signup()
    await api.call("patch", "/v1/users/me", viewer, json={"location": ANTWERP})
    assert (
        await api.call("put", "/v1/users/me/interests", viewer, json={"tags": tags})
    ).status == 200

    # browse from Antwerp with a radius that reaches Hamburg
    url = "/v1/products?near=51.2194,4.4025&radius_km=500&tags=amplifiers&limit=50"
    browse = ids((await api.call("get", url)).json["items"])
    assert near["id"] in browse and far_shipped["id"] in browse
    assert far_pickup["id"] not in browse
    # without a place nothing says how far it is: everything is listed
    everywhere = ids((await api.call("get", "/v1/products?tags=amplifiers")).json["items"])
    assert far_pickup["id"] in everywhere

    deck = (await api.call("get", "/v1/feed?radius_km=500&limit=20", viewer)).json["items"]
    cards = {c["product"]["id"]: c for c in deck}
    assert far_pickup["id"] not in cards
    assert set(cards) == {near["id"], far_shipped["id"]}
    kinds = {pid: [r["kind"] for r in c["explain"]] for pid, c in cards.items()}
    assert "distance" in kinds[near["id"]]
    assert "distance" not in kinds[far_shipped["id"]] and "ships" in kinds[far_shipped["id"]]
    assert "ships for €6.95" in cards[far_shipped["id"]]["reasons"]


async def test_shipping_is_validated_and_editable(api: Api) -> None:
    _, seller = await api.signup()
    nowhere = await api.call(
        "post",
        "/v1/products",
        seller,
        json={
            "title": "Lamp",
            "price": {"amount": 1000, "currency": "EUR"},
            "local_pickup": False,
            "location": ANTWERP,
            "image_ids": ["0" * 64],
        },
    )
    assert nowhere.status == 422 and "pickup, shipping or both" in nowhere.text
    product = await listing(api, seller, title="Lamp", location=ANTWERP)
    url = f"/v1/products/{product['id']}"
    wrong = {"shipping": {"ships": True, "price": {"amount": 500, "currency": "USD"}}}
    response = await api.call("patch", url, seller, json=wrong)
    assert response.status == 422 and "currency" in response.text
    unpriced = await api.call(
        "patch",
        url,
        seller,
        json={"shipping": {"ships": False, "price": {"amount": 5, "currency": "EUR"}}},
    )
    assert unpriced.status == 422
    ships = {"shipping": {"ships": True, "price": {"amount": 0, "currency": "EUR"}}}
    patched = (await api.call("patch", url, seller, json=ships)).json
    assert patched["shipping"] == {"ships": True, "price": {"amount": 0, "currency": "EUR"}}
    # shipping only, then neither: refused, and nothing changed
    only = (await api.call("patch", url, seller, json={"local_pickup": False})).json
    assert only["local_pickup"] is False and only["shipping"]["ships"] is True
    refused = await api.call("patch", url, seller, json={"shipping": {"ships": False}})
    assert refused.status == 422
    again = (await api.call("get", url)).json
    assert again["shipping"] == {"ships": True, "price": {"amount": 0, "currency": "EUR"}}
    # a new currency for the price needs the shipping price restated in it
    moved = await api.call("patch", url, seller, json={"price": {"amount": 900, "currency": "GBP"}})
    assert moved.status == 422 and "restate" in moved.text


async def test_a_new_account_starts_from_its_stated_interests_and_place(api: Api) -> None:
    _, seller = await api.signup()
    _, shop = await api.signup()
    bikes = [
        await listing(api, seller, title=f"Road bike {n}", tags=["bikes"], location=NEAR_ANTWERP)
        for n in range(2)
    ]
    bikes += [
        await listing(api, shop, title=f"City bike {n}", tags=["bikes"], location=NEAR_ANTWERP)
        for n in range(2)
    ]
    _, lamps_seller = await api.signup()
    for n in range(2):
        await listing(api, lamps_seller, title=f"Lamp {n}", tags=["lamps"], location=NEAR_ANTWERP)
    far = await listing(api, shop, title="Bike far away", tags=["bikes"], location=HAMBURG)

    _, newcomer = await api.signup()
    assert (await api.call("get", "/v1/users/me/interests", newcomer)).json == {"tags": []}
    put = await api.call(
        "put", "/v1/users/me/interests", newcomer, json={"tags": ["#Bikes", "kayaks"]}
    )
    assert put.status == 200 and put.json == {"tags": ["bikes", "kayaks"]}
    assert (await api.call("get", "/v1/users/me/interests", newcomer)).json["tags"] == [
        "bikes",
        "kayaks",
    ]
    bad = await api.call("put", "/v1/users/me/interests", newcomer, json={"tags": ["a" * 41]})
    assert bad.status == 422
    await api.call("patch", "/v1/users/me", newcomer, json={"location": ANTWERP})
    deck = (await api.call("get", "/v1/feed?limit=4", newcomer)).json["items"]
    # the four bikes near Antwerp first (two sellers, two each), not the lamps, not Hamburg
    assert sorted(ids(deck)) == sorted(b["id"] for b in bikes)
    assert far["id"] not in ids(deck)
    for card in deck:
        kinds = [r["kind"] for r in card["explain"]]
        assert "interest" in kinds and "distance" in kinds

    # neither interests nor a place: the newest and most engaging listings anywhere
    _, blank = await api.signup()
    plain = (await api.call("get", "/v1/feed?limit=20", blank)).json["items"]
    assert plain and {r["kind"] for c in plain for r in c["explain"]} <= {
        "new",
        "popular",
        "fresh",
    }


async def test_how_much_distance_counts_follows_where_a_person_likes_things(api: Api) -> None:
    _, near_shop = await api.signup()
    _, far_shop = await api.signup()
    ships = {"ships": True, "price": {"amount": 495, "currency": "EUR"}}
    tags = ["cameras", "lenses"]
    near = await listing(
        api, near_shop, title="Lens", tags=tags, location=NEAR_ANTWERP, shipping=ships
    )
    far = await listing(api, far_shop, title="Lens", tags=tags, location=HAMBURG, shipping=ships)
    _, makers = await api.signup()
    liked = {
        place: [
            await listing(api, makers, title=f"Camera {n}", tags=["cameras"], location=where)
            for n in range(4)
        ]
        for place, where in (("near", NEAR_ANTWERP), ("far", HAMBURG))
    }

    async def far_over_near(likes: str) -> float:
        """The far lens's score over the near one's, for someone in Antwerp who liked four
        cameras `likes` (the two lenses differ only in where they are)."""
        _, person = await api.signup()
        await api.call("patch", "/v1/users/me", person, json={"location": ANTWERP})
        swipes = [{"product_id": p["id"], "dir": "right"} for p in liked[likes]]
        done = await api.call("post", "/v1/feed/swipes", person, json={"swipes": swipes})
        assert done.status == 200, done.text
        deck = (await api.call("get", "/v1/feed?limit=20", person)).json["items"]
        scores = {c["product"]["id"]: c["score"] for c in deck}
        return scores[far["id"]] / scores[near["id"]]

    # someone who likes things around the corner is shown little from across the country;
    # someone who likes shipped goods from far away, much more (close still counts for both)
    homebody, traveller = await far_over_near("near"), await far_over_near("far")
    assert homebody < 0.1
    assert 0.3 < traveller < 1


async def test_a_new_listing_comes_before_an_old_one_but_the_old_one_still_shows(
    api: Api, services: Services
) -> None:
    tags = ["turntables"]
    made = []
    for _ in range(2):  # two sellers, the same listing
        _, seller = await api.signup()
        made.append(await listing(api, seller, title="Deck", tags=tags, location=NEAR_ANTWERP))
    new, old = made
    # the old one was listed ten days ago (as the graph would have it then)
    await services.store.run_text(
        "MATCH (p:Product {id: $id}) SET p.created_at = p.created_at - $ms",
        {"id": old["id"], "ms": 10 * 86_400_000},
        write=True,
    )
    await services.catalog.changed([old["id"]])
    _, viewer = await api.signup()
    await api.call("patch", "/v1/users/me", viewer, json={"location": ANTWERP})
    await api.call("put", "/v1/users/me/interests", viewer, json={"tags": tags})
    deck = (await api.call("get", "/v1/feed?limit=20", viewer)).json["items"]
    assert ids(deck) == [new["id"], old["id"]]
    ratio = deck[1]["score"] / deck[0]["score"]
    assert 0.02 < ratio < 0.1  # (freshness and the head start on hype both count) not nothing


async def test_session_pages_never_repeat_and_recheck_what_changed(
    api: Api, services: Services
) -> None:
    sellers = [await api.signup() for _ in range(6)]
    made: dict[str, str] = {}  # product id -> seller token
    for n, (_, token) in enumerate(sellers):
        for k in range(4):
            p = await listing(api, token, title=f"Chair {n}-{k}", tags=["chairs"])
            made[p["id"]] = token
    place = {"location": {"lat": 52.36, "lon": 4.88}}
    _, early = await api.signup()  # someone else swipes through first: every card is cached
    await api.call("patch", "/v1/users/me", early, json=place)
    for _ in range(6):
        await api.call("get", "/v1/feed?limit=4", early)
    viewer_user, viewer = await api.signup()
    await api.call("patch", "/v1/users/me", viewer, json=place)

    first = ids((await api.call("get", "/v1/feed?limit=4", viewer)).json["items"])
    assert len(first) == 4
    session = await services.redis.get(f"{services.settings.redis_prefix}deck:{viewer_user['id']}")
    assert session is not None  # the ranking is kept for the next pages
    by_seller: dict[str, list[str]] = {}
    for pid, token in made.items():
        if pid not in first:
            by_seller.setdefault(token, []).append(pid)
    (blocked_token, _), (a, a_ids), (b, b_ids), (c, c_ids), *_ = by_seller.items()

    # since the session was computed (and the cards cached): one listing sold, one deleted,
    # one swiped on another device, one renamed, a seller renamed, a seller blocked
    _, buyer = await api.signup()
    sold, deleted, swiped, renamed = a_ids[0], b_ids[0], b_ids[1], c_ids[0]
    assert (await order(api, buyer, sold)).status == 201
    assert (await api.call("delete", f"/v1/products/{deleted}", b)).status == 204
    assert (
        await api.call("post", f"/v1/products/{swiped}/swipe", viewer, json={"dir": "left"})
    ).status == 200
    edit = await api.call("patch", f"/v1/products/{renamed}", c, json={"title": "Stool"})
    assert edit.status == 200, edit.text
    assert (await api.call("patch", "/v1/users/me", a, json={"display_name": "Ada"})).status == 200
    blocked = (await api.call("get", "/v1/users/me", blocked_token)).json["id"]
    assert (await api.call("post", f"/v1/users/{blocked}/block", viewer)).status in (200, 204)
    gone = {sold, deleted, swiped} | {pid for pid, t in made.items() if t == blocked_token}

    seen = list(first)
    cards: dict[str, dict[str, Any]] = {}
    for _ in range(10):
        items = (await api.call("get", "/v1/feed?limit=4", viewer)).json["items"]
        if not items:
            break
        seen += ids(items)
        cards |= {card["product"]["id"]: card["product"] for card in items}
    assert len(seen) == len(set(seen)), "a card was dealt twice"
    assert not (set(seen) - set(first)) & gone
    # everything else was dealt once the session ran dry and was ranked again
    assert set(seen) == set(made) - (gone - set(first))
    # what the cards show is what the listing and its seller say now
    assert cards[renamed]["title"] == "Stool"
    assert {cards[pid]["seller"]["display_name"] for pid in a_ids[1:]} == {"Ada"}
    # a fresh session may deal again what was dealt but not swiped
    again = ids((await api.call("get", "/v1/feed?limit=20&fresh=true", viewer)).json["items"])
    assert again and not set(again) & gone


async def test_swipes_sent_together_are_each_taken_as_one_would_be(
    api: Api, services: Services
) -> None:
    _, seller = await api.signup()
    a = await listing(api, seller, title="Lamp", tags=["lamps"])
    b = await listing(api, seller, title="Shade", tags=["lamps"])
    buyer_user, buyer = await api.signup()
    own = await listing(api, buyer, title="Mine", tags=["lamps"])
    batch = [
        {"product_id": a["id"], "dir": "right"},
        {"product_id": b["id"], "dir": "left"},
        {"product_id": own["id"], "dir": "right"},
        {"product_id": "no-such-listing", "dir": "left"},
        {"product_id": b["id"], "dir": "right"},  # changed their mind: the last one counts
    ]
    response = await api.call("post", "/v1/feed/swipes", buyer, json={"swipes": batch})
    assert response.status == 200, response.text
    items = {item["product_id"]: item for item in response.json["items"]}
    assert [i["product_id"] for i in response.json["items"]] == [
        a["id"],
        b["id"],
        own["id"],
        "no-such-listing",
    ]
    assert items[a["id"]]["swiped"] and items[b["id"]]["swiped"]
    assert items[b["id"]]["dir"] == "right"
    assert not items[own["id"]]["swiped"] and items[own["id"]]["room"] is None
    assert not items["no-such-listing"]["swiped"]
    room_ids = {items[pid]["room"]["id"] for pid in (a["id"], b["id"])}
    assert {items[a["id"]]["room"]["product"]["id"], items[b["id"]]["room"]["product"]["id"]} == {
        a["id"],
        b["id"],
    }
    listed = (await api.call("get", "/v1/rooms", buyer)).json["items"]
    assert {r["id"] for r in listed} == room_ids
    rows = await read(
        services,
        "MATCH (me:User {id: $id})-[s:LIKED|PASSED]->(p:Product) "
        "RETURN p.id AS id, type(s) AS kind ORDER BY id",
        id=buyer_user["id"],
    )
    assert {(r["id"], r["kind"]) for r in rows} == {(a["id"], "LIKED"), (b["id"], "LIKED")}
    events = await read(
        services,
        "MATCH (e:Event {actor_id: $id}) WHERE e.type IN ['product.liked', 'product.passed'] "
        "RETURN e.type AS type, e.subject_id AS subject",
        id=buyer_user["id"],
    )
    assert sorted((e["type"], e["subject"]) for e in events) == sorted(
        [("product.liked", a["id"]), ("product.liked", b["id"])]
    )
    # sending the same again changes nothing: the same rooms, no second like
    again = await api.call("post", "/v1/feed/swipes", buyer, json={"swipes": batch[:2]})
    assert {i["room"]["id"] for i in again.json["items"] if i["room"]} == {
        items[a["id"]]["room"]["id"]
    }
    assert items[b["id"]]["room"]["id"] in room_ids
    # the deck leaves them out
    deck = ids((await api.call("get", "/v1/feed?limit=20", buyer)).json["items"])
    assert not {a["id"], b["id"]} & set(deck)


async def test_swipes_together_are_checked_and_counted_one_by_one(
    api: Api, services: Services
) -> None:
    _, token = await api.signup()
    for bad in (
        {"swipes": []},
        {"swipes": [{"product_id": "x", "dir": "up"}]},
        {"swipes": [{"product_id": "", "dir": "left"}]},
        {"swipes": [{"product_id": f"x{n}", "dir": "left"} for n in range(51)]},
    ):
        response = await api.call("post", "/v1/feed/swipes", token, json=bad)
        assert response.status == 422, (bad, response.text)
        assert "swipes" in response.json["errors"] or response.json["detail"]
    fifty = [{"product_id": f"gone-{n}", "dir": "left"} for n in range(50)]
    with limits_on(services):  # 600 swipes a minute: twelve batches of fifty
        for _ in range(12):
            ok = await api.call("post", "/v1/feed/swipes", token, json={"swipes": fifty})
            assert ok.status == 200, ok.text
        over = await api.call("post", "/v1/feed/swipes", token, json={"swipes": fifty[:1]})
        assert over.status == 429 and "retry-after" in over.headers
