"""Realtime delivery against real servers: two server processes (one worker each) on one
database and one Redis, clients on either, pushes crossing between them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from api.realtime import SocketCaps
from bench.common import free_port, wait_up
from tests.conftest import png_bytes

VENDR = Path(sys.executable).with_name("vendr")
SERVED_ENV: dict[str, str] = {}  # the servers' settings, for admin commands on their graph


@pytest.fixture(scope="module")
def two_servers(data_dir: Path) -> Iterator[tuple[str, str]]:
    env = os.environ | {
        "VENDR_DATA_DIR": str(data_dir),
        "VENDR_GRAPH_NAME": f"rt_{uuid.uuid4().hex[:8]}",
        "VENDR_REDIS_PREFIX": f"rt:{uuid.uuid4().hex[:8]}:",
        "VENDR_WORKERS": "1",
        "VENDR_RATE_LIMITS": "off",
        "VENDR_ARGON2_MEMORY_KIB": "8192",
        "VENDR_ARGON2_TIME_COST": "1",
        "VENDR_JOBS_INTERVAL_SECONDS": "0",
    }
    SERVED_ENV.clear()
    SERVED_ENV.update(env)
    procs, bases = [], []
    try:
        for n in range(2):
            port = free_port()
            # their output to a file: a pipe nobody reads fills up and stops the server
            with open(data_dir / f"rt-server-{n}-{port}.log", "wb") as log:
                proc = subprocess.Popen(
                    [str(VENDR), "serve"],
                    env=env | {"VENDR_PORT": str(port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            procs.append(proc)
            base = f"http://127.0.0.1:{port}"
            wait_up(f"{base}/v1/heartbeat", proc)
            bases.append(base)
        yield bases[0], bases[1]
    finally:
        for proc in procs:
            with contextlib.suppress(AssertionError):
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def signup(base: str, name: str) -> tuple[dict[str, Any], str]:
    body = {
        "email": f"{name}-{uuid.uuid4().hex[:6]}@example.org",
        "password": "long enough",
        "display_name": name,
    }
    response = httpx.post(f"{base}/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return response.json()["user"], response.json()["token"]


def call(base: str, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, base + path, headers={"authorization": f"Bearer {token}"}, **kw)


def setup_room(a: str, b: str) -> dict[str, Any]:
    seller, seller_token = signup(a, "seller")
    buyer, buyer_token = signup(b, "buyer")
    _, stranger_token = signup(a, "stranger")
    image = call(
        a,
        "POST",
        "/v1/images",
        seller_token,
        files={"image": ("p.png", png_bytes(color="navy"), "image/png")},
    ).json()["id"]
    product = call(
        a,
        "POST",
        "/v1/products",
        seller_token,
        json={
            "title": "Record player",
            "price": {"amount": 4000, "currency": "EUR"},
            "location": {"lat": 52.37, "lon": 4.89},
            "image_ids": [image],
        },
    ).json()
    room = call(b, "POST", "/v1/rooms", buyer_token, json={"product_id": product["id"]}).json()
    return {
        "seller": seller,
        "seller_token": seller_token,
        "buyer": buyer,
        "buyer_token": buyer_token,
        "stranger_token": stranger_token,
        "room": room,
    }


def say(base: str, s: dict[str, Any], text: str) -> httpx.Response:
    """The seller writes in the room, through the server at `base`."""
    room = f"/v1/rooms/{s['room']['id']}/messages"
    return call(base, "POST", room, s["seller_token"], json={"text": text})


def ws_url(base: str, token: str, after: str | None = None) -> str:
    url = base.replace("http://", "ws://") + f"/v1/ws?token={token}"
    return url + (f"&after={after}" if after else "")


async def next_push(ws: Any, wait: float = 5.0) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if frame["type"] != "ready":
            return frame


async def test_a_message_sent_through_one_server_reaches_a_socket_on_the_other(
    two_servers: tuple[str, str],
) -> None:
    a, b = two_servers
    s = setup_room(a, b)
    room_id = s["room"]["id"]
    async with (
        connect(ws_url(a, s["buyer_token"])) as buyer_ws,
        connect(ws_url(b, s["seller_token"])) as seller_ws,
        connect(ws_url(a, s["stranger_token"])) as stranger_ws,
    ):
        for ws in (buyer_ws, seller_ws, stranger_ws):
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "ready"
        sent = say(b, s, "Still available!")
        assert sent.status_code == 201
        push = await next_push(buyer_ws)
        assert push["type"] == "message.created"
        assert push["room_id"] == room_id
        assert push["message"]["text"] == "Still available!"
        assert push["message"]["id"] == sent.json()["id"]
        # the sender's own connections hear it too (another device, the same user)
        assert (await next_push(seller_ws))["message"]["id"] == sent.json()["id"]
        # and someone outside the room hears nothing
        with pytest.raises(TimeoutError):
            await next_push(stranger_ws, wait=1.0)


async def test_an_offline_client_catches_up_from_history_and_on_reconnect(
    two_servers: tuple[str, str],
) -> None:
    a, b = two_servers
    s = setup_room(a, b)
    first = say(a, s, "first").json()
    # the buyer is offline for these two
    for text in ("second", "third"):
        assert say(a, s, text).status_code == 201
    rooms = call(b, "GET", "/v1/rooms?role=buyer", s["buyer_token"]).json()["items"]
    assert rooms[0]["unread"] == 3
    assert rooms[0]["last_message"]["text"] == "third"
    async with connect(ws_url(b, s["buyer_token"], after=first["id"])) as ws:
        replayed = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    assert [f.get("message", {}).get("text") for f in replayed] == ["second", "third", None]
    assert replayed[-1]["type"] == "ready"


async def test_bad_tokens_never_connect(two_servers: tuple[str, str]) -> None:
    a, _ = two_servers
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url(a, "not-a-token"))
    assert refused.value.response.status_code == 401
    # a first-frame token that is wrong closes the socket with 4401
    async with connect(a.replace("http://", "ws://") + "/v1/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "token": "wrong"}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 4401


def server_log(data_dir: Path, base: str) -> Path:
    """What the server at `base` (of `two_servers`) writes."""
    [log] = data_dir.glob(f"rt-server-*-{base.rsplit(':', 1)[1]}.log")
    return log


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("[" * 400 + "]" * 400, 4400, "the frame is nested deeper than 32 levels"),
        ("[" * 2000 + "]" * 2000, 4400, "the frame is nested deeper than 32 levels"),
        (json.dumps({"type": "auth", "x": [0] * 1001}), 4400, "has more than 1000 items"),
        (json.dumps({"type": "auth", "token": "a\x00b"}), 4422, "NUL bytes"),
        ("{not json", 4400, "the frame is not valid JSON"),
        (json.dumps({"type": "auth", "token": "x" * 70_000}), 1009, ""),
    ],
)
async def test_a_bad_first_frame_closes_the_socket_with_a_reason_and_no_traceback(
    two_servers: tuple[str, str], data_dir: Path, frame: str, code: int, reason: str
) -> None:
    """The frame passes the checks a JSON body does; one past the body size limit is refused by
    the protocol (1009, message too big) before it is read."""
    a, _ = two_servers
    log = server_log(data_dir, a)
    logged_before = log.stat().st_size
    async with connect(a.replace("http://", "ws://") + "/v1/ws", max_size=None) as ws:
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert reason in closed.value.rcvd.reason
    await asyncio.sleep(0.2)  # what the server logs about it, flushed
    assert b"Traceback" not in log.read_bytes()[logged_before:]


async def test_first_frame_authentication(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    s = setup_room(a, b)
    async with connect(a.replace("http://", "ws://") + "/v1/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "token": s["buyer_token"]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "ready"
        say(b, s, "hello")
        assert (await next_push(ws))["message"]["text"] == "hello"


async def test_notifications_are_pushed_and_logout_closes_the_socket(
    two_servers: tuple[str, str],
) -> None:
    a, b = two_servers
    s = setup_room(a, b)
    product_id = s["room"]["product"]["id"]
    async with connect(ws_url(b, s["seller_token"])) as seller_ws:
        assert json.loads(await asyncio.wait_for(seller_ws.recv(), 5))["type"] == "ready"
        placed = call(
            a, "POST", f"/v1/products/{product_id}/orders", s["buyer_token"], json={"quantity": 1}
        )
        assert placed.status_code == 201, placed.text
        # the background worker beside the servers fans the order's outbox record out and
        # pushes the seller's in-app notification
        seen = []
        while not any(f["type"] == "notification.created" for f in seen):
            seen.append(await next_push(seller_ws, wait=10.0))
        note = next(f for f in seen if f["type"] == "notification.created")["notification"]
        assert note["type"] == "order.placed" and note["kind"] == "order"
        inbox = call(a, "GET", "/v1/notifications", s["seller_token"]).json()
        assert inbox["items"][0]["id"] == note["id"]

        assert call(a, "POST", "/v1/auth/logout", s["seller_token"]).status_code == 204
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(await next_push(seller_ws))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert frames[-1]["type"] == "session.revoked"


async def test_catch_up_leaves_out_rooms_a_block_hides(two_servers: tuple[str, str]) -> None:
    """Issue 15, finding 8: the socket applies the same rules as REST."""
    a, b = two_servers
    s = setup_room(a, b)
    room_id = s["room"]["id"]
    first = say(a, s, "first").json()
    say(a, s, "insult")
    blocked = call(b, "POST", f"/v1/users/{s['seller']['id']}/block", s["buyer_token"])
    assert blocked.status_code in (200, 201, 204), blocked.text
    assert call(b, "GET", f"/v1/rooms/{room_id}/messages", s["buyer_token"]).status_code == 404
    async with connect(ws_url(b, s["buyer_token"], after=first["id"])) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert frame["type"] == "ready"  # nothing replayed from the hidden room


async def test_sockets_are_capped_per_account_and_per_address(
    two_servers: tuple[str, str],
) -> None:
    a, _ = two_servers
    _, token = signup(a, "many-tabs")
    caps = SocketCaps()
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(caps.per_user):
            ws = await stack.enter_async_context(connect(ws_url(a, token)))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "ready"
        async with connect(ws_url(a, token)) as extra:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(extra.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    # unauthenticated sockets count against their address: they hold a slot while waiting
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(caps.per_address):
            await stack.enter_async_context(connect(a.replace("http://", "ws://") + "/v1/ws"))
        async with connect(a.replace("http://", "ws://") + "/v1/ws") as extra:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(extra.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    # slots come back when sockets close
    async with connect(ws_url(a, token)) as again:
        assert json.loads(await asyncio.wait_for(again.recv(), 5))["type"] == "ready"


async def closed_with(ws: Any, wait: float = 5.0) -> int | None:
    """The close code once the server closes the socket (pushes before it are read past)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), wait)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def silent(ws: Any, wait: float = 1.5) -> bool:
    """Nothing but the greeting arrives within `wait` seconds."""
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
            if frame["type"] != "ready":
                return False
    except TimeoutError:
        return True


