"""Deleting an account erases the person from the event log: their Events keep their place
(type, time, ids) but lose the personal facts, as `vendr events export` reads them; the other
party's Events keep theirs; an erasure a crash cut short is finished by the worker."""

from __future__ import annotations

import json
import uuid
from typing import Any

from graph.bootstrap import Services
from graph.eventlog import events
from graph.feed import flush_impressions
from graph.infra.settings import Settings
from tests.conftest import Api, read
from tests.test_catalog_api import listing

PASSWORD = "correct horse battery"


async def exported(services: Services) -> list[dict[str, Any]]:
    return [e async for e in events(services.store, 0, None)]


def text_of(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=str)


async def a_conversation(api: Api) -> dict[str, Any]:
    """Zebulon (to be deleted) and Other, with a listing, a message each, a profile change."""
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    me, token = await api.signup(
        email=email, display_name="Zebulon Quarkwright", phone="+33612345678"
    )
    other_email = f"{uuid.uuid4().hex[:10]}@example.org"
    other, other_token = await api.signup(email=other_email, display_name="Odile Prenderghast")
    theirs = await listing(api, other_token, title="Red kettle")
    await api.call("patch", "/v1/users/me", token, json={"bio": "kettle collector in Lyon"})
    room = (await api.call("post", "/v1/rooms", token, json={"product_id": theirs["id"]})).json
    url = f"/v1/rooms/{room['id']}/messages"
    await api.call("post", url, token, json={"text": "still there? call me"})
    await api.call("post", url, other_token, json={"text": "yes, Odile here"})
    return {"me": me, "token": token, "email": email, "other": other, "other_email": other_email}


async def test_a_deleted_persons_events_lose_their_personal_facts_and_others_keep_theirs(
    api: Api, services: Services
) -> None:
    c = await a_conversation(api)
    mine = ("Zebulon", c["email"], "+33612345678", "kettle collector")
    # the conversation stays with the other party, in the graph and so in the log
    theirs = ("Odile Prenderghast", c["other_email"], "yes, Odile here", "still there?")
    before = text_of(await exported(services))
    assert all(needle in before for needle in (*mine, *theirs))

    gone = await api.call("delete", "/v1/users/me", c["token"], json={"password": PASSWORD})
    assert gone.status == 204, gone.text

    log = await exported(services)
    after = text_of(log)
    assert [n for n in mine if n in after] == []
    assert [n for n in theirs if n not in after] == []
    # the events themselves stay, marked erased where facts were taken out
    by_me = [e for e in log if e["actor_id"] == c["me"]["id"]]
    types = {e["type"] for e in by_me}
    assert {"user.signed_up", "user.updated", "message.sent", "user.deleted"} <= types
    signed_up = next(e for e in by_me if e["type"] == "user.signed_up")
    assert signed_up["erased"] is True
    assert signed_up["data"]["email"] is None
    assert signed_up["data"]["id"] == c["me"]["id"]


async def test_an_erasure_cut_short_is_finished_by_the_worker(api: Api, services: Services) -> None:
    c = await a_conversation(api)
    user_id = c["me"]["id"]
    # the deletion's own finish "crashes" before erasing: the mark stays, as a crash leaves it
    ending = services.lifecycle._ending
    finish = ending.finish

    async def crashed(_: str) -> bool:
        return False

    ending.finish = crashed  # type: ignore[method-assign]
    try:
        gone = await api.call("delete", "/v1/users/me", c["token"], json={"password": PASSWORD})
        assert gone.status == 204, gone.text
    finally:
        ending.finish = finish  # type: ignore[method-assign]
    assert "Zebulon" in text_of(await exported(services))

    # the worker takes the mark once it is due
    due_now = "MATCH (u:User {id: $id}) SET u.deals_end_due_at = 0"
    await services.store.run_text(due_now, {"id": user_id}, write=True)
    for due in await ending.due(1, 10):
        await ending.fire(due["id"], due["status"], due["event"])
    assert "Zebulon" not in text_of(await exported(services))
    assert await read(
        services, "MATCH (u:User {id: $id}) RETURN u.deals_end_at AS at", id=user_id
    ) == [{"at": None}]


async def test_a_deleted_persons_impressions_go_and_others_stay(
    api: Api, services: Services, settings: Settings
) -> None:
    """What the feed dealt a person (`feed.dealt`, operational) goes with their account."""
    c = await a_conversation(api)
    _, other_token = await api.signup(display_name="Third")
    for token in (c["token"], other_token):
        deck = await api.call("get", "/v1/feed?limit=5", token)
        assert deck.status == 200 and deck.json["items"], deck.text
    await flush_impressions(services.store, services.redis, settings.redis_prefix)
    dealt = "MATCH (e:Event {type: 'feed.dealt'}) RETURN e.actor_id AS actor ORDER BY actor"
    assert c["me"]["id"] in [r["actor"] for r in await read(services, dealt)]
    gone = await api.call("delete", "/v1/users/me", c["token"], json={"password": PASSWORD})
    assert gone.status == 204, gone.text
    left = [r["actor"] for r in await read(services, dealt)]
    assert left and c["me"]["id"] not in left
