"""Accounts through the real app and a real embedded FalkorDB."""

from __future__ import annotations

import asyncio
import json

import pytest

from graph.bootstrap import bootstrap, shutdown
from tests.conftest import Api, make_settings, read

CREDENTIALS = (
    "MATCH (u:User {id: $id})-[:HAS_CREDENTIAL]->(c:Credential) RETURN c.password_hash AS hash"
)
EVENTS = (
    "MATCH (e:Event {subject_id: $id}) RETURN e.type AS type, e.actor_id AS actor ORDER BY e.at"
)


async def test_signup_login_me_logout_then_the_old_token_is_refused(api: Api) -> None:
    user, signup_token = await api.signup(email="Ada@Example.org", display_name="Ada")
    assert user["email"] == "ada@example.org"

    login = await api.call(
        "post",
        "/v1/auth/login",
        json={"email": "ada@example.org", "password": "correct horse battery"},
    )
    assert login.status == 200
    token = login.json["token"]
    assert token != signup_token

    me = await api.call("get", "/v1/users/me", token)
    assert me.status == 200
    assert me.json["id"] == user["id"]
    assert me.json["display_name"] == "Ada"

    assert (await api.call("post", "/v1/auth/logout", token)).status == 204
    refused = await api.call("get", "/v1/users/me", token)
    assert refused.status == 401
    assert refused.headers["content-type"] == "application/problem+json"
    # the signup token is a separate session and still works
    assert (await api.call("get", "/v1/users/me", signup_token)).status == 200


async def test_login_by_phone(api: Api) -> None:
    await api.signup(phone="+31612345678")
    response = await api.call(
        "post",
        "/v1/auth/login",
        json={"phone": "+31612345678", "password": "correct horse battery"},
    )
    assert response.status == 200
    assert response.json["user"]["phone"] == "+31612345678"


async def test_duplicate_email_is_a_conflict_naming_the_field(api: Api) -> None:
    await api.signup(email="dup@example.org")
    response = await api.call(
        "post",
        "/v1/auth/signup",
        json={"email": "DUP@example.org", "password": "another password", "display_name": "Two"},
    )
    assert response.status == 409
    assert response.json["errors"] == {"email": "already registered"}


async def test_duplicate_phone_and_handle_are_conflicts(api: Api) -> None:
    await api.signup(phone="+4915112345678", handle="taken_handle")
    phone = await api.call(
        "post",
        "/v1/auth/signup",
        json={
            "email": "p@example.org",
            "password": "long enough",
            "display_name": "P",
            "phone": "+4915112345678",
        },
    )
    handle = await api.call(
        "post",
        "/v1/auth/signup",
        json={
            "email": "h@example.org",
            "password": "long enough",
            "display_name": "H",
            "handle": "Taken_Handle",
        },
    )
    assert (phone.status, phone.json["errors"]) == (409, {"phone": "already registered"})
    assert (handle.status, handle.json["errors"]) == (409, {"handle": "already taken"})


async def test_wrong_password_and_unknown_email_look_the_same(api: Api) -> None:
    await api.signup(email="known@example.org")
    wrong = await api.call(
        "post", "/v1/auth/login", json={"email": "known@example.org", "password": "not it at all"}
    )
    unknown = await api.call(
        "post", "/v1/auth/login", json={"email": "nobody@example.org", "password": "not it at all"}
    )
    assert wrong.status == unknown.status == 401
    assert wrong.json == unknown.json


