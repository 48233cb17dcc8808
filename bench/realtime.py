"""Chat benchmark: send-to-receive latency across two server processes, and sustained
messages per second, through the real HTTP + WebSocket API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop
from PIL import Image

from bench.common import BIN, ROOT, free_port, machine, percentile, server
from graph.infra import embedded

REPORT = ROOT / "bench" / "realtime.md"


def _png() -> bytes:
    import io

    out = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(out, "PNG")
    return out.getvalue()


async def _json(
    session: aiohttp.ClientSession, method: str, url: str, token: str | None = None, **kw: Any
) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, headers=headers, **kw) as response:
        assert response.status in (200, 201), await response.text()
        return await response.json()


async def _pair(session: aiohttp.ClientSession, a: str, b: str) -> dict[str, Any]:
    """A seller, a buyer and their room."""
    users = []
    for role in ("seller", "buyer"):
        body = {
            "email": f"{role}-{uuid.uuid4().hex[:8]}@bench.test",
            "password": "bench pass",
            "display_name": role,
        }
        users.append(await _json(session, "POST", f"{a}/v1/auth/signup", json=body))
    seller, buyer = users
    form = aiohttp.FormData()
    form.add_field("image", _png(), filename="p.png", content_type="image/png")
    image = await _json(session, "POST", f"{a}/v1/images", seller["token"], data=form)
    product = await _json(
        session,
        "POST",
        f"{a}/v1/products",
        seller["token"],
        json={
            "title": "Bench lamp",
            "price": {"amount": 1000, "currency": "EUR"},
            "location": {"lat": 52.37, "lon": 4.89},
            "image_ids": [image["id"]],
        },
    )
    room = await _json(
        session, "POST", f"{b}/v1/rooms", buyer["token"], json={"product_id": product["id"]}
    )
    return {"seller": seller["token"], "buyer": buyer["token"], "room": room["id"]}


@contextlib.asynccontextmanager
async def _socket(
    session: aiohttp.ClientSession, base: str, token: str
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with session.ws_connect(base.replace("http", "ws") + f"/v1/ws?token={token}") as ws:
        ready = orjson.loads((await ws.receive()).data)
        assert ready["type"] == "ready"
        yield ws


async def run(pairs: int, messages: int, seconds: float) -> str:
    data_dir = ROOT / "var" / "bench-realtime"
    embedded.stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    embedded.start(data_dir)
    ports = free_port(), free_port()
    env = {
        "VENDR_DATA_DIR": str(data_dir),
        "VENDR_WORKERS": "1",
        "VENDR_RATE_LIMITS": "off",
        "VENDR_JOBS_INTERVAL_SECONDS": "0",
    }
    a, b = (f"http://127.0.0.1:{p}" for p in ports)
    try:
        with (
            server(
                [str(BIN / "vendr"), "serve"],
                env | {"VENDR_PORT": str(ports[0])},
                a + "/v1/heartbeat",
            ),
            server(
                [str(BIN / "vendr"), "serve"],
                env | {"VENDR_PORT": str(ports[1])},
                b + "/v1/heartbeat",
            ),
        ):
            async with aiohttp.ClientSession() as session:
                rooms = [await _pair(session, a, b) for _ in range(pairs)]
                latencies = await _latency(session, a, b, rooms[0], messages)
                delivery = await _throughput(session, a, b, rooms, seconds)
    finally:
        embedded.stop(data_dir)
    lines = [
        "# Realtime chat benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; embedded FalkorDB and Redis; "
        "two server processes with one worker each, so every message crosses from one worker "
        "to the other through Redis pub/sub. `make bench` writes this file.",
        "",
        "| what | figure |",
        "|---|---|",
        f"| send (POST on server B) to receive (WebSocket on server A), p50 | "
        f"**{percentile(latencies, 50):.1f} ms** |",
        f"| same, p99 | **{percentile(latencies, 99):.1f} ms** ({len(latencies)} messages, one at "
        "a time) |",
        f"| sustained, {pairs} rooms sending at once for {seconds:.0f} s | "
        f"**{delivery.rate:,.0f} messages/s** delivered |",
        f"| same, send to receive under that load, p50 / p99 | **{delivery.p50:.1f} ms** / "
        f"**{delivery.p99:.1f} ms** |",
        f"| pushes that did not arrive within 5 s | {delivery.lost} |",
        f"| pushes that arrived twice, or before an earlier message of their room | "
        f"{delivery.repeated}, {delivery.unordered} |",
        "",
        "Each message is written to the graph (message, room counters, event) before it is "
        "published; the figure is the full path a user sees. A worker writes the messages that "
        "arrive while it writes together, one statement (group commit), and publishes their "
        "pushes in one round trip. The load's senders write HTTP/1.1 by hand on keep-alive "
        "connections (aiohttp spent more CPU on a request than the server's worker did), on "
        "the same cores as the servers.",
        "",
    ]
    return "\n".join(lines)


async def _latency(
    session: aiohttp.ClientSession, a: str, b: str, room: dict[str, Any], n: int
) -> list[float]:
    times = []
    async with _socket(session, a, room["buyer"]) as ws:
        for i in range(n):
            started = time.perf_counter()
            sent = await _send(session, b, room, f"ping {i}")
            while True:
                frame = orjson.loads((await ws.receive(timeout=5)).data)
                if frame.get("message", {}).get("id") == sent["id"]:
                    break
            times.append((time.perf_counter() - started) * 1000)
    return times


async def _send(
    session: aiohttp.ClientSession, base: str, room: dict[str, Any], text: str
) -> dict[str, Any]:
    """The seller's message in the room, through the server at `base`."""
    url = f"{base}/v1/rooms/{room['room']}/messages"
    return await _json(session, "POST", url, room["seller"], json={"text": text})