async def test_the_socket_keeps_the_authorization_matrix(two_servers: tuple[str, str]) -> None:
    """Issue 15: the WebSocket in the authorization matrix. A room's traffic reaches its two
    parties only: a stranger's or a blocked party's socket gets neither the catch-up nor the
    live messages; nobody, a deleted and a suspended account get no socket, and the sockets
    they had are closed."""
    a, b = two_servers
    s = setup_room(a, b)
    first = say(a, s, "first").json()
    blocked_room = setup_room(a, b)  # the blocked one is the buyer of a second room
    blocked_token = blocked_room["buyer_token"]
    block = f"/v1/users/{blocked_room['buyer']['id']}/block"
    assert call(a, "POST", block, blocked_room["seller_token"]).status_code in (200, 201, 204)
    _, leaving_token = signup(a, "leaving")
    suspended, suspended_token = signup(a, "suspended")

    # nobody: a first frame without a token closes the socket
    async with connect(a.replace("http://", "ws://") + "/v1/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "token": ""}))
        assert await closed_with(ws) == 4401

    async with (
        connect(ws_url(b, s["buyer_token"])) as party,
        connect(ws_url(a, s["stranger_token"], after=first["id"])) as stranger,
        connect(ws_url(b, blocked_token, after=first["id"])) as blocked,
        connect(ws_url(a, leaving_token)) as leaving_ws,
        connect(ws_url(b, suspended_token)) as suspended_ws,
    ):
        say(a, s, "second")
        say(a, blocked_room, "to the blocked buyer")
        assert (await next_push(party))["message"]["text"] == "second"
        assert await silent(stranger) and await silent(blocked)

        deleted = call(a, "DELETE", "/v1/users/me", leaving_token, json={"password": "long enough"})
        assert deleted.status_code == 204, deleted.text
        assert await closed_with(leaving_ws) == 4401

        reported = call(
            a,
            "POST",
            "/v1/reports",
            s["seller_token"],
            json={"target": "user", "id": suspended["id"], "reason": "scam"},
        )
        assert reported.status_code == 201, reported.text
        decide = ["moderation", "resolve", reported.json()["id"], "--action", "suspend"]
        admin = await asyncio.create_subprocess_exec(  # the admin's decision, from the CLI
            str(VENDR), *decide, "--reason", "scam ring", env=SERVED_ENV
        )
        assert await asyncio.wait_for(admin.wait(), 60) == 0
        assert await closed_with(suspended_ws) == 4401

    for token in (leaving_token, suspended_token):
        with pytest.raises(InvalidStatus) as refused:
            await connect(ws_url(a, token))
        assert refused.value.response.status_code == 401
