"""Accounts: signup (persons and shops), login, logout, own and public profiles, avatars."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from graph.accounts.commands import Login, Signup, UpdateProfile
from graph.accounts.passwords import Passwords
from graph.accounts.sessions import Sessions
from graph.infra.cache import QueryCache
from graph.infra.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from graph.infra.ids import event, new_id
from graph.infra.ratelimit import LoginGuard
from graph.infra.store import GraphStore, statement
from graph.trust import SHOWN, stored

# The caller's own view: profile, own credentials' email/phone (never the hash), shop, avatar.
_OWN_VIEW = """
OPTIONAL MATCH (u)-[:OWNS]->(s:Shop)
OPTIONAL MATCH (u)-[:HAS_AVATAR]->(a:Image)
RETURN u.id AS id, u.handle AS handle, u.display_name AS display_name, u.kind AS kind,
       u.bio AS bio, u.city AS city, u.location AS location, u.show_city AS show_city,
       u.created_at AS created_at, u.email_verified AS email_verified,
       u.phone_verified AS phone_verified, c.email AS email, c.phone AS phone,
       s.id AS shop_id, s.name AS shop_name, s.verified AS shop_verified, a.id AS avatar_id
"""

SIGNUP = statement(
    "accounts.signup",
    """
    OPTIONAL MATCH (taken_email:Credential {email: $email})
    OPTIONAL MATCH (taken_phone:Credential {phone: $phone})
    OPTIONAL MATCH (taken_handle:User {handle: $handle})
    WITH taken_email, taken_phone, taken_handle
    WHERE taken_email IS NULL AND taken_phone IS NULL AND taken_handle IS NULL
    CREATE (u:User {id: $id, handle: $handle, display_name: $display_name, kind: $kind, bio: '',
                    created_at: $now, status: 'active', show_city: true,
                    email_verified: false, phone_verified: false, trust_score: 0})
    CREATE (u)-[:HAS_CREDENTIAL]->(c:Credential {email: $email, phone: $phone,
                                                password_hash: $password_hash})
    FOREACH (_ IN CASE WHEN $shop_name IS NULL THEN [] ELSE [1] END |
      CREATE (u)-[:OWNS]->(:Shop {id: $shop_id, name: $shop_name, verified: false,
                                  created_at: $now}))
    CREATE (e:Event {id: $event_id, type: 'user.signed_up', at: $now, actor_id: $id,
                     subject_id: $id, data: $event_data})
    WITH u, c
    """
    + _OWN_VIEW,
    write=True,
)

TAKEN = statement(
    "accounts.taken",
    """
    OPTIONAL MATCH (e:Credential {email: $email})
    OPTIONAL MATCH (p:Credential {phone: $phone})
    OPTIONAL MATCH (h:User {handle: $handle})
    RETURN e IS NOT NULL AS email, p IS NOT NULL AS phone, h IS NOT NULL AS handle
    """,
)

CREDENTIAL_BY_EMAIL = statement(
    "accounts.credential_by_email",
    """
    MATCH (u:User)-[:HAS_CREDENTIAL]->(c:Credential {email: $email})
    RETURN u.id AS id, u.status AS status, c.password_hash AS password_hash
    """,
)

CREDENTIAL_BY_PHONE = statement(
    "accounts.credential_by_phone",
    """
    MATCH (u:User)-[:HAS_CREDENTIAL]->(c:Credential {phone: $phone})
    RETURN u.id AS id, u.status AS status, c.password_hash AS password_hash
    """,
)

REHASH = statement(
    "accounts.rehash",
    """
    MATCH (u:User {id: $id})-[:HAS_CREDENTIAL]->(c:Credential)
    SET c.password_hash = $password_hash
    CREATE (e:Event {id: $event_id, type: 'credential.rehashed', at: $now, actor_id: $id,
                     subject_id: $id, data: $event_data})
    RETURN u.id AS id
    """,
    write=True,
)

LOGGED_IN = statement(
    "accounts.logged_in",
    """
    MATCH (u:User {id: $id})
    SET u.last_login_at = $now
    CREATE (e:Event {id: $event_id, type: 'user.logged_in', at: $now, actor_id: $id,
                     subject_id: $id, data: $event_data})
    RETURN u.id AS id
    """,
    write=True,
)

ME = statement(
    "accounts.me",
    "MATCH (u:User {id: $id})-[:HAS_CREDENTIAL]->(c:Credential) WHERE u.status = 'active'"
    + _OWN_VIEW,
)

UPDATE_PROFILE = statement(
    "accounts.update_profile",
    """
    MATCH (u:User {id: $id})-[:HAS_CREDENTIAL]->(c:Credential)
    OPTIONAL MATCH (other:User {handle: $handle})
    WITH u, c, other
    WHERE other IS NULL OR other.id = $id
    SET u.display_name = coalesce($display_name, u.display_name),
        u.handle = coalesce($handle, u.handle), u.bio = coalesce($bio, u.bio),
        u.city = coalesce($city, u.city), u.show_city = coalesce($show_city, u.show_city)
    SET u.location = CASE WHEN $location IS NULL THEN u.location ELSE point($location) END
    WITH u, c
    OPTIONAL MATCH (u)-[:OWNS]->(shop:Shop)
    FOREACH (_ IN CASE WHEN $shop_name IS NULL OR shop IS NULL THEN [] ELSE [1] END |
      SET shop.name = $shop_name)
    CREATE (e:Event {id: $event_id, type: 'user.updated', at: $now, actor_id: $id,
                     subject_id: $id, data: $event_data})
    WITH u, c
    """
    + _OWN_VIEW,
    write=True,
)

SET_AVATAR = statement(
    "accounts.set_avatar",
    """
    MATCH (u:User {id: $id})-[:HAS_CREDENTIAL]->(c:Credential)
    MATCH (u)-[:UPLOADED]->(i:Image {id: $image_id})
    OPTIONAL MATCH (u)-[old:HAS_AVATAR]->(:Image)
    DELETE old
    WITH DISTINCT u, c, i
    CREATE (u)-[:HAS_AVATAR]->(i)
    CREATE (e:Event {id: $event_id, type: 'user.avatar_set', at: $now, actor_id: $id,
                     subject_id: $id, data: $event_data})
    WITH u, c
    """
    + _OWN_VIEW,
    write=True,
)

PUBLIC_PROFILE = statement(
    "accounts.public_profile",
    """
    MATCH (u:User {id: $id})
    WHERE u.status = 'active'
      AND ($viewer_id IS NULL OR NOT (u)-[:BLOCKED]-(:User {id: $viewer_id}))
    OPTIONAL MATCH (u)-[:OWNS]->(s:Shop)
    OPTIONAL MATCH (u)-[:HAS_AVATAR]->(a:Image)
    OPTIONAL MATCH (author:User)-[:WROTE]->(rv:Review)-[:ABOUT]->(u)
    WHERE """
    + SHOWN
    + """
    WITH u, s, a, collect(rv.rating) AS stars
    RETURN u.id AS id, u.handle AS handle, u.display_name AS display_name, u.kind AS kind,
           u.bio AS bio, CASE WHEN u.show_city THEN u.city ELSE null END AS city,
           u.created_at AS created_at, u.email_verified AS email_verified,
           u.phone_verified AS phone_verified, s.id AS shop_id, s.name AS shop_name,
           s.verified AS shop_verified, a.id AS avatar_id, stars,
           u.trust_score AS trust_score, u.trust_components AS trust_components,
           u.trust_at AS trust_at,
           [(u)-[:LINKED]->(sl:SocialAccount) WHERE sl.verified_at IS NOT NULL
              | {provider: sl.provider, handle: sl.handle}] AS social_links
    """,
)

BLOCK = statement(
    "accounts.block",
    """
    MATCH (me:User {id: $user_id})
    MATCH (other:User {id: $other_id})
    WHERE other.id <> me.id
    MERGE (me)-[b:BLOCKED]->(other)
      ON CREATE SET b.at = $now
    CREATE (e:Event {id: $event_id, type: 'user.blocked', at: $now, actor_id: $user_id,
                     subject_id: $other_id, data: $event_data})
    RETURN other.id AS id
    """,
    write=True,
)

UNBLOCK = statement(
    "accounts.unblock",
    """
    MATCH (me:User {id: $user_id})-[b:BLOCKED]->(other:User {id: $other_id})
    DELETE b
    CREATE (e:Event {id: $event_id, type: 'user.unblocked', at: $now, actor_id: $user_id,
                     subject_id: $other_id, data: $event_data})
    RETURN other.id AS id
    """,
    write=True,
)

BLOCKED = statement(
    "accounts.blocked",
    """
    MATCH (me:User {id: $user_id})-[b:BLOCKED]->(other:User)
    RETURN other.id AS id, other.handle AS handle, other.display_name AS display_name,
           b.at AS blocked_at
    ORDER BY b.at DESC
    LIMIT 1000
    """,
)

_HANDLE_CHARS = re.compile(r"[^a-z0-9_]+")


def suggest_handle(display_name: str) -> str:
    base = _HANDLE_CHARS.sub("", display_name.lower().replace(" ", "_"))[:20] or "user"
    if len(base) < 3:
        base = (base + "user")[:20]
    return f"{base}_{secrets.randbelow(10_000):04d}"


def login_key(cmd: Login, credential: dict[str, Any] | None) -> str:
    """What login limits count against: the account an identifier names, whichever of its
    identifiers it is, or the identifier itself when it names none."""
    if credential is not None:
        return f"user:{credential['id']}"
    return f"email:{cmd.email}" if cmd.email is not None else f"phone:{cmd.phone}"


class AccountService:
    def __init__(
        self,
        store: GraphStore,
        passwords: Passwords,
        sessions: Sessions,
        cache: QueryCache,
        guard: LoginGuard,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._sessions = sessions
        self._cache = cache
        self._guard = guard

    async def signup(self, cmd: Signup) -> tuple[dict[str, Any], str]:
        password_hash = await self._passwords.hash(cmd.password)
        for attempt in range(3):
            handle = cmd.handle or suggest_handle(cmd.display_name)
            params = {
                "id": new_id(),
                "email": cmd.email,
                "phone": cmd.phone,
                "handle": handle,
                "display_name": cmd.display_name,
                "kind": cmd.kind,
                "shop_name": cmd.shop_name if cmd.kind == "business" else None,
                "shop_id": new_id(),
                "password_hash": password_hash,
                **event(),
            }
            try:
                rows = await self._store.run(SIGNUP, params)
            except Conflict:
                rows = []  # lost a race another signup won: the checks below name the field
            if rows:
                token = await self._sessions.issue(rows[0]["id"])
                return rows[0], token
            taken = (await self._store.run(TAKEN, params))[0]
            fields = {k: "already registered" for k in ("email", "phone") if taken[k]}
            if cmd.handle and taken["handle"]:
                fields["handle"] = "already taken"
            if fields:
                raise Conflict("an account with these details exists", errors=fields)
            if attempt == 2:
                break  # a generated handle collided three times, or a race left nothing to name
        raise Conflict("could not create the account; try again")

    async def login(self, cmd: Login, address: str | None = None) -> tuple[dict[str, Any], str]:
        """The person and a new token. Called from `address` (a client's), the login limits
        apply to the account the email or phone names, so failures by one identifier and by
        the other add up, or to the identifier when it names no account: the same reads and
        counts either way, so neither the answers nor their timing tell which it was."""
        if cmd.email is not None:
            rows = await self._store.run(CREDENTIAL_BY_EMAIL, {"email": cmd.email})
        else:
            rows = await self._store.run(CREDENTIAL_BY_PHONE, {"phone": cmd.phone})
        key = login_key(cmd, rows[0] if rows else None)
        if address is not None:
            await self._guard.before(key, address)
        stored = rows[0]["password_hash"] if rows else None
        if not await self._passwords.verify(stored, cmd.password) or not rows:
            if address is not None:
                await self._guard.failed(key, address)
            raise Unauthorized("invalid credentials")
        user_id = rows[0]["id"]
        if rows[0]["status"] != "active":
            raise Forbidden("this account is not active")
        if stored and self._passwords.needs_rehash(stored):
            new_hash = await self._passwords.hash(cmd.password)
            await self._store.run(REHASH, {"id": user_id, "password_hash": new_hash, **event()})
        await self._store.run(LOGGED_IN, {"id": user_id, **event()})
        token = await self._sessions.issue(user_id)
        return await self.me(user_id), token

    async def logout(self, token: str) -> None:
        await self._sessions.revoke(token)

    async def me(self, user_id: str) -> dict[str, Any]:
        rows = await self._store.run(ME, {"id": user_id})
        if not rows:
            raise NotFound("account not found")
        return rows[0]

    async def own_profile(self, user_id: str, render: Callable[[dict[str, Any]], bytes]) -> bytes:
        """`me` as `render` answers it, held by this worker for a few seconds: every change to
        what it shows is pushed to every worker (graph.accounts.tokens)."""
        profiles = self._sessions.profiles
        if (held := profiles.get(user_id)) is not None:
            return held
        generation = profiles.generation
        answer = render(await self.me(user_id))
        profiles.put(user_id, answer, generation)
        return answer

    async def update_profile(self, cmd: UpdateProfile) -> dict[str, Any]:
        location = (
            {"latitude": cmd.location.lat, "longitude": cmd.location.lon} if cmd.location else None
        )
        # each field its own fact (None: unchanged), so erasing one leaves the others replayable
        params = {
            "id": cmd.user_id,
            "display_name": cmd.display_name,
            "handle": cmd.handle,
            "bio": cmd.bio,
            "city": cmd.city,
            "show_city": cmd.show_city,
            "location": location,
            "shop_name": cmd.shop_name,
            **event(),
        }
        try:
            rows = await self._store.run(UPDATE_PROFILE, params)
        except Conflict as exc:
            raise Conflict("handle already taken", errors={"handle": "already taken"}) from exc
        if not rows:
            await self.me(cmd.user_id)  # raises NotFound for a vanished account
            raise Conflict("handle already taken", errors={"handle": "already taken"})
        await self._sessions.profile_changed(cmd.user_id)
        await self._cache.bump("catalog", [cmd.user_id])  # listings show their seller's name
        return rows[0]

    async def set_avatar(self, user_id: str, image_id: str) -> dict[str, Any]:
        rows = await self._store.run(SET_AVATAR, {"id": user_id, "image_id": image_id, **event()})
        if not rows:
            raise NotFound("no such image of yours")
        await self._sessions.profile_changed(user_id)
        await self._cache.bump("catalog", [user_id])  # listings show their seller's avatar
        return rows[0]

    async def block(self, user_id: str, other_id: str) -> None:
        if user_id == other_id:
            raise Invalid("you cannot block yourself", errors={"id": "yourself"})
        rows = await self._store.run(BLOCK, {"user_id": user_id, "other_id": other_id, **event()})
        if not rows:
            raise NotFound("no such user")
        await self._sessions.members_changed(user_id, other_id)  # their rooms no longer show
        await self._cache.forget(f"hidden:{user_id}", f"hidden:{other_id}")

    async def unblock(self, user_id: str, other_id: str) -> None:
        await self._store.run(UNBLOCK, {"user_id": user_id, "other_id": other_id, **event()})
        await self._sessions.members_changed(user_id, other_id)  # their rooms show again
        await self._cache.forget(f"hidden:{user_id}", f"hidden:{other_id}")

    async def blocked(self, user_id: str) -> list[dict[str, Any]]:
        return await self._store.run(BLOCKED, {"user_id": user_id})

    async def public_profile(self, user_id: str, viewer_id: str | None = None) -> dict[str, Any]:
        rows = await self._store.run(PUBLIC_PROFILE, {"id": user_id, "viewer_id": viewer_id})
        if not rows:
            raise NotFound("no such user")
        row = rows[0]
        row["trust"] = stored(row)
        return row
