"""The account lifecycle: verifying email and phone, resetting a forgotten password, and
deleting an account for good.

Codes go out through the outbox (`account` notifications, which nobody can switch off); the
code itself is kept hashed in Redis and in plain text only on the pending notification, which
forgets it once it is sent. Everything that ends sessions also closes that person's sockets.

A reset code belongs to the email and to the address that asked for it (graph.notify.codes):
others guessing spend only what others may try, never what the owner may from where they
asked. Every reset code that does not work gets one answer, whether the email has an account
or not; wrong codes, verification or reset, are counted per client address.
"""

from __future__ import annotations

from typing import Any

import phonenumbers

from graph.accounts.ending import Ending, mark, mark_params
from graph.accounts.passwords import Passwords
from graph.accounts.sessions import Sessions
from graph.catalog import Changed
from graph.infra.cache import QueryCache
from graph.infra.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from graph.infra.ids import event, new_id, now_ms
from graph.infra.ratelimit import RateLimiter
from graph.infra.settings import Settings
from graph.infra.store import GraphStore, statement
from graph.notify import OUTBOX_NODE, Checked, Codes, Limits, Notifier, record, refused_alike


def e164(raw: str, region: str | None = None) -> str:
    """A phone number as E.164 (`+32470123456`), or Invalid. Without `region` the number must
    start with + and its country code."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(f"not a phone number: {exc}", errors={"phone": "not a phone number"}) from exc
    if not phonenumbers.is_valid_number(number):
        raise Invalid(
            "not a valid phone number for its country", errors={"phone": "invalid number"}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


CONTACT = statement(
    "lifecycle.contact",
    """
    MATCH (u:User {id: $user_id})-[:HAS_CREDENTIAL]->(c:Credential)
    WHERE u.status = 'active'
    RETURN c.email AS email, c.phone AS phone, u.email_verified AS email_verified,
           u.phone_verified AS phone_verified
    """,
)

PHONE_OWNER = statement(
    "lifecycle.phone_owner",
    "MATCH (u:User)-[:HAS_CREDENTIAL]->(:Credential {phone: $phone}) RETURN u.id AS id",
)

# An account notice (a code, a security message) for an active person: the outbox record alone.
NOTICE = statement(
    "lifecycle.notice",
    "MATCH (u:User {id: $user_id}) WHERE u.status = 'active'\n"
    + OUTBOX_NODE
    + "RETURN ob.id AS id",
    write=True,
)

CONFIRM_EMAIL = statement(
    "lifecycle.confirm_email",
    """
    MATCH (u:User {id: $user_id})-[:HAS_CREDENTIAL]->(c:Credential {email: $email})
    WHERE u.status = 'active'
    SET u.email_verified = true, u.email_verified_at = $now
    CREATE (:Event {id: $event_id, type: 'user.email_verified', at: $now, actor_id: $user_id,
                    subject_id: $user_id, data: $event_data})
    RETURN u.id AS id
    """,
    write=True,
)

CONFIRM_PHONE = statement(
    "lifecycle.confirm_phone",
    """
    MATCH (u:User {id: $user_id})-[:HAS_CREDENTIAL]->(c:Credential)
    WHERE u.status = 'active'
    OPTIONAL MATCH (holder:Credential {phone: $phone})
    WITH u, c, holder
    WHERE holder IS NULL OR holder = c
    SET c.phone = $phone, u.phone_verified = true, u.phone_verified_at = $now
    CREATE (:Event {id: $event_id, type: 'user.phone_verified', at: $now, actor_id: $user_id,
                    subject_id: $user_id, data: $event_data})
    RETURN u.id AS id
    """,
    write=True,
)

ACCOUNT_BY_EMAIL = statement(
    "lifecycle.account_by_email",
    """
    MATCH (u:User)-[:HAS_CREDENTIAL]->(c:Credential {email: $email})
    WHERE u.status = 'active'
    RETURN u.id AS id
    """,
)

SET_PASSWORD = statement(
    "lifecycle.set_password",
    """
    MATCH (u:User {id: $user_id})-[:HAS_CREDENTIAL]->(c:Credential)
    WHERE u.status = 'active'
    SET c.password_hash = $password_hash, c.password_changed_at = $now
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: $user_id,
                    subject_id: $user_id, data: $event_data})
    WITH u
    """
    + OUTBOX_NODE
    + "RETURN u.id AS id",
    write=True,
)

PASSWORD_HASH = statement(
    "lifecycle.password_hash",
    """
    MATCH (u:User {id: $user_id})-[:HAS_CREDENTIAL]->(c:Credential)
    WHERE u.status = 'active'
    RETURN c.password_hash AS password_hash
    """,
)

# Erases a person in one statement. What is theirs alone goes (credential, socials, saved
# searches, notifications, account notices still queued, avatar link); what others rely on
# stays without them: messages keep their sender id, now a "Deleted user"; listings are
# removed; the Event says who, never what. Deals in flight are not touched here: the account
# is marked, each deal then ends through its state machine, and the personal facts in the
# person's Events are erased (graph.accounts.ending, graph.accounts.erasure).
DELETE_ACCOUNT = statement(
    "lifecycle.delete_account",
    """
    MATCH (u:User {id: $user_id})-[:HAS_CREDENTIAL]->(c:Credential)
    WHERE u.status = 'active'
    OPTIONAL MATCH (n:Notification {user_id: $user_id})
    WITH u, c, collect(n) AS notes
    OPTIONAL MATCH (ob:Outbox {actor_id: $user_id})
    WHERE ob.kind = 'account'
    WITH u, c, notes, collect(ob) AS notices
    WITH u, c, notes, notices,
         [(u)-[:LINKED]->(s:SocialAccount) | s] AS socials,
         [(u)-[:SAVED_SEARCH]->(q:Search) | q] AS searches,
         [(u)-[:LISTED]->(p:Product) WHERE p.status <> 'deleted' | p] AS listings
    DETACH DELETE c
    FOREACH (x IN notes | DELETE x)
    FOREACH (x IN notices | DELETE x)
    FOREACH (x IN socials | DETACH DELETE x)
    FOREACH (x IN searches | DETACH DELETE x)
    // a listing's exact place is where its seller lives: only its public cell is kept
    FOREACH (p IN listings |
      SET p.status = 'deleted', p.deleted_at = $now, p.updated_at = $now, p.location = p.place)
    WITH u
    OPTIONAL MATCH (u)-[av:HAS_AVATAR]->(:Image)
    DELETE av
    WITH DISTINCT u
    SET u.status = 'deleted', u.deleted_at = $now, u.handle = $tombstone,
        u.display_name = 'Deleted user', u.bio = '', u.city = null, u.location = null,
        u.show_city = false, u.notify = null, u.email_verified = false,
        u.phone_verified = false, u.last_login_at = null, u.email_verified_at = null,
        u.phone_verified_at = null, """
    + mark("u")
    + """
    CREATE (:Event {id: $event_id, type: 'user.deleted', at: $now, actor_id: $user_id,
                    subject_id: $user_id, data: $event_data})
    RETURN u.id AS id
    """,
    write=True,
)

LISTINGS_OF = statement(
    "lifecycle.listings_of",
    "MATCH (:User {id: $user_id})-[:LISTED]->(p:Product) RETURN p.id AS id LIMIT 10000",
)


async def end_sessions(
    sessions: Sessions, notifier: Notifier, user_id: str, *, disable: bool = False
) -> None:
    """Revoke every token and close every socket of this person, on every worker; with
    `disable`, no token resolves to the account again until it is enabled."""
    if disable:
        await sessions.disable(user_id)
    else:
        await sessions.revoke_all(user_id)
    await notifier.publish([user_id], {"type": "session.revoked", "session": None})


class Lifecycle:
    def __init__(
        self,
        store: GraphStore,
        codes: Codes,
        passwords: Passwords,
        sessions: Sessions,
        notifier: Notifier,
        cache: QueryCache,
        listings_changed: Changed,
        limiter: RateLimiter,
        settings: Settings,
        ending: Ending,
    ) -> None:
        self._store = store
        self._codes = codes
        self._passwords = passwords
        self._sessions = sessions
        self._notifier = notifier
        self._cache = cache
        self._listings_changed = listings_changed  # the catalog's: caches and pools follow
        self._limiter = limiter
        self._settings = settings
        self._ending = ending

    def _limits(self, ttl_s: int | None = None) -> Limits:
        s = self._settings
        return Limits(
            ttl_s=ttl_s or s.code_ttl_seconds,
            attempts=s.code_attempts,
            resend_s=s.code_resend_seconds,
            per_hour=s.code_sends_per_hour,
            per_hour_all=s.code_sends_per_hour_all,
        )

    async def _contact(self, user_id: str) -> dict[str, Any]:
        rows = await self._store.run(CONTACT, {"user_id": user_id})
        if not rows:
            raise NotFound("account not found")
        return rows[0]

    async def _notice(self, user_id: str, params: dict[str, Any]) -> None:
        await self._store.run(NOTICE, {"user_id": user_id, "now": now_ms(), **params})
        await self._notifier.wake_outbox()

    # ---- verification ------------------------------------------------------------------

    async def send_code(
        self, user_id: str, channel: str, phone: str | None = None
    ) -> dict[str, Any]:
        """Send a code to the account's email, or to `phone` (the account's own number when
        not given), normalised and not another account's."""
        contact = await self._contact(user_id)
        if channel == "email":
            target = str(contact["email"])
            if contact["email_verified"]:
                raise Conflict("your email is already verified", errors={"email": "verified"})
        else:
            raw = phone or contact["phone"]
            if not raw:
                raise Invalid("give the phone number to verify", errors={"phone": "required"})
            target = e164(raw, self._settings.default_phone_region)
            if contact["phone_verified"] and target == contact["phone"]:
                raise Conflict("this number is already verified", errors={"phone": "verified"})
            owner = await self._store.run(PHONE_OWNER, {"phone": target})
            if owner and owner[0]["id"] != user_id:
                raise Conflict("this number belongs to another account", errors={"phone": "taken"})
        code = await self._codes.issue(
            f"verify-{channel}", user_id, target, self._limits(), requester=user_id
        )
        notice = record(
            "account",
            f"verify.{channel}",
            subject_id=user_id,
            actor_id=user_id,
            recipients=[user_id],
            channels=["email" if channel == "email" else "sms"],
            secret=code,
            to=target,
        )
        await self._notice(user_id, notice)
        return {"channel": channel, "sent_to": _masked(target), "expires_in": self._limits().ttl_s}

    async def confirm_code(self, user_id: str, channel: str, code: str, address: str) -> None:
        """Verify with the code sent; a wrong one says how many tries are left on it, a spent
        or expired one asks for a new code (which always works)."""
        purpose = f"verify-{channel}"
        checked = await self._try(purpose, user_id, code, requester=user_id, address=address)
        if checked.target is None:
            raise checked.refusal()
        target = checked.target
        if channel == "email":
            rows = await self._store.run(
                CONFIRM_EMAIL, {"user_id": user_id, "email": target, **event()}
            )
            if not rows:
                raise Conflict("your email changed since the code was sent; ask for a new one")
            await self._sessions.profile_changed(user_id)
            return
        try:
            rows = await self._store.run(
                CONFIRM_PHONE, {"user_id": user_id, "phone": target, **event()}
            )
        except Conflict:
            rows = []
        if not rows:
            raise Conflict("this number now belongs to another account", errors={"phone": "taken"})
        await self._sessions.profile_changed(user_id)

    # ---- password reset ----------------------------------------------------------------

    async def request_reset(self, email: str, address: str) -> None:
        """Sends a code when an active account has this email, kept for the email and the
        asking `address`; says nothing either way, and an address or email asking too often
        is quietly not sent more."""
        rows = await self._store.run(ACCOUNT_BY_EMAIL, {"email": email})
        if not rows:
            return
        user_id = rows[0]["id"]
        limits = self._limits(self._settings.reset_ttl_seconds)
        try:
            code = await self._codes.issue("reset", email, user_id, limits, requester=address)
        except RateLimited:  # over the limits: the caller learns nothing from it
            return
        notice = record(
            "account",
            "password.reset",
            subject_id=user_id,
            actor_id=user_id,
            recipients=[user_id],
            channels=["email"],
            secret=code,
            to=email,
        )
        await self._notice(user_id, notice)

    async def reset(self, email: str, code: str, password: str, address: str) -> None:
        """A new password with the code mailed. Codes are kept by email, so a wrong code for
        an email with an account and any code for one without take the same steps (no read of
        the graph) and get the same answer."""
        checked = await self._try("reset", email, code, requester=address, address=address)
        if checked.target is None:
            raise refused_alike()
        try:
            await self._set_password(checked.target, password, "password.reset")
        except NotFound:  # the account was suspended or deleted since the code was sent
            raise refused_alike() from None

    async def _try(
        self, purpose: str, subject: str, code: str, *, requester: str, address: str
    ) -> Checked:
        """A try of a code. Wrong ones are counted against the client address whatever the
        account or email (`code_failures_ip`), and past the limit it is refused unchecked."""
        await self._limiter.refuse_if_spent("code_failures_ip", address)
        checked = await self._codes.check(purpose, subject, code, requester=requester)
        if checked.target is None:
            await self._limiter.count("code_failures_ip", address)
        return checked

    async def change_password(self, user_id: str, current: str, password: str) -> None:
        await self._check_password(user_id, current)
        await self._set_password(user_id, password, "password.changed")

    async def _set_password(self, user_id: str, password: str, event_type: str) -> None:
        password_hash = await self._passwords.hash(password)
        notice = record(
            "account",
            "password.changed",
            subject_id=user_id,
            actor_id=user_id,
            recipients=[user_id],
            channels=["email"],
        )
        params = {
            "user_id": user_id,
            "password_hash": password_hash,
            "event_type": event_type,
            **event(),
            **notice,
        }
        rows = await self._store.run(SET_PASSWORD, params)
        if not rows:
            raise NotFound("account not found")
        await self.end_sessions(user_id)
        await self._notifier.wake_outbox()

    async def _check_password(self, user_id: str, password: str) -> None:
        rows = await self._store.run(PASSWORD_HASH, {"user_id": user_id})
        stored = rows[0]["password_hash"] if rows else None
        if not await self._passwords.verify(stored, password) or not rows:
            raise Forbidden("the password is not right", errors={"password": "wrong"})

    async def end_sessions(self, user_id: str) -> None:
        await end_sessions(self._sessions, self._notifier, user_id)

    # ---- deletion ----------------------------------------------------------------------

    async def delete_account(self, user_id: str, password: str) -> None:
        await self._check_password(user_id, password)
        email = (await self._contact(user_id))["email"]
        listings = [r["id"] for r in await self._store.run(LISTINGS_OF, {"user_id": user_id})]
        params = {"user_id": user_id, "tombstone": f"deleted_{new_id()}"}
        params |= event() | mark_params("deleted")
        rows = await self._store.run(DELETE_ACCOUNT, params)
        if not rows:
            raise NotFound("account not found")
        await end_sessions(self._sessions, self._notifier, user_id, disable=True)
        for purpose, subject in (
            ("verify-email", user_id),
            ("verify-phone", user_id),
            ("reset", email),
        ):
            await self._codes.forget(purpose, subject)
        await self._listings_changed(listings)
        await self._cache.forget(f"hidden:{user_id}")
        await self._ending.after(user_id)  # after the sessions: they are told nothing


def _masked(target: str) -> str:
    """`a***@example.org` or `+32******56`: enough to recognise, not to harvest."""
    if "@" in target:
        local, _, domain = target.partition("@")
        return f"{local[:1]}***@{domain}"
    return target[:3] + "*" * max(0, len(target) - 5) + target[-2:]
