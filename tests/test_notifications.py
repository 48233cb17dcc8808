"""Notifications end to end: outbox records written with the change, fanned out per person and
channel, delivered by the worker's round to a real SMTP server on localhost (aiosmtpd), the
development SMS files, Redis pushes and the in-app inbox; retries, crashes, batching, saved
searches and the channel settings."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from graph.bootstrap import Services
from tests.conftest import Api, read
from tests.test_catalog_api import listing
from tests.test_deals_api import order

# saved-search email digests go out at the end of each wall-clock period of this length
DIGEST_S = 2.0


class Inbox:
    """An SMTP server's handler: keeps what it accepts; `refuse` answers the next DATA
    commands with the given replies instead (a 451 is transient, a 550 permanent)."""

    def __init__(self) -> None:
        self.mail: list[dict[str, Any]] = []
        self.refuse: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse:
                return self.refuse.pop(0)
            message = message_from_bytes(envelope.content)
            self.mail.append(
                {
                    "to": list(envelope.rcpt_tos),
                    "subject": str(message["Subject"]),
                    "id": str(message["Message-ID"]),
                    "body": message.get_payload(decode=True).decode(),
                }
            )
        return "250 OK"

    def to(self, address: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.mail if address in m["to"]]


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd connects to it to see it is up)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def settings_overrides(smtp: tuple[Inbox, int]) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp[1],
        "smtp_security": "none",
        "notify_backoff_seconds": 0.05,
        "notify_lease_seconds": 0.3,
        "message_notify_after_seconds": 0.4,
        "search_digest_seconds": DIGEST_S,
        "code_resend_seconds": 2,
    }


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    smtp[0].refuse.clear()
    return smtp[0]


async def account(api: Api, **fields: Any) -> tuple[dict[str, Any], str, str]:
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    user, token = await api.signup(email=email, **fields)
    return user, token, email


async def settle(services: Services, rounds: int = 1) -> None:
    for _ in range(rounds):
        await services.outbox.round()


async def notes(services: Services, user_id: str) -> list[dict[str, Any]]:
    return await read(
        services,
        "MATCH (n:Notification {user_id: $u}) RETURN n.channel AS channel, n.type AS type, "
        "n.status AS status, n.attempts AS attempts, n.error AS error, n.secret AS secret "
        "ORDER BY n.created_at",
        u=user_id,
    )


async def test_an_order_notifies_the_seller_by_mail_app_and_push(
    api: Api, services: Services, inbox: Inbox
) -> None:
    seller, seller_token, seller_email = await account(api, display_name="Seller")
    _, buyer_token, buyer_email = await account(api, display_name="Buyer")
    product = await listing(api, seller_token, title="Brass lamp")
    pubsub = services.redis.pubsub()
    await pubsub.subscribe(services.notifier.channel(seller["id"]))

    placed = await order(api, buyer_token, product["id"])
    assert placed.status == 201, placed.text
    # the outbox record is in the graph with the order, before any worker ran
    pending = await read(
        services, "MATCH (o:Outbox {type: 'order.placed'}) RETURN o.recipients AS r"
    )
    assert pending == [{"r": [seller["id"]]}]

    await settle(services)
    mails = inbox.to(seller_email)
    assert len(mails) == 1 and "Brass lamp" in mails[0]["subject"]
    assert "/rooms/" in mails[0]["body"]
    assert inbox.to(buyer_email) == []  # the buyer placed it: nobody tells them

    page = await api.call("get", "/v1/notifications", seller_token)
    assert page.status == 200 and page.json["unread"] == 1
    (item,) = page.json["items"]
    assert item["kind"] == "order" and item["type"] == "order.placed" and item["read_at"] is None

    pushes = []
    for _ in range(20):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message:
            pushes.append(json.loads(message["data"]))
        if any(p["type"] == "notification.created" for p in pushes):
            break
    assert any(p["type"] == "notification.created" for p in pushes)
    await pubsub.aclose()

    read_all = await api.call("post", "/v1/notifications/read", seller_token, json={"all": True})
    assert read_all.json == {"unread": 0}
    # a second round finds nothing left to send
    await settle(services)
    assert len(inbox.to(seller_email)) == 1


async def test_a_crash_between_sending_and_recording_sends_once(
    api: Api, services: Services, inbox: Inbox
) -> None:
    seller, seller_token, seller_email = await account(api, display_name="Seller")
    _, buyer_token, _ = await account(api, display_name="Buyer")
    product = await listing(api, seller_token)
    await order(api, buyer_token, product["id"])

    class Died(Exception):
        """The worker's death, right after the mail went out."""

    async def die(row: dict[str, Any]) -> None:
        if row["channel"] == "email":
            raise Died(row["id"])

    services.outbox.after_send = die
    with pytest.raises(Died):
        await settle(services)  # the mail went out, then the worker died before recording
    services.outbox.after_send = None
    assert len(inbox.to(seller_email)) == 1
    states = {n["channel"]: n["status"] for n in await notes(services, seller["id"])}
    assert states["email"] == "sending"

    await asyncio.sleep(0.4)  # the lease runs out: another round claims it again
    await settle(services)
    assert len(inbox.to(seller_email)) == 1  # recorded as sent, not sent twice
    states = {n["channel"]: n["status"] for n in await notes(services, seller["id"])}
    assert states == {"app": "sent", "email": "sent"}


