"""Reports and moderation through the real app, the real `vendr moderation` command and a real
embedded FalkorDB: what can be reported by whom, one open report per reporter and target, and
decisions that bite: a suspended account loses its sessions and disappears from browse, the
feed, listings, rooms and ratings; every decision is an Event with the admin and the reason."""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

import pytest

from graph.accounts.sessions import session_digest
from graph.infra.errors import Conflict, Forbidden, NotFound
from graph.infra.settings import Settings
from tests.conftest import Api, limits_on, read, settings_env
from tests.test_catalog_api import listing
from tests.test_cli import ROOT, VENDR
from tests.test_reviews import completed, review


def vendr(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | settings_env(settings)
    return subprocess.run(
        [str(VENDR), *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120
    )


async def report(api: Api, token: str, target: str, id_: str, reason: str = "scam", **kw: Any):
    return await api.call(
        "post", "/v1/reports", token, json={"target": target, "id": id_, "reason": reason, **kw}
    )


async def room_with_message(api: Api, buyer: str, product_id: str, text: str) -> tuple[str, str]:
    room = await api.call("post", "/v1/rooms", buyer, json={"product_id": product_id})
    sent = await api.call(
        "post", f"/v1/rooms/{room.json['id']}/messages", buyer, json={"text": text}
    )
    assert sent.status == 201, sent.text
    return room.json["id"], sent.json["id"]


async def test_what_can_be_reported_and_by_whom(api: Api, services) -> None:
    deal = await completed(api)
    seller, buyer, stranger = deal["seller"], deal["buyer"], deal["stranger"]
    pid = deal["product"]["id"]
    filed = await report(api, buyer, "product", pid, note="Photos are from a catalogue")
    assert filed.status == 201, filed.text
    assert filed.json["status"] == "open"
    again = await report(api, buyer, "product", pid, "counterfeit")
    assert again.status == 409 and again.json["report_id"] == filed.json["id"]
    assert (await report(api, stranger, "product", pid)).status == 201  # someone else may
    assert (await report(api, seller, "product", pid)).status == 422  # not your own
    assert (await report(api, buyer, "user", deal["seller_id"], "harassment")).status == 201
    assert (await report(api, buyer, "product", "nope")).status == 404

    _, message = await room_with_message(api, buyer, pid, "Send me your bank code first")
    assert (await report(api, stranger, "message", message)).status == 404  # not their room
    assert (await report(api, seller, "message", message, "spam")).status == 201
    assert (await report(api, buyer, "message", message)).status == 422  # own message

    written = await review(api, deal["buyer"], deal["order"], 1, "Scammer!")
    rid = written.json["id"]
    assert (await report(api, stranger, "review", rid)).status == 404  # not published yet
    assert (await report(api, seller, "review", rid, "offensive")).status == 201  # about them

    for body in (
        {"target": "order", "id": pid, "reason": "scam"},
        {"target": "product", "id": pid, "reason": "because"},
        {"target": "product", "id": pid, "reason": "scam", "note": "x" * 2001},
        {"target": "product", "id": "", "reason": "scam"},
    ):
        response = await api.call("post", "/v1/reports", stranger, json=body)
        assert response.status == 422, (body, response.text)
    assert (await api.call("post", "/v1/reports", None, json={})).status == 401

    reports = await read(
        services,
        "MATCH (:User)-[:REPORTED]->(r:Report)-[:ABOUT]->(t) "
        "RETURN r.target AS target, r.reason AS reason, r.owner_id AS owner ORDER BY r.created_at",
    )
    assert [(r["target"], r["reason"]) for r in reports] == [
        ("product", "scam"),
        ("product", "scam"),
        ("user", "harassment"),
        ("message", "spam"),
        ("review", "offensive"),
    ]
    assert reports[3]["owner"] == deal["buyer_id"] and reports[0]["owner"] == deal["seller_id"]
    events = await read(services, "MATCH (e:Event {type: 'report.filed'}) RETURN count(e) AS n")
    assert events[0]["n"] == 5


async def test_reports_are_rate_limited(api: Api, services) -> None:
    _, seller = await api.signup(display_name="Seller")
    _, reporter = await api.signup(display_name="Reporter")
    items = [await listing(api, seller, title=f"Thing {k}") for k in range(21)]
    with limits_on(services):
        statuses = [(await report(api, reporter, "product", p["id"])).status for p in items]
    assert statuses[:20] == [201] * 20 and statuses[20] == 429


async def test_suspension_revokes_and_hides_the_account_everywhere(
    api: Api, services, settings
) -> None:
    deal = await completed(api)
    seller, buyer = deal["seller"], deal["buyer"]
    seller_id = deal["seller_id"]
    # the seller's other listing, a conversation about it, and the seller's review of the buyer
    other = await listing(api, seller, title="Brass lamp", location={"lat": 52.37, "lon": 4.89})
    room_id, _ = await room_with_message(api, buyer, other["id"], "Is it still there?")
    await api.call(
        "post", f"/v1/rooms/{room_id}/messages", seller, json={"text": "Pay upfront please"}
    )
    assert (await review(api, seller, deal["order"], 5, "Great buyer")).status == 201
    assert (await review(api, buyer, deal["order"], 1, "Beware")).status == 201
    rating = (await api.call("get", f"/v1/users/{deal['buyer_id']}")).json["rating"]
    assert rating["count"] == 1

    # before: visible everywhere
    browse = (await api.call("get", "/v1/products?limit=50")).json["items"]
    assert other["id"] in [p["id"] for p in browse]
    await services.pools.rebuild(wait=True)
    deck = (await api.call("get", "/v1/feed?near=52.37,4.89&limit=20", buyer)).json["items"]
    assert other["id"] in [c["product"]["id"] for c in deck]

    filed = await report(api, buyer, "user", seller_id, "scam", note="asked for money upfront")
    assert (await report(api, deal["stranger"], "product", other["id"])).status == 201
    queue = await asyncio.to_thread(vendr, settings, "moderation", "list")
    assert queue.returncode == 0, queue.stderr
    assert filed.json["id"] in queue.stdout and "(2 reports)" in queue.stdout
    shown = await asyncio.to_thread(vendr, settings, "moderation", "show", filed.json["id"])
    assert "asked for money upfront" in shown.stdout and "reports on owner" in shown.stdout
    decided = await asyncio.to_thread(
        vendr,
        settings,
        "moderation",
        "resolve",
        filed.json["id"],
        "--action",
        "suspend",
        "--admin",
        "mod_ann",
        "--reason",
        "advance-fee scam, 2 reports",
    )
    assert decided.returncode == 0, decided.stderr
    assert "suspend: 1 changed; 1 open report closed" in decided.stdout

    # sessions: the old token is dead, and logging in again is refused
    assert (await api.call("get", "/v1/users/me", seller)).status == 401
    # hidden: the profile, the listings in browse, detail and the feed, the room, the review
    assert (await api.call("get", f"/v1/users/{seller_id}")).status == 404
    browse = (await api.call("get", "/v1/products?limit=50")).json["items"]
    assert other["id"] not in [p["id"] for p in browse]
    assert (await api.call("get", f"/v1/products/{other['id']}", buyer)).status == 404
    deck = (await api.call("get", "/v1/feed?near=52.37,4.89&limit=20", buyer)).json["items"]
    assert other["id"] not in [c["product"]["id"] for c in deck]
    rooms = (await api.call("get", "/v1/rooms", buyer)).json["items"]
    assert room_id not in [r["id"] for r in rooms]
    assert (await api.call("get", f"/v1/rooms/{room_id}/messages", buyer)).status == 404
    rating = (await api.call("get", f"/v1/users/{deal['buyer_id']}")).json["rating"]
    assert rating["count"] == 0  # the suspended account's review no longer counts
    listed = (await api.call("get", f"/v1/users/{deal['buyer_id']}/reviews")).json["items"]
    assert listed == []

    # the decision is an Event naming the admin and the reason; the other open report stays
    events = await read(
        services,
        "MATCH (e:Event {type: 'moderation.suspend'}) RETURN e.actor_id AS who, e.data AS data",
    )
    assert events[0]["who"] == "admin:mod_ann" and "advance-fee scam" in events[0]["data"]
    states = await read(
        services, "MATCH (r:Report) RETURN r.target AS t, r.status AS s ORDER BY r.created_at"
    )
    assert [(s["t"], s["s"]) for s in states] == [("user", "resolved"), ("product", "open")]

    # lifting the suspension brings the listings back
    await services.moderation.reinstate(seller_id, "mod_ann", "appeal upheld")
    browse = (await api.call("get", "/v1/products?limit=50")).json["items"]
    assert other["id"] in [p["id"] for p in browse]
    back = await read(
        services, "MATCH (e:Event {type: 'moderation.reinstate'}) RETURN count(e) AS n"
    )
    assert back[0]["n"] == 1


async def test_hiding_a_listing_a_message_and_a_review_and_dismissing(api: Api, services) -> None:
    deal = await completed(api)
    seller, buyer, stranger = deal["seller"], deal["buyer"], deal["stranger"]
    lamp = await listing(api, seller, title="Fake designer lamp")
    room_id, message = await room_with_message(api, buyer, lamp["id"], "Real Tiffany?")
    await api.call("post", f"/v1/rooms/{room_id}/messages", seller, json={"text": "idiot"})
    history = (await api.call("get", f"/v1/rooms/{room_id}/messages", buyer)).json["items"]
    insult = next(m["id"] for m in history if m["text"] == "idiot")
    await review(api, buyer, deal["order"], 1, "Rude and useless")
    await review(api, seller, deal["order"], 5)
    rid = (await api.call("get", f"/v1/users/{deal['seller_id']}/reviews")).json["items"][0]["id"]

    on_lamp = (await report(api, stranger, "product", lamp["id"], "counterfeit")).json["id"]
    on_insult = (await report(api, buyer, "message", insult, "harassment")).json["id"]
    on_review = (await report(api, seller, "review", rid, "offensive")).json["id"]
    on_message = (await report(api, seller, "message", message, "spam")).json["id"]

    mod = services.moderation
    assert (await mod.resolve(on_lamp, "hide", "ann", "replica"))["applied"] == 1
    assert (await api.call("get", f"/v1/products/{lamp['id']}", stranger)).status == 404
    own = (await api.call("get", f"/v1/products/{lamp['id']}", seller)).json
    assert own["status"] == "hidden"
    edit = await api.call("patch", f"/v1/products/{lamp['id']}", seller, json={"title": "Lamp"})
    assert edit.status == 409
    browse = (await api.call("get", "/v1/products?limit=50")).json["items"]
    assert lamp["id"] not in [p["id"] for p in browse]

    await mod.resolve(on_insult, "hide", "ann", "insult")
    texts = [
        m["text"]
        for m in (await api.call("get", f"/v1/rooms/{room_id}/messages", buyer)).json["items"]
    ]
    assert "idiot" not in texts and "Real Tiffany?" in texts

    await mod.resolve(on_review, "hide", "ann", "abusive")
    assert (await api.call("get", f"/v1/users/{deal['seller_id']}/reviews")).json["items"] == []
    profile = (await api.call("get", f"/v1/users/{deal['seller_id']}")).json
    assert profile["rating"]["count"] == 0

    dismissed = await mod.resolve(on_message, "dismiss", "ann", "an honest question")
    assert dismissed == {"action": "dismiss", "applied": 0, "closed": [on_message]}
    texts = [
        m["text"]
        for m in (await api.call("get", f"/v1/rooms/{room_id}/messages", buyer)).json["items"]
    ]
    assert "Real Tiffany?" in texts
    with pytest.raises(Conflict):  # no longer open
        await mod.resolve(on_message, "hide", "ann", "changed my mind")
    with pytest.raises(NotFound):
        await mod.resolve("nope", "dismiss", "ann", "x")
    # the same person may report again once the first report is closed
    assert (await report(api, seller, "message", message, "spam")).status == 201

    decisions = await read(
        services,
        "MATCH (e:Event) WHERE e.type STARTS WITH 'moderation.' "
        "RETURN e.type AS type, e.actor_id AS who ORDER BY e.at, e.id",
    )
    assert [d["type"] for d in decisions] == [
        "moderation.hide",
        "moderation.hide",
        "moderation.hide",
        "moderation.dismiss",
    ]
    assert {d["who"] for d in decisions} == {"admin:ann"}


async def test_no_token_resolves_to_a_suspended_account(api: Api, services) -> None:
    """Suspension revokes the tokens it finds; one issued in a race with it (the login read
    the account as active just before) must not work either, until the account is back."""
    user, token = await api.signup(email="racer@example.org")
    _, reporter = await api.signup(display_name="Reporter")
    filed = await report(api, reporter, "user", user["id"], "scam")
    await services.moderation.resolve(filed.json["id"], "suspend", "mod_ann", "scam")
    assert (await api.call("get", "/v1/users/me", token)).status == 401
    with pytest.raises(Forbidden):  # the racing login gets no token
        await services.sessions.issue(user["id"])
    # a token that slipped out between the login's check and the mark resolves to nothing
    slipped = "slipped-out-token"
    key = f"{services.settings.redis_prefix}session:{session_digest(slipped)}"
    await services.redis.set(key, user["id"])
    assert (await api.call("get", "/v1/users/me", slipped)).status == 401

    await services.moderation.reinstate(user["id"], "mod_ann", "appeal upheld")
    assert (await api.call("get", "/v1/users/me", token)).status == 401  # revoked stays revoked
    again = await api.call(
        "post",
        "/v1/auth/login",
        json={"email": "racer@example.org", "password": "correct horse battery"},
    )
    assert again.status == 200
    assert (await api.call("get", "/v1/users/me", again.json["token"])).status == 200


async def test_no_token_resolves_to_a_deleted_account(api: Api, services) -> None:
    user, token = await api.signup()
    gone = await api.call(
        "delete", "/v1/users/me", token, json={"password": "correct horse battery"}
    )
    assert gone.status == 204, gone.text
    with pytest.raises(Forbidden):
        await services.sessions.issue(user["id"])
