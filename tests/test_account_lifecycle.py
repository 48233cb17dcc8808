"""Verification codes, password reset, account deletion and linked social accounts through the
real app; codes arrive by real SMTP (aiosmtpd on localhost) and the development SMS files; the
SMS and OAuth adapters run against local stubs that record what they are sent."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from graph.accounts.socials import OAuthProvider
from graph.bootstrap import Services
from graph.notify.channels import DeliveryError, Sms, TwilioSms
from tests.conftest import Api, limits_on, read
from tests.test_catalog_api import listing
from tests.test_login_limits import peer
from tests.test_notifications import Inbox, account, code_in, settle, smtp  # noqa: F401


@pytest.fixture
def settings_overrides(smtp: tuple[Inbox, int]) -> dict[str, Any]:  # noqa: F811
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp[1],
        "smtp_security": "none",
        "code_resend_seconds": 1,
    }


async def mailed_code(services: Services, inbox: Inbox, email: str) -> str:
    await settle(services)
    return code_in(inbox.to(email)[-1]["body"])


async def test_email_verification_with_wrong_codes_and_limits(
    api: Api,
    services: Services,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox = smtp[0]
    _, token, email = await account(api, display_name="Vera")
    sent = await api.call("post", "/v1/auth/verify/email", token, json={})
    assert sent.status == 202, sent.text
    assert sent.json["sent_to"].endswith("@example.org") and sent.json["expires_in"] == 600
    again = await api.call("post", "/v1/auth/verify/email", token, json={})
    assert again.status == 429 and int(again.headers["retry-after"]) >= 1

    code = await mailed_code(services, inbox, email)
    # the code is in the graph only until sent, and in Redis only hashed
    secrets_left = await read(
        services, "MATCH (n:Notification) WHERE n.secret IS NOT NULL RETURN n"
    )
    assert secrets_left == []
    stored = [
        await services.redis.hgetall(k)
        async for k in services.redis.scan_iter(match=services.settings.redis_prefix + "codes:*")
    ]
    assert stored and all(code.encode() not in b"".join(v for v in s.values()) for s in stored)

    wrong = "000000" if code != "000000" else "111111"
    bad = await api.call("post", "/v1/auth/verify/email/confirm", token, json={"code": wrong})
    assert bad.status == 422 and bad.json["attempts_left"] == 4
    malformed = await api.call("post", "/v1/auth/verify/email/confirm", token, json={"code": "12"})
    assert malformed.status == 422
    ok = await api.call("post", "/v1/auth/verify/email/confirm", token, json={"code": code})
    assert ok.status == 204, ok.text
    me = (await api.call("get", "/v1/users/me", token)).json
    assert me["email_verified"] is True
    used = await api.call("post", "/v1/auth/verify/email/confirm", token, json={"code": code})
    assert used.status == 422  # single use

    # five wrong tries void a code: even the right one is then refused, asking for a new one…
    _, token2, email2 = await account(api, display_name="Tries")
    await api.call("post", "/v1/auth/verify/email", token2, json={})
    code2 = await mailed_code(services, inbox, email2)
    wrong2 = "000000" if code2 != "000000" else "111111"
    lefts = []
    for _ in range(5):
        r = await api.call("post", "/v1/auth/verify/email/confirm", token2, json={"code": wrong2})
        lefts.append(r.json["attempts_left"])
    assert lefts == [4, 3, 2, 1, 0]
    void = await api.call("post", "/v1/auth/verify/email/confirm", token2, json={"code": code2})
    assert void.status == 422 and void.json["errors"] == {"code": "expired"}
    me2 = (await api.call("get", "/v1/users/me", token2)).json
    assert me2["email_verified"] is False
    # …which works at once: nothing waits for the void code to expire
    await asyncio.sleep(1.1)  # the cool-down between two codes (1 s here)
    assert (await api.call("post", "/v1/auth/verify/email", token2, json={})).status == 202
    code3 = await mailed_code(services, inbox, email2)
    fresh = await api.call("post", "/v1/auth/verify/email/confirm", token2, json={"code": code3})
    assert fresh.status == 204, fresh.text


async def test_phone_verification_normalises_and_keeps_numbers_unique(
    api: Api, services: Services
) -> None:
    _, token, _ = await account(api, display_name="Phoebe")
    bad = await api.call("post", "/v1/auth/verify/phone", token, json={"phone": "12-34"})
    assert bad.status == 422 and "phone" in bad.json["errors"]
    missing = await api.call("post", "/v1/auth/verify/phone", token, json={})
    assert missing.status == 422
    sent = await api.call(
        "post", "/v1/auth/verify/phone", token, json={"phone": "+32 (0)470 12-34-56"}
    )
    assert sent.status == 202, sent.text
    await settle(services)
    sms_dir = services.settings.data_dir / "sms"
    texts = [p.read_text() for p in sorted(sms_dir.iterdir(), key=lambda p: p.stat().st_mtime)]
    (text,) = [t for t in texts if "+32470123456" in t][-1:]
    ok = await api.call(
        "post",
        "/v1/auth/verify/phone/confirm",
        token,
        json={"code": code_in(text.split("\n\n")[1])},
    )
    assert ok.status == 204, ok.text
    me = (await api.call("get", "/v1/users/me", token)).json
    assert me["phone"] == "+32470123456" and me["phone_verified"] is True

    _, other, _ = await account(api, display_name="Other")
    taken = await api.call("post", "/v1/auth/verify/phone", other, json={"phone": "+32470123456"})
    assert taken.status == 409
    signup = await api.call(
        "post",
        "/v1/auth/signup",
        json={
            "email": "p@example.org",
            "password": "correct horse battery",
            "display_name": "P",
            "phone": "+32 470 12 34 56",
        },
    )
    assert signup.status == 409  # the same number, written differently, is the same number


async def test_password_reset_revokes_sessions_and_says_nothing_about_emails(
    api: Api,
    services: Services,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox = smtp[0]
    _, token, email = await account(api, display_name="Forgetful")
    unknown = await api.call(
        "post", "/v1/auth/password/reset", json={"email": "nobody@example.org"}
    )
    known = await api.call("post", "/v1/auth/password/reset", json={"email": email})
    assert unknown.status == known.status == 202
    assert unknown.body == known.body == b""
    await settle(services)
    assert inbox.to("nobody@example.org") == []
    code = code_in(inbox.to(email)[-1]["body"])

    ghost = await api.call(
        "post",
        "/v1/auth/password/reset/confirm",
        json={"email": "nobody@example.org", "code": code, "password": "new password 123"},
    )
    assert ghost.status == 422
    done = await api.call(
        "post",
        "/v1/auth/password/reset/confirm",
        json={"email": email, "code": code, "password": "new password 123"},
    )
    assert done.status == 204, done.text
    assert (await api.call("get", "/v1/users/me", token)).status == 401  # every session ended
    old = await api.call(
        "post", "/v1/auth/login", json={"email": email, "password": "correct horse battery"}
    )
    assert old.status == 401
    new = await api.call(
        "post", "/v1/auth/login", json={"email": email, "password": "new password 123"}
    )
    assert new.status == 200
    again = await api.call(
        "post",
        "/v1/auth/password/reset/confirm",
        json={"email": email, "code": code, "password": "another one 456"},
    )
    assert again.status == 422  # single use
    await settle(services)
    assert any("was changed" in m["subject"] for m in inbox.to(email))


RESET, CONFIRM = "/v1/auth/password/reset", "/v1/auth/password/reset/confirm"


async def ask_reset(client: httpx.AsyncClient, email: str) -> None:
    assert (await client.post(RESET, json={"email": email})).status_code == 202


async def confirm_reset(client: httpx.AsyncClient, email: str, code: str) -> httpx.Response:
    return await client.post(
        CONFIRM, json={"email": email, "code": code, "password": "new password 123"}
    )


def guesses(n: int, mailed: list[dict[str, Any]]) -> list[str]:
    """`n` codes that are none of those mailed (a guess that happened to be right would pass)."""
    sent = {code for m in mailed for code in re.findall(r"\b\d{6}\b", m["body"])}
    return [c for c in (f"{k:06d}" for k in range(n + len(sent))) if c not in sent][:n]


class TestResetCodes:
    @pytest.fixture
    def settings_overrides(self, smtp: tuple[Inbox, int]) -> dict[str, Any]:  # noqa: F811
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
            "smtp_security": "none",
            "code_resend_seconds": 0,
        }

    async def test_a_code_that_does_not_work_gets_one_answer_whether_the_email_has_an_account(
        self,
        api: Api,
        services: Services,
        smtp: tuple[Inbox, int],  # noqa: F811
    ) -> None:
        _, _, email = await account(api, display_name="Known")
        _, _, quiet = await account(api, display_name="Never asked")
        await ask_reset(api.client, email)
        await mailed_code(services, smtp[0], email)
        mailed = smtp[0].to(email)

        def seen(r: httpx.Response) -> tuple[Any, ...]:
            return r.status_code, r.headers["content-type"], r.json()

        # past the asker's five tries and beyond, for a known email with a code, a known one
        # without, and one with no account: the same status, headers and body every time
        for guess in guesses(7, mailed):
            known = await confirm_reset(api.client, email, guess)
            unknown = await confirm_reset(api.client, "nobody@example.org", guess)
            no_code = await confirm_reset(api.client, quiet, guess)
            assert seen(known) == seen(unknown) == seen(no_code)
        assert known.status_code == 422
        assert known.json()["errors"] == {"code": "invalid"}
        assert "attempts_left" not in known.json()

    async def test_a_stranger_cannot_lock_the_owner_out_of_a_reset(
        self,
        api: Api,
        services: Services,
        smtp: tuple[Inbox, int],  # noqa: F811
    ) -> None:
        inbox = smtp[0]
        _, _, email = await account(api, display_name="Owner")
        async with (
            peer(api.app, "203.0.113.7") as owner,
            peer(api.app, "198.51.100.66") as stranger,
        ):
            await ask_reset(owner, email)
            code = await mailed_code(services, inbox, email)
            # the stranger asks for codes of their own (mailed to the owner, past their five an
            # hour quietly not) and guesses, many times
            for _ in range(6):
                await ask_reset(stranger, email)
            await settle(services)
            assert len(inbox.to(email)) == 6
            for guess in guesses(12, inbox.to(email)):
                assert (await confirm_reset(stranger, email, guess)).status_code == 422
            # the owner's code, typed where it was asked for, still works
            done = await confirm_reset(owner, email, code)
            assert done.status_code == 204, done.text
            await settle(services)  # "your password was changed"

            # and once the stranger has spent their tries again, the owner can still ask anew
            for guess in guesses(12, inbox.to(email)):
                assert (await confirm_reset(stranger, email, guess)).status_code == 422
            await ask_reset(owner, email)
            again = await mailed_code(services, inbox, email)
            assert len(inbox.to(email)) == 8  # the password change notice, and the new code
            renewed = await confirm_reset(owner, email, again)
            assert renewed.status_code == 204, renewed.text

    async def test_guesses_from_elsewhere_are_bounded_per_code_and_a_fresh_code_works(
        self,
        api: Api,
        services: Services,
        smtp: tuple[Inbox, int],  # noqa: F811
    ) -> None:
        inbox = smtp[0]
        _, _, email = await account(api, display_name="Two devices")
        async with (
            peer(api.app, "203.0.113.20") as phone,
            peer(api.app, "192.0.2.21") as laptop,
            peer(api.app, "198.51.100.1") as s1,
            peer(api.app, "198.51.100.2") as s2,
            peer(api.app, "198.51.100.3") as s3,
        ):
            await ask_reset(phone, email)
            code = await mailed_code(services, inbox, email)
            for stranger in (s1, s2, s3):  # two tries each: six against everyone else's five
                for guess in guesses(2, inbox.to(email)):
                    assert (await confirm_reset(stranger, email, guess)).status_code == 422
            # so the code takes no more from anywhere but where it was asked, right or not…
            refused = await confirm_reset(laptop, email, code)
            assert refused.status_code == 422 and refused.json()["errors"] == {"code": "invalid"}
            # …and a code asked for on the laptop works there
            await ask_reset(laptop, email)
            fresh = await mailed_code(services, inbox, email)
            done = await confirm_reset(laptop, email, fresh)
            assert done.status_code == 204, done.text
            # one reset uses every code the email had
            assert (await confirm_reset(phone, email, code)).status_code == 422

    async def test_wrong_codes_are_limited_per_address_whatever_the_email_or_account(
        self,
        api: Api,
        services: Services,
        smtp: tuple[Inbox, int],  # noqa: F811
    ) -> None:
        _, token, email = await account(api, display_name="Limited")
        await api.call("post", "/v1/auth/verify/email", token, json={})
        await mailed_code(services, smtp[0], email)
        wrong = guesses(19, smtp[0].to(email))
        with limits_on(services):
            async with (
                peer(api.app, "198.51.100.30") as guesser,
                peer(api.app, "203.0.113.31") as elsewhere,
            ):
                for n in range(10):
                    await confirm_reset(guesser, email, f"{n:06d}")
                    await confirm_reset(guesser, f"nobody{n}@example.org", f"{n:06d}")
                # twenty wrong codes from one address: it is refused, for any email alike
                for target in (email, "nobody@example.org", "another@example.org"):
                    over = await confirm_reset(guesser, target, "123456")
                    assert over.status_code == 429 and int(over.headers["retry-after"]) > 0
                # another address is not
                assert (await confirm_reset(elsewhere, email, "123456")).status_code == 422

                # verification codes count alike, per address, whoever is signed in
                auth = {"authorization": f"Bearer {token}"}
                verify = "/v1/auth/verify/email/confirm"
                for guess in wrong:  # the reset code above was the address's first
                    r = await elsewhere.post(verify, json={"code": guess}, headers=auth)
                    assert r.status_code == 422
                r = await elsewhere.post(verify, json={"code": wrong[0]}, headers=auth)
                assert r.status_code == 429


async def test_a_deleted_account_cannot_log_in_and_leaves_no_personal_data(
    api: Api, services: Services
) -> None:
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    name, phone = "Zebulon Quarkwright", "+33612345678"
    user, token = await api.signup(email=email, display_name=name, phone=phone)
    _, other_token, _ = await account(api, display_name="Other")
    mine = await listing(api, token, title="Blue kettle")
    theirs = await listing(api, other_token, title="Red kettle")
    room = (await api.call("post", "/v1/rooms", token, json={"product_id": theirs["id"]})).json
    await api.call("post", f"/v1/rooms/{room['id']}/messages", token, json={"text": "still there?"})
    await api.call(
        "post", "/v1/users/me/socials", token, json={"provider": "github", "handle": "zebulon_gh"}
    )
    await api.call("post", "/v1/users/me/searches", token, json={"tags": ["kettle"]})
    await api.call("post", "/v1/auth/verify/email", token, json={})

    wrong = await api.call("delete", "/v1/users/me", token, json={"password": "not it at all"})
    assert wrong.status == 403
    gone = await api.call(
        "delete", "/v1/users/me", token, json={"password": "correct horse battery"}
    )
    assert gone.status == 204, gone.text
    assert (await api.call("get", "/v1/users/me", token)).status == 401
    login = await api.call(
        "post", "/v1/auth/login", json={"email": email, "password": "correct horse battery"}
    )
    assert login.status == 401
    assert (await api.call("get", f"/v1/products/{mine['id']}")).status == 404
    assert (await api.call("get", f"/v1/users/{user['id']}")).status == 404

    # nothing in the graph still says who they were
    for needle in (email, phone, name, "Zebulon", "zebulon_gh"):
        hits = await read(
            services,
            "MATCH (n) WITH n, [k IN keys(n) WHERE toString(n[k]) CONTAINS $needle] AS ks "
            "WHERE size(ks) > 0 RETURN labels(n) AS labels, ks",
            needle=needle,
        )
        assert hits == [], (needle, hits)
    # the other party keeps the conversation, from a deleted user
    history = (await api.call("get", f"/v1/rooms/{room['id']}/messages", other_token)).json
    assert [m["text"] for m in history["items"] if m.get("kind") != "system"] == ["still there?"]
    rooms = (await api.call("get", "/v1/rooms", other_token)).json["items"]
    assert rooms[0]["other"]["display_name"] == "Deleted user"
    events = await read(
        services, "MATCH (e:Event {type: 'user.deleted'}) RETURN e.subject_id AS s, e.data AS d"
    )
    assert [(e["s"], json.loads(e["d"])["via"]) for e in events] == [
        (user["id"], "lifecycle.delete_account")
    ]
    # the email is free for a new account
    await api.signup(email=email, display_name="Someone new")


async def test_linking_a_social_account_with_the_development_provider(
    api: Api, services: Services
) -> None:
    user, token, _ = await account(api, display_name="Social")
    linked = await api.call(
        "post", "/v1/users/me/socials", token, json={"provider": "instagram", "handle": "Soc.ial"}
    )
    assert linked.status == 201, linked.text
    assert (
        linked.json["verified"] is False
        and "/v1/dev/socials/instagram/authorize" in linked.json["verify_url"]
    )
    state = linked.json["state"]
    other = await api.call(
        "get", f"/v1/dev/socials/instagram/authorize?state={state}&handle=someone_else"
    )
    mismatch = await api.call(
        "post",
        "/v1/users/me/socials/instagram/verify",
        token,
        json={"state": state, "code": other.json["code"]},
    )
    assert mismatch.status == 422 and "someone_else" in mismatch.json["detail"]

    again = (
        await api.call(
            "post",
            "/v1/users/me/socials",
            token,
            json={"provider": "instagram", "handle": "Soc.ial"},
        )
    ).json
    forged = await api.call(
        "post",
        "/v1/users/me/socials/instagram/verify",
        token,
        json={"state": again["state"], "code": "soc.ial.deadbeef"},
    )
    assert forged.status == 422
    again = (
        await api.call(
            "post",
            "/v1/users/me/socials",
            token,
            json={"provider": "instagram", "handle": "Soc.ial"},
        )
    ).json
    code = (
        await api.call(
            "get", f"/v1/dev/socials/instagram/authorize?state={again['state']}&handle=soc.ial"
        )
    ).json["code"]
    ok = await api.call(
        "post",
        "/v1/users/me/socials/instagram/verify",
        token,
        json={"state": again["state"], "code": code},
    )
    assert ok.status == 200, ok.text
    assert ok.json["verified"] is True
    profile = (await api.call("get", f"/v1/users/{user['id']}")).json
    assert profile["socials"] == [{"provider": "instagram", "handle": "Soc.ial"}]
    await services.trust.recompute()  # what the worker does on its schedule
    profile = (await api.call("get", f"/v1/users/{user['id']}")).json
    verification = profile["trust"]["components"]["verification"]
    assert verification["points"] > 0 and "1 linked account" in verification["why"]
    unknown = await api.call(
        "post", "/v1/users/me/socials", token, json={"provider": "myspace", "handle": "x"}
    )
    assert unknown.status == 422
    assert (await api.call("delete", "/v1/users/me/socials/instagram", token)).status == 204
    assert (await api.call("get", f"/v1/users/{user['id']}")).json["socials"] == []


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_twilio_adapter_against_a_stub(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    answers = [
        web.json_response({"sid": "SM1"}, status=201),
        web.json_response({"code": 21211, "message": "invalid To"}, status=400),
        web.json_response({"code": 20429, "message": "slow down"}, status=429),
    ]

    async def messages(request: web.Request) -> web.Response:
        seen.append(
            {
                "path": request.path,
                "auth": request.headers.get("authorization"),
                "form": dict(await request.post()),
            }
        )
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", messages)
    runner, base = await serve(app)
    try:
        sms = TwilioSms("AC123", "secret", "+15005550006", base_url=base)
        await sms.send(Sms(to="+32470123456", text="Vendr: 123456", key="k"))
        with pytest.raises(DeliveryError) as permanent:
            await sms.send(Sms(to="+1", text="x", key="k2"))
        with pytest.raises(DeliveryError) as transient:
            await sms.send(Sms(to="+32470123456", text="x", key="k3"))
    finally:
        await runner.cleanup()
    assert seen[0]["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert seen[0]["auth"].startswith("Basic ")
    assert seen[0]["form"] == {
        "To": "+32470123456",
        "From": "+15005550006",
        "Body": "Vendr: 123456",
    }
    assert permanent.value.permanent is True and "21211" in permanent.value.detail
    assert transient.value.permanent is False


async def test_oauth_provider_exchanges_a_code_for_the_handle() -> None:
    seen: list[dict[str, Any]] = []

    async def token(request: web.Request) -> web.Response:
        form = dict(await request.post())
        seen.append(form)
        if form["code"] != "good":
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response({"access_token": "at-1", "token_type": "bearer"})

    async def me(request: web.Request) -> web.Response:
        assert request.headers["authorization"] == "Bearer at-1"
        return web.json_response({"login": "octo"})

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_get("/user", me)
    runner, base = await serve(app)
    try:
        config = {
            "github": {
                "authorize_url": f"{base}/authorize",
                "token_url": f"{base}/token",
                "userinfo_url": f"{base}/user",
                "client_id": "cid",
                "client_secret": "cs",
                "handle_field": "login",
            }
        }
        provider = OAuthProvider(config, "https://vendr.example")
        url = provider.authorize_url("github", "st4te")
        assert (
            url.startswith(f"{base}/authorize?") and "state=st4te" in url and "client_id=cid" in url
        )
        assert await provider.exchange("github", "good") == "octo"
        with pytest.raises(Exception, match="did not accept"):
            await provider.exchange("github", "bad")
    finally:
        await runner.cleanup()
    assert seen[0]["grant_type"] == "authorization_code" and seen[0]["client_secret"] == "cs"
    assert seen[0]["redirect_uri"] == "https://vendr.example/socials/github/callback"