async def test_smtp_failures_are_retried_with_backoff_and_permanent_ones_recorded(
    api: Api, services: Services, inbox: Inbox
) -> None:
    seller, seller_token, seller_email = await account(api, display_name="Seller")
    _, buyer_token, _ = await account(api, display_name="Buyer")
    product = await listing(api, seller_token)
    inbox.refuse = ["451 4.3.0 try again later", "421 4.7.0 busy"]
    await order(api, buyer_token, product["id"])
    await settle(services)
    (email,) = [n for n in await notes(services, seller["id"]) if n["channel"] == "email"]
    assert email["status"] == "pending" and "451" in email["error"]
    # not due at once: the retry waits its backoff
    await settle(services)
    for _ in range(40):
        await asyncio.sleep(0.05)
        await settle(services)
        (email,) = [n for n in await notes(services, seller["id"]) if n["channel"] == "email"]
        if email["status"] == "sent":
            break
    assert email["status"] == "sent" and email["attempts"] == 3
    assert len(inbox.to(seller_email)) == 1

    _, other_seller, other_email = await account(api, display_name="Seller two")
    other_product = await listing(api, other_seller)
    inbox.refuse = ["550 5.1.1 no such mailbox"]
    await order(api, buyer_token, other_product["id"])
    await settle(services, 3)
    owner = (await api.call("get", "/v1/users/me", other_seller)).json["id"]
    (failed,) = [n for n in await notes(services, owner) if n["channel"] == "email"]
    assert failed["status"] == "failed" and failed["attempts"] == 1 and "550" in failed["error"]
    assert inbox.to(other_email) == []


async def test_an_offline_seller_gets_one_email_for_a_burst_of_messages(
    api: Api, services: Services, inbox: Inbox
) -> None:
    _, seller_token, seller_email = await account(api, display_name="Seller")
    _, buyer_token, buyer_email = await account(api, display_name="Buyer")
    product = await listing(api, seller_token, title="Green sofa")
    room = (
        await api.call("post", "/v1/rooms", buyer_token, json={"product_id": product["id"]})
    ).json
    for n in range(5):
        sent = await api.call(
            "post", f"/v1/rooms/{room['id']}/messages", buyer_token, json={"text": f"hello {n}"}
        )
        assert sent.status == 201, sent.text
    await settle(services)
    assert inbox.to(seller_email) == []  # not yet: the conversation is not quiet
    await asyncio.sleep(0.5)
    await settle(services)
    await asyncio.sleep(0.5)
    await settle(services)
    mails = inbox.to(seller_email)
    assert len(mails) == 1 and mails[0]["subject"].startswith("5 unread messages about Green sofa")
    assert inbox.to(buyer_email) == []  # the sender is never told of their own lines

    # the seller reads and answers: the buyer, who has read nothing since, gets one mail;
    # someone who has read the room gets none
    await api.call("post", f"/v1/rooms/{room['id']}/read", seller_token)
    await api.call("post", f"/v1/rooms/{room['id']}/messages", seller_token, json={"text": "yes"})
    await api.call("post", f"/v1/rooms/{room['id']}/read", buyer_token)
    await asyncio.sleep(0.5)
    await settle(services, 2)
    assert inbox.to(buyer_email) == []
    assert len(inbox.to(seller_email)) == 1


