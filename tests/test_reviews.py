"""Reviews after a deal, through the real app on a real embedded FalkorDB: only after a completed
order, one per side, blind until both wrote or the window closed, one reply, and what a
profile's rating summary counts."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, read
from tests.test_deals_api import order, parties

DAY_MS = 86_400_000


async def completed(api: Api) -> dict[str, Any]:
    """A shop and a buyer with a completed order between them (and a stranger)."""
    seller, buyer, stranger, product = await parties(api)
    placed = await order(api, buyer, product["id"])
    assert placed.status == 201, placed.text
    oid = placed.json["id"]
    assert (await api.call("post", f"/v1/orders/{oid}/confirm", seller)).status == 200
    assert (await api.call("post", f"/v1/orders/{oid}/complete", buyer)).status == 200
    return {
        "seller": seller,
        "buyer": buyer,
        "stranger": stranger,
        "order": oid,
        "product": product,
        "seller_id": product["seller"]["id"],
        "buyer_id": (await api.call("get", "/v1/users/me", buyer)).json["id"],
    }


async def review(api: Api, token: str, order_id: str, rating: int = 5, comment: str = "") -> Any:
    return await api.call(
        "post", f"/v1/orders/{order_id}/review", token, json={"rating": rating, "comment": comment}
    )


async def test_no_review_without_a_completed_order(api: Api, services) -> None:
    seller, buyer, stranger, product = await parties(api)
    placed = await order(api, buyer, product["id"])
    oid = placed.json["id"]
    early = await review(api, buyer, oid)
    assert early.status == 409 and "completed" in early.json["detail"]
    assert (await api.call("post", f"/v1/orders/{oid}/confirm", seller)).status == 200
    assert (await review(api, seller, oid)).status == 409  # confirmed is not done
    assert (await review(api, stranger, oid)).status == 404  # not a party
    assert (await review(api, buyer, "no-such-order")).status == 404
    cancelled = await api.call("post", f"/v1/orders/{oid}/cancel", seller)
    assert cancelled.status == 200, cancelled.text
    assert (await review(api, buyer, oid)).status == 409
    bad = [
        {"rating": 0},
        {"rating": 6},
        {"rating": "5"},
        {"rating": 5, "comment": "x" * 2001},
        {"rating": 5, "extra": 1},
        {},
    ]
    for body in bad:
        response = await api.call("post", f"/v1/orders/{oid}/review", buyer, json=body)
        assert response.status == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await read(services, "MATCH (r:Review) RETURN count(r) AS n"))[0]["n"] == 0


async def test_blind_until_both_wrote_then_both_published(api: Api, services) -> None:
    deal = await completed(api)
    oid = deal["order"]
    first = await review(api, deal["buyer"], oid, 5, "Great seller, quick reply")
    assert first.status == 201, first.text
    assert first.json["published"] is False and first.json["role"] == "buyer"
    assert first.json["products"] == [{"id": deal["product"]["id"], "title": "Oak dining table"}]

    # nobody sees it yet: not the seller, not the public list, not the rating summary
    seller_state = (await api.call("get", f"/v1/orders/{oid}/review", deal["seller"])).json
    assert seller_state["theirs_written"] is True and seller_state["theirs"] is None
    assert seller_state["can_review"] is True and seller_state["mine"] is None
    public = (await api.call("get", f"/v1/users/{deal['seller_id']}/reviews")).json
    assert public["items"] == []
    profile = (await api.call("get", f"/v1/users/{deal['seller_id']}")).json
    assert profile["rating"]["count"] == 0 and profile["rating"]["average"] is None
    # the author sees their own, unpublished
    mine = (await api.call("get", f"/v1/orders/{oid}/review", deal["buyer"])).json
    assert mine["mine"]["comment"] == "Great seller, quick reply" and mine["can_review"] is False
    # the seller heard of it, without its content
    outbox = await read(
        services, "MATCH (o:Outbox {kind: 'review'}) RETURN o.type AS type, o.recipients AS r"
    )
    assert outbox == [{"type": "review.received", "r": [deal["seller_id"]]}]

    second = await review(api, deal["seller"], oid, 4, "Paid on time")
    assert second.status == 201 and second.json["published"] is True
    items = (await api.call("get", f"/v1/users/{deal['seller_id']}/reviews")).json["items"]
    assert [(r["rating"], r["role"], r["published"]) for r in items] == [(5, "buyer", True)]
    assert items[0]["author"]["id"] == deal["buyer_id"]
    buyer_reviews = (await api.call("get", f"/v1/users/{deal['buyer_id']}/reviews")).json
    assert [r["comment"] for r in buyer_reviews["items"]] == ["Paid on time"]
    profile = (await api.call("get", f"/v1/users/{deal['seller_id']}")).json
    assert profile["rating"] == {
        "count": 1,
        "average": 5.0,
        "stars": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
    }
    state = (await api.call("get", f"/v1/orders/{oid}/review", deal["buyer"])).json
    assert state["theirs"]["rating"] == 4
    types = await read(
        services, "MATCH (o:Outbox {kind: 'review'}) RETURN o.type AS t ORDER BY o.created_at"
    )
    assert [t["t"] for t in types] == ["review.received", "review.published"]
    events = await read(services, "MATCH (e:Event {type: 'review.written'}) RETURN count(e) AS n")
    assert events[0]["n"] == 2
    linked = await read(
        services,
        "MATCH (:User)-[:WROTE]->(r:Review)-[:FOR]->(o:Order {id: $id}) RETURN count(r) AS n",
        id=oid,
    )
    assert linked[0]["n"] == 2


async def test_one_review_per_side(api: Api, services) -> None:
    deal = await completed(api)
    assert (await review(api, deal["buyer"], deal["order"], 5)).status == 201
    again = await review(api, deal["buyer"], deal["order"], 1)
    assert again.status == 409 and "already" in again.json["detail"]
    n = await read(services, "MATCH (r:Review) RETURN count(r) AS n, max(r.rating) AS best")
    assert n == [{"n": 1, "best": 5}]


async def test_the_window_closing_publishes_a_lone_review_and_ends_reviewing(
    api: Api, services
) -> None:
    deal = await completed(api)
    assert (await review(api, deal["buyer"], deal["order"], 2, "Table was wobbly")).status == 201
    # the window closes: move the completion back past it
    await services.store.run_text(
        "MATCH (o:Order {id: $id}) SET o.completed_at = o.completed_at - 15 * 86400000 "
        "WITH o MATCH (r:Review)-[:FOR]->(o) SET r.due_at = o.completed_at + 14 * 86400000",
        {"id": deal["order"]},
        write=True,
    )
    assert (await api.call("get", f"/v1/users/{deal['seller_id']}/reviews")).json["items"] == []
    late = await review(api, deal["seller"], deal["order"], 5)
    assert late.status == 409 and "closed" in late.json["detail"]
    report = await services.jobs.run_once()
    assert report.reviews_published == 1
    items = (await api.call("get", f"/v1/users/{deal['seller_id']}/reviews")).json["items"]
    assert [(r["rating"], r["comment"]) for r in items] == [(2, "Table was wobbly")]
    assert (await services.reviews.publish_due()) == 0  # once
    note = await read(
        services, "MATCH (o:Outbox {type: 'review.published'}) RETURN o.recipients AS r"
    )
    assert note == [{"r": [deal["seller_id"]]}]


async def test_the_reviewed_person_replies_once(api: Api, services) -> None:
    deal = await completed(api)
    written = await review(api, deal["buyer"], deal["order"], 3, "Slow to answer")
    rid = written.json["id"]
    early = await api.call("post", f"/v1/reviews/{rid}/reply", deal["seller"], json={"body": "Hm"})
    assert early.status == 409  # not published yet
    assert (await review(api, deal["seller"], deal["order"], 5)).status == 201
    stranger = await api.call(
        "post", f"/v1/reviews/{rid}/reply", deal["stranger"], json={"body": "me too"}
    )
    assert stranger.status == 403
    author = await api.call("post", f"/v1/reviews/{rid}/reply", deal["buyer"], json={"body": "x"})
    assert author.status == 403
    empty = await api.call("post", f"/v1/reviews/{rid}/reply", deal["seller"], json={"body": " "})
    assert empty.status == 422
    ok = await api.call(
        "post", f"/v1/reviews/{rid}/reply", deal["seller"], json={"body": "Sorry, I was away"}
    )
    assert ok.status == 200, ok.text
    assert ok.json["reply"]["body"] == "Sorry, I was away"
    twice = await api.call(
        "post", f"/v1/reviews/{rid}/reply", deal["seller"], json={"body": "Really sorry"}
    )
    assert twice.status == 409
    items = (await api.call("get", f"/v1/users/{deal['seller_id']}/reviews")).json["items"]
    assert items[0]["reply"]["body"] == "Sorry, I was away"
    assert (
        await api.call("post", "/v1/reviews/nope/reply", deal["seller"], json={"body": "x"})
    ).status == 404


async def test_reviews_page_newest_first_and_filter_by_role(api: Api, services) -> None:
    seller, _, _, product = await parties(api, quantity=5)
    seller_id = product["seller"]["id"]
    for n in range(3):
        _, buyer = await api.signup(display_name=f"Buyer {n}")
        oid = (await order(api, buyer, product["id"])).json["id"]
        await api.call("post", f"/v1/orders/{oid}/confirm", seller)
        await api.call("post", f"/v1/orders/{oid}/complete", buyer)
        assert (await review(api, buyer, oid, 5 - n, f"deal {n}")).status == 201
        assert (await review(api, seller, oid, 5)).status == 201
    first = (await api.call("get", f"/v1/users/{seller_id}/reviews?limit=2")).json
    assert [r["comment"] for r in first["items"]] == ["deal 2", "deal 1"]
    rest = await api.call(
        "get", f"/v1/users/{seller_id}/reviews?limit=2&cursor={first['next_cursor']}"
    )
    assert [r["comment"] for r in rest.json["items"]] == ["deal 0"]
    assert rest.json["next_cursor"] is None
    as_seller = (await api.call("get", f"/v1/users/{seller_id}/reviews?role=seller")).json
    assert as_seller["items"] == []  # the shop only received reviews from buyers
    bad = await api.call("get", f"/v1/users/{seller_id}/reviews?cursor=zzz")
    assert bad.status == 422
    profile = (await api.call("get", f"/v1/users/{seller_id}")).json
    assert profile["rating"]["count"] == 3 and profile["rating"]["average"] == 4.0
