"""The GraphQL gateway's social side through the real app: rooms and messages (only their two
members read them, pushes as REST sends them), the feed, swipes and saves, reviews after a
completed order, reports, notifications and profile edits — REST's services, limits and shapes,
a user's mistakes in the payload, the rest top-level."""

from __future__ import annotations

import json
from typing import Any, get_args

from pytest import approx

from graph.bootstrap import Services
from graph.moderation.service import Reason, Target
from tests.conftest import Api
from tests.test_catalog_api import listing
from tests.test_deals_api import parties
from tests.test_graphql import gql
from tests.test_reviews import completed

ERRORS = "errors { field code message }"

CREATE_ROOM = f"""
mutation ($productId: ID!) {{
  createRoom(productId: $productId) {{
    created room {{ id role unread lastMessage {{ text }}
                   product {{ id title price {{ amount currency }} thumbUrl }}
                   other {{ id handle displayName }} }} {ERRORS}
  }}
}}
"""

SEND = f"""
mutation ($roomId: ID!, $text: String!) {{
  sendMessage(roomId: $roomId, text: $text) {{
    message {{ id roomId senderId kind text sentAt }} {ERRORS}
  }}
}}
"""

MESSAGES = """
query ($roomId: ID!, $first: Int!, $after: String) {
  messages(roomId: $roomId, first: $first, after: $after) {
    edges { node { id text senderId } cursor }
    pageInfo { hasNextPage endCursor }
  }
}
"""

ROOMS = """
query ($role: Role, $first: Int!, $after: String) {
  rooms(role: $role, first: $first, after: $after) {
    edges { node { id role unread lastMessage { text }
                   other { id handle displayName } product { id title thumbUrl } } cursor }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def code(answer: dict[str, Any]) -> str:
    """The first top-level error's code."""
    assert answer.get("errors"), answer
    return str(answer["errors"][0]["extensions"]["code"])


async def user_id(api: Api, token: str) -> str:
    return str((await gql(api, "{ me { id } }", token))["data"]["me"]["id"])