async def test_a_saved_search_alerts_on_a_matching_listing_and_not_on_others(
    api: Api, services: Services, inbox: Inbox
) -> None:
    watcher, watcher_token, watcher_email = await account(api, display_name="Watcher")
    _, seller_token, _ = await account(api, display_name="Seller")
    saved = await api.call(
        "post",
        "/v1/users/me/searches",
        watcher_token,
        json={
            "name": "Lamps in Antwerp",
            "tags": ["Lamp"],
            "near": {"lat": 51.22, "lon": 4.40},
            "radius_km": 20,
            "max_price": 5000,
        },
    )
    assert saved.status == 201, saved.text
    assert saved.json["tags"] == ["lamp"] and saved.json["place"]["radius_km"] == 20
    antwerp = {"lat": 51.21, "lon": 4.42}
    price = {"amount": 3000, "currency": "EUR"}
    hit = await listing(
        api, seller_token, title="Lamp", tags=["lamp"], location=antwerp, price=price
    )
    await listing(api, seller_token, title="Chair", tags=["chair"], location=antwerp, price=price)
    await listing(
        api,
        seller_token,
        title="Far lamp",
        tags=["lamp"],
        location={"lat": 53.55, "lon": 9.99},
        price=price,
    )
    await listing(
        api,
        seller_token,
        title="Dear lamp",
        tags=["lamp"],
        location=antwerp,
        price={"amount": 9000, "currency": "EUR"},
    )
    await listing(
        api, watcher_token, title="My own lamp", tags=["lamp"], location=antwerp, price=price
    )
    # fan out just after a period begins, so the digest is not due within this round
    await asyncio.sleep(DIGEST_S - time.time() % DIGEST_S + 0.05)
    await settle(services)
    page = (await api.call("get", "/v1/notifications", watcher_token)).json
    assert [(i["type"], i["link"]) for i in page["items"]] == [
        ("search.match", f"/products/{hit['id']}")
    ]
    assert "Lamps in Antwerp" in page["items"][0]["title"]
    assert inbox.to(watcher_email) == []  # email is a digest, due when the period ends
    await asyncio.sleep(DIGEST_S + 0.1)
    await settle(services)
    (digest,) = inbox.to(watcher_email)
    assert "1 new listings" in digest["subject"] and hit["id"] in digest["body"]

    listed = (await api.call("get", "/v1/users/me/searches", watcher_token)).json["items"]
    assert [s["id"] for s in listed] == [saved.json["id"]]
    gone = await api.call("delete", f"/v1/users/me/searches/{saved.json['id']}", watcher_token)
    assert gone.status == 204
    await listing(api, seller_token, title="Lamp 2", tags=["lamp"], location=antwerp, price=price)
    await settle(services)
    page = (await api.call("get", "/v1/notifications", watcher_token)).json
    assert len(page["items"]) == 1
    assert watcher["id"]


async def test_saved_searches_by_words_and_by_place_alone(api: Api, services: Services) -> None:
    _, watcher_token, _ = await account(api, display_name="Watcher")
    _, seller_token, _ = await account(api, display_name="Seller")
    by_words = await api.call(
        "post", "/v1/users/me/searches", watcher_token, json={"q": "Eames chair"}
    )
    by_place = await api.call(
        "post",
        "/v1/users/me/searches",
        watcher_token,
        json={"near": {"lat": 48.85, "lon": 2.35}, "radius_km": 5, "condition": "new"},
    )
    assert by_words.status == by_place.status == 201
    vague = await api.call("post", "/v1/users/me/searches", watcher_token, json={"max_price": 10})
    assert vague.status == 422 and "tags, words or a place" in vague.json["detail"]
    paris = {"lat": 48.86, "lon": 2.34}
    words = await listing(
        api,
        seller_token,
        title="Eames lounge",
        description="A real chair",
        tags=["design"],
        location={"lat": 40.0, "lon": -3.0},
    )
    place = await listing(api, seller_token, title="Kettle", condition="new", location=paris)
    await listing(api, seller_token, title="Used kettle", condition="used", location=paris)
    await listing(api, seller_token, title="Eames poster", tags=["design"])
    await settle(services)
    items = (await api.call("get", "/v1/notifications", watcher_token)).json["items"]
    assert sorted(i["link"] for i in items) == sorted(
        [f"/products/{words['id']}", f"/products/{place['id']}"]
    )


