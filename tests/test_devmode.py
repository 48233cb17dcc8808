"""Development shortcuts only with VENDR_ENV=dev (hardening item 5): production is the default
and serves none of them (no /v1/dev routes, no stand-in social provider, no local payment
terminal, no demo data); a dev shortcut asked for outside dev mode, or dev mode on a network
address, refuses to start before anything binds; dev mode works and says so loudly."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from api.cli.serving import StartRefused, check_dev_bind, loopback, warn_dev_mode
from api.contract.routes import offline
from bench.common import free_port
from graph.infra import embedded
from graph.infra.settings import Settings
from tests.conftest import Api, read, settings_env
from tests.test_catalog_api import listing

VENDR = Path(sys.executable).with_name("vendr")
EVERYWHERE = "0.0.0.0"  # noqa: S104 - the address dev mode must refuse


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment as a deployment that set nothing about dev mode has it."""
    for name in ("VENDR_ENV", "VENDR_SOCIAL_PROVIDER", "VENDR_ALLOW_DEV_ON_NETWORK"):
        monkeypatch.delenv(name, raising=False)


# ---- the settings --------------------------------------------------------------------------


def test_production_is_the_default_with_no_shortcut_on(production: None) -> None:
    settings = Settings()
    assert settings.env == "production"
    assert settings.social_provider == "oauth"
    assert not settings.local_payments
    assert settings.dev_shortcuts() == []


def test_dev_mode_switches_the_shortcuts_on_by_default(production: None) -> None:
    settings = Settings(env="dev")
    assert settings.social_provider == "dev"
    assert settings.local_payments
    named = "\n".join(settings.dev_shortcuts())
    assert "/v1/dev/socials" in named and "/v1/dev/payments" in named and "--demo" in named


def test_dev_mode_may_still_choose_oauth_and_stripe(production: None) -> None:
    settings = Settings(env="dev", social_provider="oauth", stripe_secret_key="sk_test_x")
    assert settings.social_provider == "oauth"
    assert not settings.local_payments
    assert settings.dev_shortcuts() == ["demo data on request (--demo, `vendr lab`)"]


def test_a_dev_social_provider_outside_dev_mode_is_refused(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="allowed only with VENDR_ENV=dev"):
        Settings(social_provider="dev")
    monkeypatch.setenv("VENDR_SOCIAL_PROVIDER", "dev")
    with pytest.raises(ValidationError, match="allowed only with VENDR_ENV=dev"):
        Settings()
    monkeypatch.setenv("VENDR_ENV", "dev")
    assert Settings().social_provider == "dev"


def test_card_paid_orders_in_production_need_stripe(production: None) -> None:
    with pytest.raises(ValidationError, match="VENDR_STRIPE_SECRET_KEY"):
        Settings(order_payment=True)
    assert Settings(order_payment=True, stripe_secret_key="sk_test_x").order_payment
    assert Settings(order_payment=True, env="dev").local_payments


def test_the_worker_gets_the_same_settings_back(production: None) -> None:
    """`vendr serve` hands its settings to the background process as a dict."""
    for settings in (Settings(env="dev"), Settings()):
        again = Settings(**settings.model_dump(mode="json"))
        assert (again.env, again.social_provider) == (settings.env, settings.social_provider)