async def test_a_room_its_messages_and_who_may_read_them(api: Api, services: Services) -> None:
    seller, buyer, stranger, product = await parties(api)
    seller_id, buyer_id = product["seller"]["id"], await user_id(api, buyer)

    opened = (await gql(api, CREATE_ROOM, buyer, productId=product["id"]))["data"]["createRoom"]
    assert opened["errors"] == [] and opened["created"] is True
    room = opened["room"]
    assert room["role"] == "BUYER" and room["other"]["id"] == seller_id
    assert room["product"]["id"] == product["id"] and room["lastMessage"] is None
    # once per buyer and listing: the same room again, as REST's POST /v1/rooms answers
    again = (await gql(api, CREATE_ROOM, buyer, productId=product["id"]))["data"]["createRoom"]
    assert (again["created"], again["room"]["id"]) == (False, room["id"])
    # your own listing is your mistake; a listing that is not there is not found
    own = (await gql(api, CREATE_ROOM, seller, productId=product["id"]))["data"]["createRoom"]
    assert own["room"] is None
    assert [(e["field"], e["code"]) for e in own["errors"]] == [("productId", "BAD_USER_INPUT")]
    none = (await gql(api, CREATE_ROOM, buyer, productId="nope"))["data"]["createRoom"]
    assert [e["code"] for e in none["errors"]] == ["NOT_FOUND"]
    assert code(await gql(api, CREATE_ROOM, productId=product["id"])) == "UNAUTHENTICATED"

    # a message is pushed to both members, as REST pushes it
    pubsub = services.redis.pubsub()
    await pubsub.subscribe(services.notifier.channel(seller_id))
    sent = []
    for text in ("one", "two", "three"):
        done = (await gql(api, SEND, buyer, roomId=room["id"], text=text))["data"]["sendMessage"]
        assert done["errors"] == [], done
        assert done["message"]["senderId"] == buyer_id and done["message"]["kind"] == "text"
        sent.append(done["message"])
    pushes = []
    for _ in range(20):
        got = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if got:
            pushes.append(json.loads(got["data"]))
        if len([p for p in pushes if p["type"] == "message.created"]) == 3:
            break
    await pubsub.aclose()
    created = [p for p in pushes if p["type"] == "message.created"]
    assert [p["message"]["text"] for p in created] == ["one", "two", "three"]
    assert {p["room_id"] for p in created} == {room["id"]}
    assert created[0]["message"]["id"] == sent[0]["id"]

    blank = (await gql(api, SEND, buyer, roomId=room["id"], text="   "))["data"]["sendMessage"]
    assert blank["message"] is None and [e["field"] for e in blank["errors"]] == ["text"]

    # newest first, a page at a time, as REST; each edge says where the next page starts
    first = (await gql(api, MESSAGES, seller, roomId=room["id"], first=1))["data"]["messages"]
    assert [e["node"]["text"] for e in first["edges"]] == ["three"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["edges"][0]["cursor"]  # cursors are sealed afresh each time: not compared
    second = await gql(
        api, MESSAGES, seller, roomId=room["id"], first=1, after=first["pageInfo"]["endCursor"]
    )
    assert [e["node"]["text"] for e in second["data"]["messages"]["edges"]] == ["two"]
    whole = (await gql(api, MESSAGES, buyer, roomId=room["id"], first=2))["data"]["messages"]
    rest = await gql(
        api, MESSAGES, buyer, roomId=room["id"], first=2, after=whole["edges"][0]["cursor"]
    )
    assert [e["node"]["text"] for e in rest["data"]["messages"]["edges"]] == ["two", "one"]
    last = rest["data"]["messages"]
    assert last["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    assert last["edges"][-1]["cursor"]  # each edge can be named, the last one too

    # only the room's two members: a stranger is told there is no such room
    peek = await gql(api, MESSAGES, stranger, roomId=room["id"], first=5)
    assert peek["data"] is None and code(peek) == "NOT_FOUND"
    barge = (await gql(api, SEND, stranger, roomId=room["id"], text="hi"))["data"]["sendMessage"]
    assert barge["message"] is None and [e["code"] for e in barge["errors"]] == ["NOT_FOUND"]
    # a cursor that is not one, a page size out of bounds: the caller's mistake, never a 500
    bad = await gql(api, MESSAGES, buyer, roomId=room["id"], first=1, after="not-a-cursor")
    assert code(bad) == "BAD_USER_INPUT"
    assert bad["errors"][0]["extensions"]["errors"] == {"after": "malformed"}
    huge = await gql(api, MESSAGES, buyer, roomId=room["id"], first=101)
    assert code(huge) == "BAD_USER_INPUT" and "first" in huge["errors"][0]["extensions"]["errors"]
    assert code(await gql(api, MESSAGES, roomId=room["id"], first=1)) == "UNAUTHENTICATED"

    # the seller's rooms: the unread count and the last message; none as a buyer
    mine = (await gql(api, ROOMS, seller, role="SELLER", first=10))["data"]["rooms"]
    (edge,) = mine["edges"]
    assert edge["node"]["id"] == room["id"] and edge["node"]["role"] == "SELLER"
    assert edge["node"]["unread"] == 3 and edge["node"]["lastMessage"] == {"text": "three"}
    assert edge["node"]["other"]["id"] == buyer_id and edge["cursor"]
    bought = (await gql(api, ROOMS, seller, role="BUYER", first=10))["data"]["rooms"]
    assert bought["edges"] == []
    # rooms page by their cursors as well (the other listing's room is the newer)
    other = await listing(api, seller, title="Second chair")
    await gql(api, CREATE_ROOM, buyer, productId=other["id"])
    page = (await gql(api, ROOMS, buyer, first=1))["data"]["rooms"]
    assert [e["node"]["product"]["id"] for e in page["edges"]] == [other["id"]]
    assert page["pageInfo"]["hasNextPage"] is True
    after = await gql(api, ROOMS, buyer, first=1, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in after["data"]["rooms"]["edges"]] == [room["id"]]
    assert after["data"]["rooms"]["pageInfo"]["hasNextPage"] is False
    # a cursor of another list is refused as REST refuses it
    wrong = await gql(api, ROOMS, buyer, first=1, after=first["pageInfo"]["endCursor"])
    assert code(wrong) == "BAD_USER_INPUT"
    assert code(await gql(api, ROOMS, first=1)) == "UNAUTHENTICATED"


PROFILE = f"""
mutation ($input: ProfileInput!) {{
  updateProfile(input: $input) {{
    user {{ id displayName city showCity location {{ lat lon }} }} {ERRORS}
  }}
}}
"""

FEED = """
query ($first: Int!) {
  feed(first: $first) { product { id title seller { id } } score reasons explain }
}
"""

SWIPE = f"""
mutation ($productId: ID!, $direction: SwipeDirection!) {{
  swipe(productId: $productId, direction: $direction) {{
    productId direction room {{ id role other {{ id }} }} {ERRORS}
  }}
}}
"""


async def test_profile_edits_the_feed_swipes_and_saves(api: Api) -> None:
    _, seller = await api.signup(display_name="Shop")
    products = [await listing(api, seller, title=f"Near thing {n}") for n in range(3)]
    seller_id = products[0]["seller"]["id"]
    _, token = await api.signup(display_name="Swiper")

    # a bad value is the user's mistake, named as the client spells the field
    bad = await gql(api, PROFILE, token, input={"displayName": "   ", "showCity": False})
    payload = bad["data"]["updateProfile"]
    assert payload["user"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        ("displayName", "BAD_USER_INPUT")
    ]
    far = await gql(api, PROFILE, token, input={"location": {"lat": 123.0, "lon": 4.0}})
    assert [e["field"] for e in far["data"]["updateProfile"]["errors"]] == ["location.lat"]
    taken = (await gql(api, "{ me { handle } }", seller))["data"]["me"]["handle"]
    clash = await gql(api, PROFILE, token, input={"handle": taken})
    assert [(e["field"], e["code"]) for e in clash["data"]["updateProfile"]["errors"]] == [
        ("handle", "CONFLICT")
    ]
    assert code(await gql(api, PROFILE, input={"city": "Utrecht"})) == "UNAUTHENTICATED"
    done = await gql(
        api,
        PROFILE,
        token,
        input={
            "displayName": "Swiper Two",
            "city": "Amsterdam",
            "location": {"lat": 52.36, "lon": 4.88},
        },
    )
    me = done["data"]["updateProfile"]
    assert me["errors"] == [], me
    assert me["user"]["displayName"] == "Swiper Two" and me["user"]["city"] == "Amsterdam"
    assert me["user"]["location"] == {"lat": approx(52.36), "lon": approx(4.88)}  # float32
    assert (await api.call("get", "/v1/users/me", token)).json["display_name"] == "Swiper Two"

    # the deck: cards near the new place, each with its reasons
    deck = (await gql(api, FEED, token, first=5))["data"]["feed"]
    assert 1 <= len(deck) <= 2  # one seller: two cards at most, as REST deals them
    for card in deck:
        assert card["product"]["seller"]["id"] == seller_id
        assert card["reasons"] and any(r.endswith("km away") for r in card["reasons"])
        assert [r["text"] for r in card["explain"]] == card["reasons"]
    assert code(await gql(api, FEED, token, first=51)) == "BAD_USER_INPUT"  # REST's 1 to 50
    assert code(await gql(api, FEED, first=5)) == "UNAUTHENTICATED"

    right = await gql(api, SWIPE, token, productId=products[0]["id"], direction="RIGHT")
    liked = right["data"]["swipe"]
    assert liked["errors"] == [] and liked["direction"] == "RIGHT"
    assert liked["room"]["other"]["id"] == seller_id and liked["room"]["role"] == "BUYER"
    left = await gql(api, SWIPE, token, productId=products[1]["id"], direction="LEFT")
    assert left["data"]["swipe"] == {
        "productId": products[1]["id"],
        "direction": "LEFT",
        "room": None,
        "errors": [],
    }
    own = await gql(api, SWIPE, seller, productId=products[0]["id"], direction="RIGHT")
    assert [e["code"] for e in own["data"]["swipe"]["errors"]] == ["BAD_USER_INPUT"]
    gone = await gql(api, SWIPE, token, productId="nope", direction="LEFT")
    assert [e["code"] for e in gone["data"]["swipe"]["errors"]] == ["NOT_FOUND"]

    save = "mutation ($id: ID!) { save(productId: $id) { ok errors { field code } } }"
    unsave = "mutation ($id: ID!) { unsave(productId: $id) { ok errors { field code } } }"
    for product in products[1:]:
        saved = await gql(api, save, token, id=product["id"])
        assert saved["data"]["save"] == {"ok": True, "errors": []}
    listed = (await api.call("get", "/v1/users/me/saved", token)).json["items"]
    assert {p["id"] for p in listed} == {p["id"] for p in products[1:]}
    dropped = await gql(api, unsave, token, id=products[1]["id"])
    assert dropped["data"]["unsave"]["ok"] is True
    listed = (await api.call("get", "/v1/users/me/saved", token)).json["items"]
    assert [p["id"] for p in listed] == [products[2]["id"]]
    mine = await gql(api, save, seller, id=products[0]["id"])  # your own: refused like a swipe
    assert mine["data"]["save"]["ok"] is False and mine["data"]["save"]["errors"]
    assert code(await gql(api, save, id=products[0]["id"])) == "UNAUTHENTICATED"


REVIEW = f"""
mutation ($orderId: ID!, $rating: Int!, $comment: String) {{
  writeReview(orderId: $orderId, rating: $rating, comment: $comment) {{
    review {{ id rating comment role published author {{ id }} subjectId products {{ id title }}
             mine }}
    {ERRORS}
  }}
}}
"""

REVIEWS = """
query ($userId: ID!, $first: Int!, $after: String, $role: Role) {
  reviews(userId: $userId, first: $first, after: $after, role: $role) {
    edges { node { id comment role published mine } cursor }
    pageInfo { hasNextPage endCursor }
  }
}
"""

REPORT = f"""
mutation ($target: ReportTarget!, $id: ID!, $reason: ReportReason!, $note: String) {{
  report(target: $target, id: $id, reason: $reason, note: $note) {{
    report {{ id status createdAt }} {ERRORS}
  }}
}}
"""

NOTIFICATIONS = """
query ($first: Int!, $after: String, $unreadOnly: Boolean) {
  notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
    unread
    edges { node { id kind type title readAt createdAt } cursor }
    pageInfo { hasNextPage endCursor }
  }
}
"""

READ = """
mutation ($ids: [ID!]) { markNotificationsRead(ids: $ids) { unread errors { field code } } }
"""


async def test_reviews_after_a_completed_order_reports_and_notifications(
    api: Api, services: Services
) -> None:
    deal = await completed(api)
    buyer, seller, stranger, oid = deal["buyer"], deal["seller"], deal["stranger"], deal["order"]

    # the rules are REST's: a rating out of range, a stranger, a second review
    wild = (await gql(api, REVIEW, buyer, orderId=oid, rating=6))["data"]["writeReview"]
    assert wild["review"] is None
    assert [(e["field"], e["code"]) for e in wild["errors"]] == [("rating", "BAD_USER_INPUT")]
    nosy = (await gql(api, REVIEW, stranger, orderId=oid, rating=5))["data"]["writeReview"]
    assert [e["code"] for e in nosy["errors"]] == ["NOT_FOUND"]
    written = await gql(api, REVIEW, buyer, orderId=oid, rating=5, comment="Quick and kind")
    review = written["data"]["writeReview"]
    assert review["errors"] == [], review
    assert review["review"]["role"] == "BUYER" and review["review"]["published"] is False
    assert review["review"]["subjectId"] == deal["seller_id"] and review["review"]["mine"] is True
    assert review["review"]["products"] == [
        {"id": deal["product"]["id"], "title": "Oak dining table"}
    ]
    twice = (await gql(api, REVIEW, buyer, orderId=oid, rating=4))["data"]["writeReview"]
    assert [e["code"] for e in twice["errors"]] == ["CONFLICT"]
    assert code(await gql(api, REVIEW, orderId=oid, rating=4)) == "UNAUTHENTICATED"

    # blind until both wrote: nothing public yet, then both published
    hidden = await gql(api, REVIEWS, userId=deal["seller_id"], first=5)
    assert hidden["data"]["reviews"]["edges"] == []
    theirs = await gql(api, REVIEW, seller, orderId=oid, rating=4, comment="Paid at once")
    assert theirs["data"]["writeReview"]["review"]["published"] is True
    public = (await gql(api, REVIEWS, userId=deal["seller_id"], first=5))["data"]["reviews"]
    (edge,) = public["edges"]
    assert edge["node"]["comment"] == "Quick and kind" and edge["node"]["published"] is True
    assert edge["node"]["mine"] is False and edge["cursor"]
    as_seller = await gql(api, REVIEWS, userId=deal["seller_id"], first=5, role="SELLER")
    assert as_seller["data"]["reviews"]["edges"] == []
    mine = await gql(api, REVIEWS, buyer, userId=deal["seller_id"], first=5)
    assert mine["data"]["reviews"]["edges"][0]["node"]["mine"] is True
    assert code(await gql(api, REVIEWS, userId="nobody", first=5)) == "NOT_FOUND"
    assert code(await gql(api, REVIEWS, userId=deal["seller_id"], first=51)) == "BAD_USER_INPUT"
    bad = await gql(api, REVIEWS, userId=deal["seller_id"], first=5, after="x" * 20)
    assert code(bad) == "BAD_USER_INPUT"

    # reports: once while open, never about yourself
    filed = await gql(
        api,
        REPORT,
        stranger,
        target="PRODUCT",
        id=deal["product"]["id"],
        reason="COUNTERFEIT",
        note="the logo is wrong",
    )
    report = filed["data"]["report"]
    assert report["errors"] == [] and report["report"]["status"] == "open"
    assert report["report"]["createdAt"].endswith("Z")
    again = await gql(
        api, REPORT, stranger, target="PRODUCT", id=deal["product"]["id"], reason="SCAM"
    )
    assert [(e["field"], e["code"]) for e in again["data"]["report"]["errors"]] == [
        ("id", "CONFLICT")
    ]
    self_report = await gql(api, REPORT, seller, target="USER", id=deal["seller_id"], reason="SPAM")
    assert [e["code"] for e in self_report["data"]["report"]["errors"]] == ["BAD_USER_INPUT"]
    blank = await gql(
        api, REPORT, stranger, target="USER", id=deal["seller_id"], reason="OTHER", note=" "
    )
    assert [e["field"] for e in blank["data"]["report"]["errors"]] == ["note"]

    # notifications: what the deal told the seller, newest first, paged, then all read
    await services.outbox.round()
    inbox = (await gql(api, NOTIFICATIONS, seller, first=1))["data"]["notifications"]
    total = inbox["unread"]
    assert total >= 2, inbox  # the order placed, the review written at least
    (newest,) = inbox["edges"]
    assert newest["node"]["readAt"] is None and newest["cursor"]
    seen = [newest["node"]["id"]]
    cursor = inbox["pageInfo"]["endCursor"]
    while cursor:
        page = await gql(api, NOTIFICATIONS, seller, first=1, after=cursor)
        seen += [e["node"]["id"] for e in page["data"]["notifications"]["edges"]]
        cursor = page["data"]["notifications"]["pageInfo"]["endCursor"]
    whole = (await gql(api, NOTIFICATIONS, seller, first=50))["data"]["notifications"]
    assert seen == [e["node"]["id"] for e in whole["edges"]] and len(seen) == total
    # each edge's cursor continues right after it
    middle = whole["edges"][0]["cursor"]
    after_first = await gql(api, NOTIFICATIONS, seller, first=50, after=middle)
    assert [e["node"]["id"] for e in after_first["data"]["notifications"]["edges"]] == seen[1:]
    one = (await gql(api, READ, seller, ids=[seen[0]]))["data"]["markNotificationsRead"]
    assert one == {"unread": total - 1, "errors": []}
    unread = await gql(api, NOTIFICATIONS, seller, first=50, unreadOnly=True)
    assert len(unread["data"]["notifications"]["edges"]) == total - 1
    done = (await gql(api, READ, seller))["data"]["markNotificationsRead"]
    assert done == {"unread": 0, "errors": []}
    after = (await gql(api, NOTIFICATIONS, seller, first=50))["data"]["notifications"]
    assert after["unread"] == 0 and all(e["node"]["readAt"] for e in after["edges"])
    assert code(await gql(api, NOTIFICATIONS, first=5)) == "UNAUTHENTICATED"
    assert code(await gql(api, NOTIFICATIONS, seller, first=5, after="garbage")) == (
        "BAD_USER_INPUT"
    )
    assert code(await gql(api, READ)) == "UNAUTHENTICATED"


def test_the_report_enums_are_the_moderation_choices() -> None:
    from api.graphql.social import ReportReason, ReportTarget

    assert [r.value for r in ReportReason] == list(get_args(Reason))
    assert [t.value for t in ReportTarget] == list(get_args(Target))