async def test_twenty_concurrent_signups_with_one_email_create_exactly_one_account(
    api: Api, services
) -> None:
    body = {"email": "race@example.org", "password": "racing password", "display_name": "Racer"}
    responses = await asyncio.gather(
        *(
            api.call("post", "/v1/auth/signup", json=body | {"handle": f"racer_{i}"})
            for i in range(20)
        )
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [409] * 19
    count = "MATCH (c:Credential {email: $e}) RETURN count(c) AS n"
    assert (await read(services, count, e="race@example.org"))[0]["n"] == 1


async def test_concurrent_signups_with_one_handle_create_exactly_one_account(api: Api) -> None:
    responses = await asyncio.gather(
        *(
            api.call(
                "post",
                "/v1/auth/signup",
                json={
                    "email": f"h{i}@example.org",
                    "password": "racing password",
                    "display_name": "H",
                    "handle": "one_handle",
                },
            )
            for i in range(10)
        )
    )
    assert sorted(r.status for r in responses) == [201] + [409] * 9


async def test_business_signup_gets_a_shop(api: Api) -> None:
    user, token = await api.signup(kind="business", shop_name="Velo Vintage", display_name="Velo")
    assert user["kind"] == "business"
    assert user["shop"]["name"] == "Velo Vintage"
    public = await api.call("get", f"/v1/users/{user['id']}")
    assert public.json["shop"] == user["shop"]
    renamed = await api.call("patch", "/v1/users/me", token, json={"shop_name": "Velo & Co"})
    assert renamed.json["shop"]["name"] == "Velo & Co"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "business"}, "body"),
        ({"kind": "person", "shop_name": "X"}, "body"),
        ({"kind": "robot"}, "kind"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"display_name": 42}, "display_name"),
        ({"display_name": "x" * 81}, "display_name"),
        ({"handle": "no spaces allowed"}, "handle"),
        ({"phone": "0612345678"}, "phone"),
        ({"role": "admin"}, "role"),
        ({"id": "chosen-by-client"}, "id"),
    ],
)
async def test_bad_signup_fields_are_422_with_per_field_errors(
    api: Api, body: dict, field: str
) -> None:
    base = {"email": "valid@example.org", "password": "long enough", "display_name": "Valid"}
    response = await api.call("post", "/v1/auth/signup", json=base | body)
    assert response.status == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json["errors"]
    assert field in errors or (field == "body" and errors), errors


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2", b"\xff\xfe", b'{"email": "a@b.c", "password": '],
)
async def test_malformed_json_is_400(api: Api, raw: bytes) -> None:
    response = await api.call(
        "post", "/v1/auth/signup", data=raw, headers={"content-type": "application/json"}
    )
    assert response.status == 400
    assert response.json["title"] == "Bad request"


async def test_a_json_array_or_scalar_body_is_422_not_500(api: Api) -> None:
    for raw in (b"[]", b"42", b'"text"', b"null"):
        response = await api.call("post", "/v1/auth/signup", data=raw)
        assert response.status == 422, raw


async def test_nul_bytes_are_refused_in_bodies_and_urls(api: Api) -> None:
    _, token = await api.signup()
    body = await api.call("patch", "/v1/users/me", token, json={"bio": "evil\x00bio"})
    assert body.status == 422
    key = await api.call("patch", "/v1/users/me", token, json={"bio\x00": "x"})
    assert key.status == 422
    url = await api.call("get", "/v1/users/abc%00def")
    assert url.status == 422
    me = await api.call("get", "/v1/users/me", token)
    assert me.json["bio"] == ""  # nothing was written


async def test_oversized_json_body_is_413(api: Api) -> None:
    response = await api.call("patch", "/v1/users/me", data=b'{"bio": "' + b"x" * 70_000 + b'"}')
    # unauthenticated requests are refused before the body is read
    assert response.status == 401
    _, token = await api.signup()
    response = await api.call(
        "patch", "/v1/users/me", token, data=b'{"bio": "' + b"x" * 70_000 + b'"}'
    )
    assert response.status == 413


async def test_stored_hash_is_argon2id_and_no_response_leaks_it_or_another_email(
    api: Api, services
) -> None:
    alice, alice_token = await api.signup(email="alice@example.org", display_name="Alice")
    _, bob_token = await api.signup(email="bob@example.org", display_name="Bob")
    rows = await read(services, CREDENTIALS, id=alice["id"])
    assert rows[0]["hash"].startswith("$argon2id$")

    bodies = [
        await api.call("get", f"/v1/users/{alice['id']}", bob_token),
        await api.call("get", f"/v1/users/{alice['id']}"),
        await api.call("get", "/v1/users/me", bob_token),
        await api.call("patch", "/v1/users/me", alice_token, json={"bio": "hello"}),
        await api.call(
            "post",
            "/v1/auth/login",
            json={"email": "bob@example.org", "password": "correct horse battery"},
        ),
    ]
    for response in bodies:
        assert response.status == 200
        assert "argon2" not in response.text
        assert "password" not in response.text
    assert "alice@example.org" not in bodies[0].text + bodies[1].text + bodies[2].text
    assert "bob@example.org" not in bodies[3].text