# ---- where dev mode may listen, and what it says -------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.53", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        (EVERYWHERE, False),
        ("::", False),
        ("192.168.1.20", False),
        ("vendr.example.org", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine(host: str, expected: bool) -> None:
    assert loopback(host) is expected


def test_dev_mode_on_a_network_address_needs_the_override_by_name(production: None) -> None:
    with pytest.raises(StartRefused, match="VENDR_ALLOW_DEV_ON_NETWORK=1"):
        check_dev_bind(Settings(env="dev", host=EVERYWHERE))
    check_dev_bind(Settings(env="dev", host=EVERYWHERE, allow_dev_on_network=True))
    check_dev_bind(Settings(env="dev", host="127.0.0.1"))
    check_dev_bind(Settings(host=EVERYWHERE))  # production: no shortcut to expose


def test_dev_mode_warns_once_naming_each_shortcut(
    production: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vendr.devmode")
    warn_dev_mode(Settings(env="dev", host=EVERYWHERE, allow_dev_on_network=True), serving=True)
    warn_dev_mode(Settings(), serving=True)  # production: nothing to say
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert "DEV MODE" in text and f"{EVERYWHERE}:" in text and "VENDR_ALLOW_DEV_ON_NETWORK" in text
    for shortcut in Settings(env="dev").dev_shortcuts():
        assert shortcut in text


# ---- `vendr serve` refuses before it binds -------------------------------------------------


def serve_refused(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VENDR_")}
    environ |= {"VENDR_DATA_DIR": str(tmp_path), "VENDR_PORT": str(port), **env}
    done = subprocess.run(
        [str(VENDR), "serve", *args], env=environ, capture_output=True, text=True, timeout=60
    )
    assert embedded.status(tmp_path) is None  # not even the database was started
    assert list(tmp_path.iterdir()) == []
    return done


def test_serve_in_dev_mode_on_all_interfaces_refuses_to_start(tmp_path: Path) -> None:
    done = serve_refused(tmp_path, VENDR_ENV="dev", VENDR_HOST=EVERYWHERE)
    assert done.returncode == 2, done.stderr
    assert "refusing to start" in done.stderr
    assert "VENDR_ALLOW_DEV_ON_NETWORK=1" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_with_a_dev_provider_outside_dev_mode_refuses_to_start(tmp_path: Path) -> None:
    done = serve_refused(tmp_path, VENDR_SOCIAL_PROVIDER="dev", VENDR_NEO4J_PASSWORD="s3cret")
    assert done.returncode == 2, done.stderr
    assert "VENDR_SOCIAL_PROVIDER=dev" in done.stderr and "VENDR_ENV=dev" in done.stderr
    assert "s3cret" not in done.stderr  # the refusal names settings, never their values
    assert "Traceback" not in done.stderr


def test_serve_demo_outside_dev_mode_refuses_to_start(tmp_path: Path) -> None:
    done = serve_refused(tmp_path, "--demo")
    assert done.returncode == 2, done.stderr
    assert "--demo" in done.stderr and "VENDR_ENV=dev" in done.stderr


# ---- the API in production -----------------------------------------------------------------


class TestProduction:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"env": "production", "social_provider": "oauth"}

    async def test_the_dev_routes_are_not_there(self, api: Api, services) -> None:
        assert not services.settings.dev
        paths = [route.path for route in api.app.router.routes]
        assert "v1/auth/signup" in paths
        assert not [path for path in paths if path.startswith("v1/dev/")]
        _, token = await api.signup()
        authorize = await api.call(
            "get", "/v1/dev/socials/instagram/authorize?state=s&handle=someone"
        )
        assert authorize.status == 404, authorize.text
        pay = await api.call("post", "/v1/dev/payments/anything/succeed", token)
        assert pay.status == 404, pay.text
        spec = (await api.call("get", "/docs/openapi.json")).json
        assert not [path for path in spec["paths"] if path.startswith("/v1/dev/")]
        assert "/v1/users/me/socials" in spec["paths"]

    async def test_social_linking_says_it_is_not_configured(self, api: Api, services) -> None:
        user, token = await api.signup()
        linked = await api.call(
            "post", "/v1/users/me/socials", token, json={"provider": "instagram", "handle": "me"}
        )
        assert linked.status == 503, linked.text
        assert linked.headers["content-type"] == "application/problem+json"
        assert "VENDR_OAUTH_PROVIDERS" in linked.json["detail"]
        verified = await api.call(
            "post",
            "/v1/users/me/socials/instagram/verify",
            token,
            json={"state": "s", "code": "c"},
        )
        assert verified.status == 503, verified.text
        rows = await read(
            services, "MATCH (:User {id: $id})-[:LINKED]->(s) RETURN s", id=user["id"]
        )
        assert rows == []

    async def test_paid_promotion_without_stripe_is_refused_before_anything_is_written(
        self, api: Api, services
    ) -> None:
        _, seller = await api.signup(display_name="Seller")
        product = await listing(api, seller)
        bought = await api.call(
            "post", f"/v1/products/{product['id']}/promotions", seller, json={"plan": "day"}
        )
        assert bought.status == 503, bought.text
        assert "VENDR_STRIPE_SECRET_KEY" in bought.json["detail"]
        assert await read(services, "MATCH (p:Promotion) RETURN p") == []
        assert await read(services, "MATCH (p:Payment) RETURN p") == []

    async def test_webhooks_are_refused_with_no_provider_to_sign_them(self, api: Api) -> None:
        refused = await api.call(
            "post",
            "/v1/payments/webhook",
            content=b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {}}',
            headers={"content-type": "application/json", "stripe-signature": "t=1,v1=00"},
        )
        assert refused.status == 400, refused.text

    def test_the_local_payment_terminal_is_not_there_either(self, settings: Settings) -> None:
        env = os.environ | settings_env(settings)
        assert env["VENDR_ENV"] == "production"
        done = subprocess.run(
            [str(VENDR), "payments", "succeed", "anything"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "VENDR_ENV=dev" in done.stderr and "none is configured" in done.stderr

    def test_the_offline_contract_matches_the_served_one(self, settings: Settings) -> None:
        spec = offline(settings)
        assert not [path for path in spec["paths"] if path.startswith("/v1/dev/")]
        social = spec["paths"]["/v1/users/me/socials/{provider}/verify"]["post"]
        assert "enum" not in social["parameters"][0]["schema"]


# ---- the API in dev mode (what the test suite runs in) -------------------------------------


async def test_dev_mode_serves_the_stand_in_social_provider(api: Api, services) -> None:
    assert services.settings.dev
    _, token = await api.signup()
    linked = await api.call(
        "post", "/v1/users/me/socials", token, json={"provider": "github", "handle": "octo"}
    )
    assert linked.status == 201, linked.text
    state = linked.json["state"]
    code = await api.call("get", f"/v1/dev/socials/github/authorize?state={state}&handle=octo")
    assert code.status == 200, code.text
    verified = await api.call(
        "post",
        "/v1/users/me/socials/github/verify",
        token,
        json={"state": state, "code": code.json["code"]},
    )
    assert verified.status == 200 and verified.json["verified"] is True, verified.text
    spec = (await api.call("get", "/docs/openapi.json")).json
    assert "/v1/dev/payments/{payment_id}/{outcome}" in spec["paths"]
