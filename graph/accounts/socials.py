"""Linked social accounts, proved through a provider port.

A person claims a handle (`link`), is sent to the provider's sign-in (`authorize_url`, with a
single-use state bound to them), and comes back with a code the provider exchanges for the
handle they really signed in as; only a match verifies the link. Production uses OAuth 2.0's
authorization-code flow against each configured provider (none configured: linking answers 503);
development (VENDR_ENV=dev only) uses a local provider that signs a code for any handle, so the
flow runs end to end without accounts anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
import redis.asyncio as aioredis

from graph.infra.errors import Conflict, Invalid, NotFound, Unavailable
from graph.infra.ids import event, iso
from graph.infra.store import GraphStore, statement

DEV_PROVIDERS = ("instagram", "facebook", "tiktok", "x", "youtube", "github")
STATE_TTL_S = 600


class SocialProvider(Protocol):
    def providers(self) -> tuple[str, ...]: ...

    def authorize_url(self, provider: str, state: str) -> str: ...

    async def exchange(self, provider: str, code: str) -> str: ...


class DevSocialProvider:
    """Development: `GET /v1/dev/socials/{provider}/authorize?state=…&handle=…` stands in for
    the provider's sign-in and hands back a code signed for that handle."""

    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self._base = public_url.rstrip("/")

    def providers(self) -> tuple[str, ...]:
        return DEV_PROVIDERS

    def authorize_url(self, provider: str, state: str) -> str:
        return f"{self._base}/v1/dev/socials/{provider}/authorize?{urlencode({'state': state})}"

    def sign(self, provider: str, handle: str) -> str:
        mac = hmac.new(self._secret, f"{provider}:{handle}".encode(), hashlib.sha256)
        return f"{handle}.{mac.hexdigest()[:32]}"

    async def exchange(self, provider: str, code: str) -> str:
        handle, _, _ = code.rpartition(".")
        if not handle or not hmac.compare_digest(self.sign(provider, handle), code):
            raise Invalid("the provider did not accept this code", errors={"code": "invalid"})
        return handle


class OAuthProvider:
    """OAuth 2.0 authorization code flow; per provider: authorize_url, token_url,
    userinfo_url, client_id, client_secret, handle_field (VENDR_OAUTH_PROVIDERS, JSON)."""

    def __init__(self, config: dict[str, dict[str, str]], public_url: str) -> None:
        self._config = config
        self._base = public_url.rstrip("/")

    def providers(self) -> tuple[str, ...]:
        return tuple(sorted(self._config))

    def _redirect(self, provider: str) -> str:
        # the app's own page, which posts the code and state to .../socials/{provider}/verify
        return f"{self._base}/socials/{provider}/callback"

    def authorize_url(self, provider: str, state: str) -> str:
        conf = self._config[provider]
        query = {
            "response_type": "code",
            "client_id": conf["client_id"],
            "redirect_uri": self._redirect(provider),
            "state": state,
            "scope": conf.get("scope", ""),
        }
        return f"{conf['authorize_url']}?{urlencode(query)}"

    async def exchange(self, provider: str, code: str) -> str:
        conf = self._config[provider]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._redirect(provider),
            "client_id": conf["client_id"],
            "client_secret": conf["client_secret"],
        }
        try:
            async with httpx.AsyncClient(timeout=15.0) as client:
                token = await client.post(
                    conf["token_url"], data=form, headers={"accept": "application/json"}
                )
                if token.status_code >= 500:
                    raise Unavailable(f"{provider} is not answering; try again later")
                access = token.json().get("access_token") if token.status_code < 300 else None
                if not access:
                    raise Invalid(
                        f"{provider} did not accept this code", errors={"code": "invalid"}
                    )
                info = await client.get(
                    conf["userinfo_url"], headers={"authorization": f"Bearer {access}"}
                )
        except httpx.HTTPError as exc:
            raise Unavailable(f"{provider} is not answering; try again later") from exc
        handle = info.json().get(conf.get("handle_field", "username")) if info.is_success else None
        if not handle:
            raise Unavailable(f"{provider} did not say who signed in; try again later")
        return str(handle)


def make_provider(kind: str, oauth_json: str, secret: bytes, public_url: str) -> SocialProvider:
    if kind == "oauth":
        try:
            config = json.loads(oauth_json or "{}")
        except ValueError as exc:
            raise ValueError("VENDR_OAUTH_PROVIDERS is not valid JSON") from exc
        return OAuthProvider(config, public_url)
    return DevSocialProvider(secret, public_url)


LINK = statement(
    "socials.link",
    """
    MATCH (u:User {id: $user_id}) WHERE u.status = 'active'
    OPTIONAL MATCH (u)-[:LINKED]->(old:SocialAccount {provider: $provider})
    DETACH DELETE old
    WITH DISTINCT u
    CREATE (u)-[:LINKED]->(s:SocialAccount {provider: $provider, handle: $handle,
                                           key: $key, created_at: $now, verified_at: null})
    CREATE (:Event {id: $event_id, type: 'social.linked', at: $now, actor_id: $user_id,
                    subject_id: $user_id, data: $event_data})
    RETURN s.provider AS provider, s.handle AS handle, s.verified_at AS verified_at
    """,
    write=True,
)

