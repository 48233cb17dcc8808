"""The event log tells the whole story: a marketplace built through the real app (sign-ups,
listings and their edits, saves, swipes, searches, chat, negotiations with counters and timers,
orders paid by card, payouts, refunds, reviews, moderation, an account's deletion), exported,
replayed into the emptied graph, dumps to exactly the facts it had, on both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from graph.background.jobs import PURGE_EVENTS, VOLUME_EVENTS
from graph.bootstrap import Services
from graph.eventlog import differences, dump, export, replay
from graph.infra.events import SOURCES, UPCASTERS, upcast
from graph.infra.ids import new_id, now_ms
from seeds.loader import seed
from tests.conftest import Api, png_bytes
from tests.test_catalog_api import image, listing
from tests.test_deals_api import offer, parties
from tests.test_money import FEE_BPS, MINIMUM, capture, complete, onboard, payout, refund
from tests.test_money import authorise as authorise_order
from tests.test_payments import deliver

pytestmark = pytest.mark.usefixtures("ledger_checked")

OFFER_TTL_S = 0.4


# paid orders, payouts at once, offers that expire while the test waits
MARKET = {
    "order_payment": True,
    "platform_fee_bps": FEE_BPS,
    "payout_hold_seconds": 0,
    "payout_minimum": MINIMUM,
    "offer_ttl_seconds": OFFER_TTL_S,
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return MARKET


def ok(response: Any, status: int = 200) -> Any:
    assert response.status == status, response.text
    return response.json


async def log_of(services: Services) -> list[dict[str, Any]]:
    return [row async for row in export.events(services.store, 0, None)]


async def each(rows: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        # through JSON, as a file written by `vendr events export` holds it
        yield json.loads(json.dumps(row))


async def build(api: Api, services: Services) -> dict[str, Any]:
    """A small marketplace with a little of everything, made through the API."""
    seller, buyer, stranger, _ = await parties(api)
    me = ok(await api.call("get", "/v1/users/me", seller))
    buyer_me = ok(await api.call("get", "/v1/users/me", buyer))
    stranger_me = ok(await api.call("get", "/v1/users/me", stranger))

    # profiles, avatars, socials, interests, blocks
    ok(await api.call("patch", "/v1/users/me", seller, json={"bio": "Old lamps, fixed"}))
    face = {"image": ("me.png", png_bytes(color="navy"), "image/png")}
    ok(await api.call("put", "/v1/users/me/avatar", seller, files=face))
    ok(
        await api.call(
            "post", "/v1/users/me/socials", buyer, json={"provider": "github", "handle": "bo_gh"}
        ),
        201,
    )
    ok(await api.call("post", f"/v1/users/{stranger_me['id']}/block", buyer), 204)
    ok(await api.call("delete", f"/v1/users/{stranger_me['id']}/block", buyer), 204)

    # listings: with photos, edited (price drop, tags, photos), renewed, deleted
    photo = await image(api, seller, "red")
    lamp = await listing(api, seller, title="Brass lamp", tags=["lamp", "brass"], image_ids=[photo])
    ok(
        await api.call(
            "patch",
            f"/v1/products/{lamp['id']}",
            seller,
            json={"price": {"amount": 9_000, "currency": "EUR"}, "tags": ["lamp", "vintage"]},
        )
    )
    ok(await api.call("post", f"/v1/products/{lamp['id']}/renew", seller))
    gone = await listing(api, seller, title="Broken chair")
    ok(await api.call("delete", f"/v1/products/{gone['id']}", seller), 204)

    # the buyer browses: saves, swipes, views, a saved search
    ok(await api.call("put", f"/v1/users/me/saved/{lamp['id']}", buyer), 204)
    ok(await api.call("post", f"/v1/products/{lamp['id']}/swipe", buyer, json={"dir": "right"}))
    ok(await api.call("get", f"/v1/products/{lamp['id']}", buyer))
    ok(await api.call("post", "/v1/users/me/searches", buyer, json={"tags": ["lamp"]}), 201)

    # chat
    room = ok(await api.call("post", "/v1/rooms", buyer, json={"product_id": lamp["id"]}), 200)
    ok(await api.call("post", f"/v1/rooms/{room['id']}/messages", buyer, json={"text": "Hi!"}), 201)
    ok(
        await api.call(
            "post", f"/v1/rooms/{room['id']}/messages", seller, json={"text": "Hello, yes"}
        ),
        201,
    )
    ok(await api.call("post", f"/v1/rooms/{room['id']}/read", buyer), 204)

    # a negotiation with counters, accepted: an order waiting for its payment
    first = ok(await offer(api, buyer, lamp["id"], 7_000, message="70?"), 201)
    countered = ok(
        await api.call("post", f"/v1/offers/{first['id']}/counter", seller, json={"amount": 8_500})
    )
    ok(await api.call("post", f"/v1/offers/{countered['id']}/accept", buyer))
    # an offer nobody answers expires on its timer
    chair = await listing(api, seller, title="Oak chair")
    ok(await offer(api, stranger, chair["id"], 5_000), 201)
    await asyncio.sleep(OFFER_TTL_S + 0.1)
    fired = await services.deal_timers.run_once()
    assert fired, "the offer's timer fired"

    # an order paid by card, captured, completed, reviewed both ways, paid out, refunded in part
    table = await listing(api, seller, title="Oak table")
    deal = await authorise_order(api, services, (seller, buyer, stranger), table)
    await capture(api, services, deal)
    await complete(api, deal)
    ok(
        await api.call(
            "post",
            f"/v1/orders/{deal.order_id}/review",
            buyer,
            json={"rating": 5, "comment": "Lovely table"},
        ),
        201,
    )
    ok(
        await api.call(
            "post",
            f"/v1/orders/{deal.order_id}/review",
            seller,
            json={"rating": 4, "comment": "Paid fast"},
        ),
        201,
    )
    assert await services.payouts.release_due() == 1
    await onboard(api, services, seller)
    ok(await payout(api, seller), 201)
    await deliver(api, services)
    ok(await refund(api, seller, deal, 1_000))
    await deliver(api, services)

    # a report, and the moderators hide the listing it names
    filed = ok(
        await api.call(
            "post",
            "/v1/reports",
            stranger,
            json={"target": "product", "id": chair["id"], "reason": "counterfeit"},
        ),
        201,
    )
    await services.moderation.resolve(filed["id"], "hide", admin="mod_ann", reason="fake")

    # the stranger leaves: their account is deleted
    ok(
        await api.call(
            "delete", "/v1/users/me", stranger, json={"password": "correct horse battery"}
        ),
        204,
    )
    await services.jobs.run_once()
    return {"seller": me["id"], "buyer": buyer_me["id"], "stranger": stranger_me["id"]}


async def test_a_marketplace_replayed_from_its_log_is_the_same_marketplace(
    api: Api, services: Services
) -> None:
    await build(api, services)
    before = await dump(services.store)
    log = await log_of(services)
    sources = [e for e in log if e.get("via")]
    assert len(sources) > 40
    for event in sources:  # every source event holds the facts its schema declares
        upcast(event["via"], event["version"], event["data"])
        assert event["type"] == SOURCES[event["via"]].type or event["type"]

    await services.store.drop_all()
    await services.store.ensure_schema()
    assert await dump(services.store) == []
    done = await replay(services.store, each(log))
    assert done.diverged == [], done.summary()
    assert done.applied == len(sources)
    after = await dump(services.store)
    assert differences(before, after) == []
    assert after == before

    # replayed again: every event is already there, nothing changes
    again = await replay(services.store, each(log))
    assert (again.applied, again.skipped) == (0, len(sources))
    assert await dump(services.store) == before


async def test_a_seeded_marketplace_replays_a_batch_at_a_time(services: Services) -> None:
    """The demo data and the benchmark sets are bulk loads: each batch one event, replayed as
    one statement again."""
    loaded = await seed(services, users=30, products=80, interactions=600, seed=5)
    before = await dump(services.store)
    log = await log_of(services)
    batches = [e for e in log if e.get("via", "").startswith("seeds.")]
    assert len(batches) >= 10
    assert sum(len(e["data"]["rows"]) for e in batches if e["via"] == "seeds.products") == 80
    assert all("password_hash" not in e["data"] for e in batches)  # a secret stays out

    await services.store.drop_all()
    done = await replay(services.store, each(log))
    assert done.diverged == [], done.summary()
    assert differences(before, await dump(services.store)) == []
    assert loaded.products == 80


async def test_after_the_retention_purge_all_but_activity_replays(
    api: Api, services: Services
) -> None:
    """Views, passes, reads and logins go after the retention period: a replay then rebuilds
    every other fact; a pass that took a like back is a decision, kept, so the like stays gone."""
    seller, buyer, _, first = await parties(api)
    lamp = await listing(api, seller, title="Brass lamp")
    ok(await api.call("get", f"/v1/products/{first['id']}", buyer))
    ok(await api.call("post", f"/v1/products/{first['id']}/swipe", buyer, json={"dir": "left"}))
    for way in ("right", "left"):  # liked, then taken back
        ok(await api.call("post", f"/v1/products/{lamp['id']}/swipe", buyer, json={"dir": way}))
    room = ok(await api.call("post", "/v1/rooms", buyer, json={"product_id": lamp["id"]}))
    ok(await api.call("post", f"/v1/rooms/{room['id']}/messages", seller, json={"text": "Hi"}), 201)
    ok(await api.call("post", f"/v1/rooms/{room['id']}/read", buyer), 204)

    assert await services.jobs.flush_views() == 1  # views are queued: the worker counts them
    await asyncio.sleep(0.01)
    params = {"cutoff": now_ms(), "types": list(VOLUME_EVENTS), "batch": 1000}
    assert (await services.store.run(PURGE_EVENTS, params))[0]["n"] >= 3
    log = await log_of(services)
    types = {e["type"] for e in log}
    assert "product.unliked" in types and not types & set(VOLUME_EVENTS)

    before = await dump(services.store, activity=False)
    await services.store.drop_all()
    done = await replay(services.store, each(log))
    assert done.diverged == [], done.summary()
    assert differences(before, await dump(services.store, activity=False)) == []
    liked = await services.store.run_text(
        "MATCH (:User)-[l:LIKED]->(:Product {id: $id}) RETURN count(l) AS n",
        {"id": lamp["id"]},
        write=False,
    )
    assert liked == [{"n": 0}]


async def test_facts_of_an_older_version_are_upcast_before_they_are_applied(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement whose facts changed shape (here: as if `accounts.block` once named its
    facts `by` and `whom`) is at version 2; a version-1 event in a log is upcast, then applied."""
    me, _ = await api.signup()
    them, _ = await api.signup()
    src = SOURCES["accounts.block"]
    monkeypatch.setitem(SOURCES, "accounts.block", replace(src, version=2))
    monkeypatch.setitem(
        UPCASTERS,
        ("accounts.block", 1),
        lambda facts: {"user_id": facts["by"], "other_id": facts["whom"]},
    )
    old = {
        "id": new_id(),
        "type": "user.blocked",
        "at": now_ms(),
        "actor_id": me["id"],
        "subject_id": them["id"],
        "via": "accounts.block",
        "version": 1,
        "data": {"by": me["id"], "whom": them["id"]},
    }
    done = await replay(services.store, each([old]))
    assert (done.applied, done.diverged) == (1, [])
    blocked = await services.store.run_text(
        "MATCH (:User {id: $a})-[b:BLOCKED]->(:User {id: $b}) RETURN count(b) AS n",
        {"a": me["id"], "b": them["id"]},
        write=False,
    )
    assert blocked == [{"n": 1}]
    # the event as applied holds the facts at the current version
    [again] = [e for e in await log_of(services) if e["id"] == old["id"]]
    assert (again["version"], again["data"]) == (2, {"user_id": me["id"], "other_id": them["id"]})
    newer = old | {"id": new_id(), "version": 3}
    with pytest.raises(ValueError, match="newer"):
        await replay(services.store, each([newer]))
