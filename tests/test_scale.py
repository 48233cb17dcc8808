"""Two API nodes behind a real HAProxy (`make haproxy`), on one graph and one Redis: what a
second node needs of the first — sessions, sockets, images, timers and the outbox — comes
from the shared stores, through the balancer and through each node directly. The short
version of `make scale-demo` (bench/scale.py), on each backend."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from bench.scale import Cluster, cluster, living
from graph.bootstrap import bootstrap, shutdown
from graph.infra import embedded, s3proxy_local
from graph.infra.blobs_s3 import S3BlobStore
from graph.infra.settings import Settings
from tests.conftest import BACKENDS, backend_settings, drop_all, png_bytes, settings_env

OFFER_TTL_S = 4  # offers made in the timer test expire this soon after


@dataclass
class Scaled:
    group: Cluster
    graph: Settings  # the shared graph and keys, for the tests' own reads
    blobs: dict[str, str]  # the nodes' S3 settings (VENDR_BLOBS_URL...)

    @property
    def lb(self) -> str:
        return self.group.url

    @property
    def a(self) -> str:
        return self.group.nodes[0].url

    @property
    def b(self) -> str:
        return self.group.nodes[1].url


def shared_env(graph: Settings, data_dir: Path) -> dict[str, str]:
    """The nodes reach the session's servers by URL (their own data dirs hold only mail)."""
    env = settings_env(graph)
    del env["VENDR_DATA_DIR"]
    if graph.embedded:
        info = embedded.status(data_dir)
        assert info is not None
        env["VENDR_GRAPH_URL"] = info.url.replace("redis://", "falkordb://", 1)
    return env


@contextlib.contextmanager
def blob_store(workdir: Path, pids: set[int]) -> Iterator[dict[str, str]]:
    """The nodes' image store: a bucket of a real S3Proxy (`make s3proxy`; its settings, its
    pid added to `pids`)."""
    with s3proxy_local.running(workdir / "s3proxy") as info:
        pids.add(info.pid)
        fields = info.settings("vendr-scale")
        S3BlobStore.connect(
            fields["blobs_url"],
            endpoint_url=fields["s3_endpoint_url"],
            access_key=fields["s3_access_key"],
            secret_key=fields["s3_secret_key"],
        ).ensure_bucket()
        yield {f"VENDR_{name.upper()}": value for name, value in fields.items()}


def bucket(blobs: dict[str, str]) -> Any:
    return S3BlobStore.connect(
        blobs["VENDR_BLOBS_URL"],
        endpoint_url=blobs["VENDR_S3_ENDPOINT_URL"],
        access_key=blobs["VENDR_S3_ACCESS_KEY"],
        secret_key=blobs["VENDR_S3_SECRET_KEY"],
    )


@pytest.fixture(scope="module", params=BACKENDS)
def scaled(
    request: pytest.FixtureRequest, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scaled]:
    """Two nodes, one HTTP worker and one background worker each (deal timers and the outbox
    every 0.2 s, both racing for the same work), behind HAProxy, their images in S3 (S3Proxy)
    or one shared directory; then every process they, HAProxy and S3Proxy ran is gone."""
    graph = backend_settings(request, data_dir, request.param)
    workdir = tmp_path_factory.mktemp(f"scale-{request.param}")
    fast = {
        "VENDR_BACKGROUND": "on",
        "VENDR_JOBS_INTERVAL_SECONDS": "0",
        "VENDR_PAYMENTS_INTERVAL_SECONDS": "0",
        "VENDR_DEALS_INTERVAL_SECONDS": "0.2",
        "VENDR_NOTIFY_INTERVAL_SECONDS": "0.2",
        "VENDR_OFFER_TTL_SECONDS": str(OFFER_TTL_S),
    }
    pids: set[int] = set()
    try:
        with (
            blob_store(workdir, pids) as blobs,
            cluster(
                workdir,
                shared_env(graph, data_dir) | blobs,
                nodes=2,
                env=fast,
                blob_dir_shared=False,
            ) as group,
        ):
            pids |= group.pids()
            assert all(len(n.pids) >= 2 for n in group.nodes), [n.pids for n in group.nodes]
            yield Scaled(group, graph, blobs)
    finally:
        asyncio.run(drop_all(graph))
    assert pids and living(pids) == set()  # nodes, their workers, HAProxy, S3Proxy: stopped


async def read(graph: Settings, text: str, **params: Any) -> list[dict[str, Any]]:
    services = await bootstrap(graph, ensure_schema=False)
    try:
        return await services.store.run_text(text, params, write=False)
    finally:
        await shutdown(services)