async def test_savers_hear_of_a_price_drop_and_settings_switch_channels(
    api: Api, services: Services, inbox: Inbox
) -> None:
    _, fan_token, fan_email = await account(api, display_name="Fan")
    _, seller_token, _ = await account(api, display_name="Seller")
    product = await listing(api, seller_token, title="Road bike")
    assert (await api.call("put", f"/v1/users/me/saved/{product['id']}", fan_token)).status == 204

    defaults = (await api.call("get", "/v1/users/me/notifications", fan_token)).json
    assert defaults["saved"] == {"app": True, "email": True, "sms": False}
    patched = await api.call(
        "patch", "/v1/users/me/notifications", fan_token, json={"saved": {"email": False}}
    )
    assert patched.status == 200 and patched.json["saved"] == {
        "app": True,
        "email": False,
        "sms": False,
    }
    bad = await api.call(
        "patch", "/v1/users/me/notifications", fan_token, json={"saved": {"pigeon": True}}
    )
    assert bad.status == 422

    up = await api.call(
        "patch",
        f"/v1/products/{product['id']}",
        seller_token,
        json={"price": {"amount": 20_000, "currency": "EUR"}},
    )
    assert up.status == 200
    down = await api.call(
        "patch",
        f"/v1/products/{product['id']}",
        seller_token,
        json={"price": {"amount": 9_900, "currency": "EUR"}},
    )
    assert down.status == 200, down.text
    await settle(services)
    items = (await api.call("get", "/v1/notifications", fan_token)).json["items"]
    assert [i["type"] for i in items] == ["saved.price_drop"]  # a rise is no news
    assert "€99.00" in items[0]["body"] and "€200.00" in items[0]["body"]
    assert inbox.to(fan_email) == []  # switched off by the fan


async def test_the_development_sms_and_mail_land_as_private_files(
    services: Services, api: Api, tmp_path: Path
) -> None:
    from graph.notify.channels import Email, FileMailer, FileSms, Sms

    mailer, sms = FileMailer(tmp_path / "mail", "Vendr <a@b.c>"), FileSms(tmp_path / "sms")
    await mailer.send(Email(to="x@example.org", subject="Hi", text="Code 1", message_id="<m1@b.c>"))
    await sms.send(Sms(to="+32470123456", text="Code 2", key="s1"))
    (eml,) = (tmp_path / "mail").iterdir()
    (txt,) = (tmp_path / "sms").iterdir()
    assert "Code 1" in eml.read_text() and "+32470123456" in txt.read_text()
    assert eml.stat().st_mode & 0o077 == 0 and txt.stat().st_mode & 0o077 == 0


def code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


async def test_the_background_loop_delivers_as_soon_as_it_is_woken(
    api: Api, services: Services, inbox: Inbox
) -> None:
    from graph.notify.outbox import run_outbox

    _, seller_token, seller_email = await account(api, display_name="Seller")
    _, buyer_token, _ = await account(api, display_name="Buyer")
    product = await listing(api, seller_token)
    stop = asyncio.Event()
    # a long poll interval: only the wake-up written after the order can be this quick
    loop = asyncio.create_task(
        run_outbox(services.outbox, services.redis, services.settings.redis_prefix, 30.0, stop)
    )
    try:
        await asyncio.sleep(0.2)
        await order(api, buyer_token, product["id"])
        for _ in range(50):
            if inbox.to(seller_email):
                break
            await asyncio.sleep(0.1)
        assert len(inbox.to(seller_email)) == 1
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)


async def test_savers_hear_when_a_saved_listing_sells_or_expires(
    api: Api, services: Services
) -> None:
    _, fan_token, _ = await account(api, display_name="Fan")
    _, seller_token, _ = await account(api, display_name="Seller")
    _, buyer_token, _ = await account(api, display_name="Buyer")
    sold = await listing(api, seller_token, title="Sold lamp")
    lapsing = await listing(api, seller_token, title="Old lamp")
    for product in (sold, lapsing):
        saved = await api.call("put", f"/v1/users/me/saved/{product['id']}", fan_token)
        assert saved.status == 204
    order_id = (await order(api, buyer_token, sold["id"])).json["id"]
    assert (await api.call("post", f"/v1/orders/{order_id}/confirm", seller_token)).status == 200
    assert (await api.call("post", f"/v1/orders/{order_id}/complete", buyer_token)).status == 200
    await services.store.run_text(
        "MATCH (p:Product {id: $id}) SET p.expires_at = 1 RETURN p.id",
        {"id": lapsing["id"]},
        write=True,
    )
    assert await services.jobs.expire() == 1
    await settle(services)
    items = (await api.call("get", "/v1/notifications", fan_token)).json["items"]
    assert sorted((i["type"], i["link"]) for i in items) == sorted(
        [("saved.sold", f"/products/{sold['id']}"), ("saved.expired", f"/products/{lapsing['id']}")]
    )
    # the buyer, who did not save it, hears of the order's moves but not of the sale to savers
    buyer_items = (await api.call("get", "/v1/notifications", buyer_token)).json["items"]
    assert {i["kind"] for i in buyer_items} <= {"order"}