VERIFY = statement(
    "socials.verify",
    """
    MATCH (u:User {id: $user_id})-[:LINKED]->(s:SocialAccount {provider: $provider})
    WHERE u.status = 'active' AND s.key = $key
      AND NOT (:User)-[:LINKED]->(:SocialAccount {key: $key, verified: true})
    SET s.verified_at = $now, s.verified = true
    CREATE (:Event {id: $event_id, type: 'social.verified', at: $now, actor_id: $user_id,
                    subject_id: $user_id, data: $event_data})
    RETURN s.provider AS provider, s.handle AS handle, s.verified_at AS verified_at
    """,
    write=True,
)

UNLINK = statement(
    "socials.unlink",
    """
    MATCH (u:User {id: $user_id})-[:LINKED]->(s:SocialAccount {provider: $provider})
    DETACH DELETE s
    CREATE (:Event {id: $event_id, type: 'social.unlinked', at: $now, actor_id: $user_id,
                    subject_id: $user_id, data: $event_data})
    RETURN $provider AS provider
    """,
    write=True,
)

MINE = statement(
    "socials.mine",
    """
    MATCH (:User {id: $user_id})-[:LINKED]->(s:SocialAccount)
    RETURN s.provider AS provider, s.handle AS handle, s.verified_at AS verified_at
    ORDER BY provider
    """,
)


def _key(provider: str, handle: str) -> str:
    return f"{provider}:{handle.lower()}"


def shape(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "provider": row["provider"],
        "handle": row["handle"],
        "verified": row["verified_at"] is not None,
        "verified_at": iso(row["verified_at"]),
    }


class Socials:
    def __init__(
        self, store: GraphStore, redis: aioredis.Redis, prefix: str, provider: SocialProvider
    ) -> None:
        self._store = store
        self._redis = redis
        self._prefix = prefix
        self.provider = provider

    def _check(self, provider: str) -> None:
        if not self.provider.providers():
            raise Unavailable(
                "linking social accounts is not configured on this server: its operator sets "
                "VENDR_OAUTH_PROVIDERS",
                errors={"provider": "not configured"},
            )
        if provider not in self.provider.providers():
            known = ", ".join(self.provider.providers())
            raise Invalid(f"unknown provider; one of: {known}", errors={"provider": "unknown"})

    async def mine(self, user_id: str) -> list[dict[str, Any]]:
        return [shape(r) for r in await self._store.run(MINE, {"user_id": user_id})]

    async def link(self, user_id: str, provider: str, handle: str) -> dict[str, Any]:
        self._check(provider)
        params = {
            "user_id": user_id,
            "provider": provider,
            "handle": handle,
            "key": _key(provider, handle),
            **event(),
        }
        rows = await self._store.run(LINK, params)
        if not rows:
            raise NotFound("account not found")
        state = secrets.token_urlsafe(24)
        await self._redis.set(
            f"{self._prefix}social-state:{state}",
            json.dumps({"user_id": user_id, "provider": provider}),
            ex=STATE_TTL_S,
        )
        verify_url = self.provider.authorize_url(provider, state)
        return shape(rows[0]) | {"verify_url": verify_url, "state": state}

    async def verify(self, user_id: str, provider: str, state: str, code: str) -> dict[str, Any]:
        self._check(provider)
        raw = await self._redis.getdel(f"{self._prefix}social-state:{state}")
        bound = json.loads(raw) if raw else None
        if not bound or bound != {"user_id": user_id, "provider": provider}:
            raise Invalid(
                "the sign-in expired or was not started here; link the account again",
                errors={"state": "invalid"},
            )
        proved = await self.provider.exchange(provider, code)
        mine = {s["provider"]: s for s in await self.mine(user_id)}
        claimed = mine.get(provider)
        if claimed is None:
            raise NotFound(f"no {provider} account is linked")
        if proved.lower() != claimed["handle"].lower():
            raise Invalid(
                f"you signed in as {proved}, not {claimed['handle']}",
                errors={"handle": "does not match"},
            )
        params = {
            "user_id": user_id,
            "provider": provider,
            "key": _key(provider, proved),
            **event(),
        }
        rows = await self._store.run(VERIFY, params)
        if not rows:
            raise Conflict(
                "this account is already verified by someone else", errors={"handle": "taken"}
            )
        return shape(rows[0])

    async def unlink(self, user_id: str, provider: str) -> None:
        rows = await self._store.run(UNLINK, {"user_id": user_id, "provider": provider, **event()})
        if not rows:
            raise NotFound(f"no {provider} account is linked")