@pytest.fixture
async def c() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def signup(c: httpx.AsyncClient, base: str, name: str, **extra: Any) -> tuple[str, str]:
    """(user id, token) of a new account, made through `base`."""
    body = {
        "email": f"{name.lower().replace(' ', '')}-{uuid.uuid4().hex[:8]}@example.org",
        "password": "long enough",
        "display_name": name,
        **extra,
    }
    made = await c.post(f"{base}/v1/auth/signup", json=body)
    assert made.status_code == 201, made.text
    return made.json()["user"]["id"], made.json()["token"]


async def listing(c: httpx.AsyncClient, base: str, token: str, title: str = "Lamp") -> str:
    files = {"image": ("p.png", png_bytes(color="navy"), "image/png")}
    image = await c.post(f"{base}/v1/images", headers=auth(token), files=files)
    assert image.status_code == 201, image.text
    body = {
        "title": title,
        "price": {"amount": 4_000, "currency": "EUR"},
        "location": {"lat": 52.37, "lon": 4.89},
        "image_ids": [image.json()["id"]],
    }
    made = await c.post(f"{base}/v1/products", headers=auth(token), json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def nodes_seen(c: httpx.AsyncClient, url: str, token: str, tries: int = 12) -> Counter[str]:
    """Which nodes answered `url` through the balancer with this token, each call on a new
    connection (a kept-alive one stays on its node): all 200, or the test fails."""
    seen: Counter[str] = Counter()
    for _ in range(tries):
        async with httpx.AsyncClient(timeout=30) as fresh:
            answer = await fresh.get(url, headers=auth(token))
        assert answer.status_code == 200, answer.text
        seen[answer.headers["x-vendr-node"]] += 1
    return seen


async def test_both_nodes_are_up_behind_the_balancer(scaled: Scaled, c: httpx.AsyncClient) -> None:
    assert scaled.group.balancer.status() == {"n1": "UP", "n2": "UP"}
    for base in (scaled.a, scaled.b, scaled.lb):
        ready = await c.get(f"{base}/v1/ready")
        assert ready.json()["checks"] == {"graph": True, "redis": True}


async def test_a_session_made_on_one_node_works_on_the_other_and_through_the_balancer(
    scaled: Scaled, c: httpx.AsyncClient
) -> None:
    user_id, token = await signup(c, scaled.a, "Ada")
    for base in (scaled.a, scaled.b):
        me = await c.get(f"{base}/v1/users/me", headers=auth(token))
        assert me.status_code == 200 and me.json()["id"] == user_id
    # through the balancer: on both nodes, every time
    assert set(await nodes_seen(c, f"{scaled.lb}/v1/users/me", token)) == {"n1", "n2"}
    # a log-out through B ends it on A too
    out = await c.post(f"{scaled.b}/v1/auth/logout", headers=auth(token))
    assert out.status_code in (200, 204), out.text
    assert (await c.get(f"{scaled.a}/v1/users/me", headers=auth(token))).status_code == 401


async def next_push(ws: Any, kind: str, wait: float = 10.0) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if frame["type"] == kind:
            return dict(frame)


def ws(base: str, token: str) -> str:
    return base.replace("http://", "ws://") + f"/v1/ws?token={token}"


async def test_a_socket_on_one_node_hears_a_message_sent_through_the_other(
    scaled: Scaled, c: httpx.AsyncClient
) -> None:
    _, seller = await signup(c, scaled.a, "Seller")
    _, buyer = await signup(c, scaled.b, "Buyer")
    product = await listing(c, scaled.a, seller)
    room = await c.post(f"{scaled.lb}/v1/rooms", headers=auth(buyer), json={"product_id": product})
    assert room.status_code in (200, 201), room.text
    lines = f"/v1/rooms/{room.json()['id']}/messages"
    async with (
        connect(ws(scaled.a, buyer)) as on_a,  # the buyer on node A
        connect(ws(scaled.lb, seller)) as through_lb,  # the seller through the balancer
    ):
        for sock in (on_a, through_lb):
            assert json.loads(await asyncio.wait_for(sock.recv(), 10))["type"] == "ready"
        sent = await c.post(f"{scaled.b}{lines}", headers=auth(seller), json={"text": "via B"})
        assert sent.status_code == 201, sent.text
        heard = await next_push(on_a, "message.created")
        assert (heard["message"]["id"], heard["message"]["text"]) == (sent.json()["id"], "via B")
        assert (await next_push(through_lb, "message.created"))["message"]["text"] == "via B"
        # and the other way: the buyer writes through the balancer, wherever it lands
        said = await c.post(f"{scaled.lb}{lines}", headers=auth(buyer), json={"text": "via LB"})
        assert said.status_code == 201, said.text
        assert (await next_push(through_lb, "message.created"))["message"]["text"] == "via LB"
        assert (await next_push(on_a, "message.created"))["message"]["text"] == "via LB"


async def test_an_image_uploaded_through_one_node_is_served_by_the_other(
    scaled: Scaled, c: httpx.AsyncClient
) -> None:
    _, token = await signup(c, scaled.lb, "Photographer")
    files = {"image": ("p.png", png_bytes((300, 200), color="crimson"), "image/png")}
    made = await c.post(f"{scaled.a}/v1/images", headers=auth(token), files=files)
    assert made.status_code == 201, made.text
    image = made.json()["id"]
    # in the bucket, on no node's disk
    assert await asyncio.to_thread(bucket(scaled.blobs).get, image) is not None
    assert not any((n.data_dir / "blobs").exists() for n in scaled.group.nodes)
    full = await c.get(f"{scaled.a}/v1/images/{image}", follow_redirects=True)
    assert full.status_code == 200 and full.content[:2] == b"\xff\xd8"  # re-encoded: a JPEG
    for base in (scaled.b, scaled.lb):
        for size in ("full", "thumb"):
            got = await c.get(
                f"{base}/v1/images/{image}", params={"size": size}, follow_redirects=True
            )
            assert got.status_code == 200, (base, size, got.text)
            if size == "full":
                assert got.content == full.content
    for base in (scaled.a, scaled.b):  # a listing made on B with the image from A
        product = await c.post(
            f"{scaled.b}/v1/products",
            headers=auth(token),
            json={
                "title": "Red print",
                "price": {"amount": 1_500, "currency": "EUR"},
                "location": {"lat": 50.85, "lon": 4.35},
                "image_ids": [image],
            },
        )
        assert product.status_code == 201, product.text
        shown = await c.get(f"{base}/v1/products/{product.json()['id']}")
        assert shown.status_code == 200


async def test_timers_and_the_outbox_run_once_with_two_background_workers(
    scaled: Scaled, c: httpx.AsyncClient
) -> None:
    """Offers expire unanswered: the nodes' two background workers both sweep every 0.2 s, and
    each expiry fires once (one push, one system line), and each of its notifications is
    mailed once (the mail lands in the data dir of whichever node's worker sent it)."""
    seller_id, seller = await signup(c, scaled.lb, "Seller")
    products = [await listing(c, scaled.lb, seller, f"Chair {n}") for n in range(3)]
    buyers = [await signup(c, scaled.lb, f"Buyer {n}") for n in range(3)]
    async with connect(ws(scaled.a, seller)) as sock:
        assert json.loads(await asyncio.wait_for(sock.recv(), 10))["type"] == "ready"
        offers = []
        for (_, token), product, base in zip(
            buyers, products, (scaled.a, scaled.b, scaled.lb), strict=True
        ):
            made = await c.post(
                f"{base}/v1/products/{product}/offers", headers=auth(token), json={"amount": 3_000}
            )
            assert made.status_code == 201, made.text
            offers.append(made.json()["id"])
        expired: Counter[str] = Counter()
        deadline = asyncio.get_running_loop().time() + OFFER_TTL_S + 30
        while set(expired) != set(offers):
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"not all expired: {expired}"
            push = await next_push(sock, "offer.updated", wait=left)
            if push["offer"]["status"] == "expired":
                expired[push["offer"]["id"]] += 1
        # more rounds of both workers: nothing fires again
        with pytest.raises(TimeoutError):
            while True:
                push = await next_push(sock, "offer.updated", wait=2.0)
                if push["offer"]["status"] == "expired":
                    expired[push["offer"]["id"]] += 1
        assert expired == Counter(dict.fromkeys(offers, 1))
    for (_, token), offer in zip(buyers, offers, strict=True):
        got = await c.get(f"{scaled.b}/v1/offers/{offer}", headers=auth(token))
        assert got.json()["status"] == "expired"
    people = [seller_id, *(user_id for user_id, _ in buyers)]
    mails = await delivered(scaled, people)
    names = Counter(p.name for n in scaled.group.nodes for p in (n.data_dir / "mail").glob("*.eml"))
    for note in mails:
        assert note["status"] == "sent" and note["attempts"] == 1, note
        assert names[f"{note['id']}.eml"] == 1, (note, names)  # one file, on one node
    assert len(mails) >= 2 * len(offers)  # each offer: made and expired


async def delivered(scaled: Scaled, people: list[str], wait_s: float = 30) -> list[dict[str, Any]]:
    """Their email notifications once none is waiting any longer, and two seconds more (ten
    rounds of each worker) for a second delivery to show if there were one."""
    statement = (
        "MATCH (n:Notification) WHERE n.user_id IN $people AND n.channel = 'email' "
        "RETURN n.id AS id, n.type AS type, n.status AS status, n.attempts AS attempts"
    )
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        rows = await read(scaled.graph, statement, people=people)
        if rows and all(r["status"] == "sent" for r in rows):
            break
        assert asyncio.get_running_loop().time() < deadline, rows
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)
    return await read(scaled.graph, statement, people=people)
