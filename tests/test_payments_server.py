"""Payments against a real `vendr serve`: the local provider's webhooks go out from the
background worker over HTTP to the server's own endpoint, signed as Stripe signs them, and
`vendr payments succeed` pays from the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.common import free_port, server
from tests.test_deals_server import auth, client, shop_listing, signup

VENDR = Path(sys.executable).with_name("vendr")


@pytest.fixture(scope="module")
def served(data_dir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "VENDR_DATA_DIR": str(data_dir),
        "VENDR_GRAPH_NAME": f"pay_{uuid.uuid4().hex[:8]}",
        "VENDR_REDIS_PREFIX": f"pay:{uuid.uuid4().hex[:8]}:",
        "VENDR_PORT": str(port),
        "VENDR_PUBLIC_URL": base,
        "VENDR_WORKERS": "1",
        "VENDR_RATE_LIMITS": "off",
        "VENDR_ARGON2_MEMORY_KIB": "8192",
        "VENDR_ARGON2_TIME_COST": "1",
        "VENDR_JOBS_INTERVAL_SECONDS": "0",
        "VENDR_ENV": "dev",  # the local payment terminal and `vendr payments succeed`
        "VENDR_ORDER_PAYMENT": "true",
        "VENDR_PAYMENTS_INTERVAL_SECONDS": "0.5",
    }
    with server([str(VENDR), "serve"], env, f"{base}/v1/heartbeat"):
        yield base, env


async def wait_for(c: httpx.AsyncClient, order_id: str, token: str, status: str) -> dict:
    for _ in range(60):
        order = (await c.get(f"/v1/orders/{order_id}", headers=auth(token))).json()
        if order["status"] == status:
            return order
        await asyncio.sleep(0.25)
    raise AssertionError(f"order still {order['status']}, payment {order['payment']}")


async def test_the_local_provider_posts_signed_webhooks_to_the_server(served) -> None:
    base, env = served
    async with client(base) as c:
        _, product = await shop_listing(c, quantity=2)
        buyer = await signup(c, "Buyer")
        orders = []
        for _ in range(2):
            response = await c.post(
                f"/v1/products/{product}/orders", headers=auth(buyer), json={"quantity": 1}
            )
            assert response.status_code == 201, response.text
            orders.append(response.json())
        assert all(o["status"] == "payment_pending" for o in orders)

        # the payer's development card terminal; the worker delivers the webhook over HTTP
        first = orders[0]
        paid = await c.post(
            f"/v1/dev/payments/{first['payment']['id']}/succeed", headers=auth(buyer)
        )
        assert paid.status_code == 200, paid.text
        now = await wait_for(c, first["id"], buyer, "paid")
        assert now["payment"]["status"] == "authorized"

        # the command line, as a developer pays from a terminal
        second = orders[1]
        done = await asyncio.to_thread(
            subprocess.run,
            [str(VENDR), "payments", "succeed", second["payment"]["id"]],
            env=os.environ | env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "intent requires_capture" in done.stdout
        await wait_for(c, second["id"], buyer, "paid")