async def test_profile_patch_changes_only_given_fields_and_checks_the_handle(api: Api) -> None:
    await api.signup(handle="first_one")
    user, token = await api.signup(display_name="Changer", handle="changer")
    response = await api.call(
        "patch",
        "/v1/users/me",
        token,
        json={
            "bio": "Selling my records",
            "city": "Utrecht",
            "location": {"lat": 52.09, "lon": 5.12},
            "show_city": False,
        },
    )
    assert response.status == 200
    me = response.json
    assert (me["bio"], me["city"], me["display_name"]) == (
        "Selling my records",
        "Utrecht",
        "Changer",
    )
    assert me["location"] == {
        "lat": pytest.approx(52.09, abs=1e-4),
        "lon": pytest.approx(5.12, abs=1e-4),
    }
    public = await api.call("get", f"/v1/users/{user['id']}")
    assert public.json["city"] is None  # hidden by show_city
    taken = await api.call("patch", "/v1/users/me", token, json={"handle": "first_one"})
    assert taken.status == 409
    own = await api.call("patch", "/v1/users/me", token, json={"handle": "changer"})
    assert own.status == 200
    bad_place = await api.call(
        "patch", "/v1/users/me", token, json={"location": {"lat": 95, "lon": 0}}
    )
    assert bad_place.status == 422


async def test_public_profile_has_trust_components_and_rating_summary(api: Api) -> None:
    user, _ = await api.signup()
    response = await api.call("get", f"/v1/users/{user['id']}")
    assert response.status == 200
    body = response.json
    components = body["trust"]["components"]
    assert set(components) == {"verification", "account_age", "deals", "ratings", "network"}
    assert body["trust"]["score"] == sum(c["points"] for c in components.values()) == 0
    assert body["trust"]["computed_at"] is None  # the worker has not reached it yet
    assert all(c["why"] == "Not computed yet." for c in components.values())
    assert body["rating"] == {"count": 0, "average": None, "stars": dict.fromkeys("12345", 0)}
    assert "email" not in body and "phone" not in body
    assert (await api.call("get", "/v1/users/nobody")).status == 404


async def test_every_state_change_appends_an_event(api: Api, services) -> None:
    user, token = await api.signup()
    await api.call("patch", "/v1/users/me", token, json={"bio": "x"})
    await api.call(
        "post", "/v1/auth/login", json={"email": user["email"], "password": "correct horse battery"}
    )
    rows = await read(services, EVENTS, id=user["id"])
    assert [r["type"] for r in rows] == ["user.signed_up", "user.updated", "user.logged_in"]
    assert all(r["actor"] == user["id"] for r in rows)
    data = "MATCH (e:Event {subject_id: $id, type: 'user.updated'}) RETURN e.data AS data"
    updated = json.loads((await read(services, data, id=user["id"]))[0]["data"])
    assert updated["via"] == "accounts.update_profile"
    assert {k: v for k, v in updated["facts"].items() if v is not None} == {
        "id": user["id"],
        "bio": "x",
    }


async def test_a_hash_made_with_old_parameters_is_upgraded_at_login(api: Api, settings) -> None:
    user, _ = await api.signup(email="upgrade@example.org")
    stronger = settings.model_copy(update={"argon2_time_cost": 2})
    svc = await bootstrap(stronger)
    try:
        from graph.accounts.commands import Login

        await svc.accounts.login(
            Login(email="upgrade@example.org", password="correct horse battery")
        )
        rows = await read(svc, CREDENTIALS, id=user["id"])
        assert ",t=2," in rows[0]["hash"]
    finally:
        await shutdown(svc)
    login = await api.call(
        "post",
        "/v1/auth/login",
        json={"email": "upgrade@example.org", "password": "correct horse battery"},
    )
    assert login.status == 200


class TestRateLimits:
    @pytest.fixture
    def settings_overrides(self) -> dict:
        return {"rate_limits": "on"}

    async def test_signups_from_one_address_are_limited_with_retry_after(self, api: Api) -> None:
        statuses = []
        for i in range(11):
            response = await api.call(
                "post",
                "/v1/auth/signup",
                json={
                    "email": f"limit{i}@example.org",
                    "password": "long enough",
                    "display_name": "L",
                },
            )
            statuses.append(response.status)
        assert statuses == [201] * 10 + [429]
        assert int(response.headers["retry-after"]) > 0
        assert response.headers["content-type"] == "application/problem+json"

    async def test_logins_against_one_account_are_limited(self, api: Api) -> None:
        await api.signup(email="target@example.org")
        statuses = []
        for _ in range(11):
            response = await api.call(
                "post",
                "/v1/auth/login",
                json={"email": "target@example.org", "password": "guessing wrong"},
            )
            statuses.append(response.status)
        assert statuses == [401] * 10 + [429]
        assert int(response.headers["retry-after"]) > 0


def test_settings_make_every_test_graph_separate(data_dir) -> None:
    a, b = make_settings(data_dir), make_settings(data_dir)
    assert a.graph_name != b.graph_name and a.redis_prefix != b.redis_prefix