class _Poster:
    """The load's sender: one keep-alive connection, HTTP/1.1 written and read by hand. A
    general client (aiohttp) spends more CPU on a request than the server's worker does on
    the message; on a machine both share, that would measure the client."""

    def __init__(self, base: str, token: str) -> None:
        self._host, _, port = base.removeprefix("http://").partition(":")
        self._port = int(port)
        self._head = (
            f"Host: {self._host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        data = orjson.dumps(body)
        self._writer.write(
            b"POST %s HTTP/1.1\r\n%s%d\r\n\r\n%s" % (path.encode(), self._head, len(data), data)
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self._reader.readexactly(length)
        assert status in (200, 201), payload
        return orjson.loads(payload)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _throughput(
    session: aiohttp.ClientSession, a: str, b: str, rooms: list[dict[str, Any]], seconds: float
) -> Delivery:
    sent_ids: set[str] = set()
    received: set[str] = set()
    posted: dict[str, float] = {}  # a message's text -> when its POST began
    times: list[float] = []  # POST begun to push received, ms
    deadline = time.monotonic() + seconds

    async def sender(room: dict[str, Any]) -> None:
        poster = _Poster(b, room["seller"])
        path = f"/v1/rooms/{room['room']}/messages"
        i = 0
        try:
            while time.monotonic() < deadline:
                text = f"load {room['room']} {i}"
                posted[text] = time.perf_counter()
                sent = await poster.post(path, {"text": text})
                sent_ids.add(sent["id"])
                i += 1
        finally:
            poster.close()

    repeated = unordered = 0

    async def receiver(ws: aiohttp.ClientWebSocketResponse) -> None:
        # one room per socket: its pushes come in the order the messages were sent
        nonlocal repeated, unordered
        last = ""
        with contextlib.suppress(TimeoutError):
            while True:
                frame = orjson.loads((await ws.receive(timeout=5)).data)
                if (began := posted.get(frame["message"]["text"])) is not None:
                    times.append((time.perf_counter() - began) * 1000)
                message_id = frame["message"]["id"]
                repeated += message_id in received
                unordered += message_id < last
                last = max(last, message_id)
                received.add(message_id)

    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(_socket(session, a, r["buyer"])) for r in rooms]
        listeners = [asyncio.create_task(receiver(ws)) for ws in sockets]
        started = time.monotonic()
        await asyncio.gather(*(sender(r) for r in rooms))
        elapsed = time.monotonic() - started
        await asyncio.gather(*listeners)
    return Delivery(
        len(received & sent_ids) / elapsed,
        len(sent_ids - received),
        repeated,
        unordered,
        percentile(times, 50),
        percentile(times, 99),
    )


@dataclass(frozen=True)
class Delivery:
    rate: float  # messages per second received
    lost: int  # sent, never received
    repeated: int  # received twice
    unordered: int  # received before one sent earlier in its room
    p50: float  # POST begun to push received, under the load, ms
    p99: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    # uvloop, as the servers run: the load generator's own CPU is not what is measured
    report = uvloop.run(run(args.pairs, args.messages, args.seconds))
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
