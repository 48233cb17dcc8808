"""The outbox: every notification starts as an `Outbox` record written by the statement that
causes it (an order confirmed, a price dropped, a code requested), so a change and its
notification are one write or none.

The background worker then, one round at a time under a Redis lock:

1. **fans out** new records into `Notification`s, one per person and channel, keyed
   `outbox key : person : channel` and MERGEd on that key, so doing it twice writes nothing
   new. Who and how come from the record (named recipients, the listing's savers, the saved
   searches a new listing matches) and each person's channel settings;
2. **delivers** due notifications: claimed with a lease (`sending`, `next_at` moved to the lease's
   end, so a worker that dies mid-delivery leaves them to be claimed again), sent, and the
   outcome recorded. A transient failure is retried with exponential backoff and jitter up to
   `notify_max_attempts`; a permanent one is recorded as failed at once.

Delivery is at least once. Right after a channel accepts a notification its id is marked sent
in Redis, before the graph records it: a worker that dies between the two leaves the mark, and
the next claim records the notification as sent without sending it again. Only a death in the
instant between the provider's acceptance and that mark can repeat a message, and then it
carries the same Message-ID, which mail systems use to drop duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import redis.asyncio as aioredis

from graph.infra.errors import Invalid
from graph.infra.ids import event, iso, new_id, now_ms
from graph.infra.settings import Settings
from graph.infra.store import GraphStore, statement
from graph.notify import kinds
from graph.notify.channels import DeliveryError, Email, Mailer, Sms, SmsSender
from graph.notify.pubsub import Notifier

log = logging.getLogger("vendr.outbox")

BATCH = 200
SAVERS_LIMIT = 5000
DAY_MS = 86_400_000

# An outbox record for a deal's move, inside a deal statement with `o` (the offer or order),
# `r` (its room) bound and the room line's parameters (`$sys_*`): the other party hears of it,
# both parties when a timer moved the deal.
DEAL_OUTBOX = """
CREATE (:Outbox {id: $sys_id, key: 'deal:' + $sys_id, kind: $ob_kind, type: $ob_type,
                 recipients: [x IN [o.buyer_id, o.seller_id] WHERE x <> $actor_id],
                 actor_id: $actor_id, subject_id: o.id, room_id: r.id, text: $sys_text,
                 data: $sys_data, created_at: $now, pending_at: $now})
"""


# `CREATE` of one outbox record, bound as `ob`, from `$ob_*` parameters (see `record`).
OUTBOX_NODE = """
CREATE (ob:Outbox {id: $ob_id, key: $ob_key, kind: $ob_kind, type: $ob_type,
                   recipients: $ob_recipients, audience: $ob_audience, channels: $ob_channels,
                   actor_id: $ob_actor_id, subject_id: $ob_subject_id, room_id: null, text: null,
                   data: $ob_data, secret: $ob_secret, to: $ob_to, created_at: $now,
                   pending_at: $now})
"""

# An outbox record telling the people who saved listing `p` (found when it is fanned out)
# that it sold or expired; used inside a FOREACH that binds `p`, with the parameters of
# `savers`. Keyed by listing and time, so a redo of the statement writes it once.
SAVERS_OUTBOX = """
MERGE (note:Outbox {key: $savers_type + ':' + p.id + ':' + toString($now)})
  ON CREATE SET note.id = $savers_type + ':' + p.id + ':' + toString($now),
                note.kind = 'saved', note.type = $savers_type, note.audience = 'savers',
                note.actor_id = $savers_actor, note.subject_id = p.id, note.data = '{}',
                note.created_at = $now, note.pending_at = $now
"""


def savers(type_: Literal["saved.sold", "saved.expired"], actor_id: str) -> dict[str, str]:
    """Parameters for SAVERS_OUTBOX."""
    return {"savers_type": type_, "savers_actor": actor_id}


def record(
    kind: str,
    type_: str,
    *,
    subject_id: str,
    actor_id: str = "system",
    recipients: list[str] | None = None,
    audience: str | None = None,
    channels: list[str] | None = None,
    data: dict[str, Any] | None = None,
    secret: str | None = None,
    to: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Parameters for OUTBOX_NODE: who hears (`recipients`, or an `audience`: the listing's
    `savers`, or the `searches` it matches), and for account notices the fixed `channels`, the
    address `to` and the `secret` (a code) that lives only until it is sent."""
    ob_id = new_id()
    return {
        "ob_id": ob_id,
        "ob_key": key or f"{type_}:{ob_id}",
        "ob_kind": kind,
        "ob_type": type_,
        "ob_recipients": recipients,
        "ob_audience": audience,
        "ob_channels": channels,
        "ob_actor_id": actor_id,
        "ob_subject_id": subject_id,
        "ob_data": json.dumps(data or {}, separators=(",", ":")),
        "ob_secret": secret,
        "ob_to": to,
    }


PENDING = statement(
    "outbox.pending",
    """
    MATCH (o:Outbox)
    WHERE o.pending_at <= $now
    WITH o ORDER BY o.pending_at ASC LIMIT $batch
    OPTIONAL MATCH (:Room {id: o.room_id})-[:ABOUT]->(rp:Product)
    OPTIONAL MATCH (sp:Product {id: o.subject_id})
    RETURN o.id AS id, o.key AS key, o.kind AS kind, o.type AS type,
           o.recipients AS recipients, o.audience AS audience, o.channels AS channels,
           o.actor_id AS actor_id, o.subject_id AS subject_id, o.room_id AS room_id,
           o.text AS text, o.data AS data, o.secret AS secret, o.to AS to,
           coalesce(rp.title, sp.title) AS title
    """,
)

PEOPLE = statement(
    "outbox.people",
    """
    UNWIND $ids AS uid
    MATCH (u:User {id: uid})
    WHERE u.status = 'active'
    RETURN u.id AS id, u.notify AS notify
    """,
)

SAVERS = statement(
    "outbox.savers",
    """
    MATCH (u:User)-[:SAVED]->(p:Product {id: $id})
    WHERE u.status = 'active' AND u.id <> p.seller_id
    RETURN u.id AS id
    LIMIT $limit
    """,
)

FAN_OUT = statement(
    "outbox.fan_out",
    """
    UNWIND $rows AS row
    MERGE (n:Notification {key: row.key})
      ON CREATE SET n.id = row.id, n.user_id = row.user_id, n.channel = row.channel,
                    n.kind = row.kind, n.type = row.type, n.title = row.title,
                    n.body = row.body, n.link = row.link, n.data = row.data,
                    n.secret = row.secret, n.to = row.to, n.items = row.items,
                    n.created_at = $now, n.next_at = row.next_at, n.status = 'pending',
                    n.attempts = 0
      ON MATCH SET n.items = CASE WHEN n.status = 'pending' AND row.items IS NOT NULL
                                  THEN n.items + row.items ELSE n.items END
    WITH count(n) AS written
    MATCH (o:Outbox {id: $outbox_id})
    SET o.pending_at = null, o.fanned_at = $now, o.secret = null, o.to = null
    RETURN written
    """,
    write=True,
)

CLAIM = statement(
    "outbox.claim",
    """
    MATCH (n:Notification)
    WHERE n.next_at <= $now
    WITH n ORDER BY n.next_at ASC LIMIT $batch
    // write first: on Neo4j this takes each notification's lock, so two workers never both
    // claim one (the second sees it moved and skips it)
    SET n.claim_at = $now
    WITH n
    WHERE n.next_at <= $now AND n.status IN ['pending', 'sending']
    SET n.status = 'sending', n.next_at = $lease_until, n.attempts = n.attempts + 1
    WITH n
    OPTIONAL MATCH (u:User {id: n.user_id})
    OPTIONAL MATCH (u)-[:HAS_CREDENTIAL]->(c:Credential)
    RETURN n.id AS id, n.key AS key, n.user_id AS user_id, n.channel AS channel,
           n.kind AS kind, n.type AS type, n.title AS title, n.body AS body, n.link AS link,
           n.data AS data, n.secret AS secret, n.to AS to, n.items AS items,
           n.attempts AS attempts, n.created_at AS created_at, n.read_at AS read_at,
           u.status AS user_status, c.email AS email, c.phone AS phone,
           u.phone_verified AS phone_verified
    """,
    write=True,
)

RECORD = statement(
    "outbox.record",
    """
    MATCH (n:Notification {id: $id})
    WHERE n.status = 'sending' AND n.attempts = $attempts
    SET n.status = $status, n.next_at = $next_at, n.error = $error,
        n.sent_at = CASE WHEN $status = 'sent' THEN $now ELSE n.sent_at END,
        n.secret = CASE WHEN $status = 'pending' THEN n.secret ELSE null END,
        n.to = CASE WHEN $status = 'pending' THEN n.to ELSE null END
    RETURN n.id AS id
    """,
    write=True,
)

INBOX = statement(
    "outbox.inbox",
    """
    MATCH (n:Notification {user_id: $user_id})
    WHERE n.channel = 'app'
      AND ($unread_only = false OR n.read_at IS NULL)
      AND ($before_at IS NULL OR n.created_at < $before_at
           OR (n.created_at = $before_at AND n.id < $before_id))
    RETURN n.id AS id, n.kind AS kind, n.type AS type, n.title AS title, n.body AS body,
           n.link AS link, n.data AS data, n.created_at AS created_at, n.read_at AS read_at
    ORDER BY n.created_at DESC, n.id DESC
    LIMIT $limit
    """,
)

UNREAD = statement(
    "outbox.unread",
    """
    MATCH (n:Notification {user_id: $user_id})
    WHERE n.channel = 'app' AND n.read_at IS NULL
    RETURN count(n) AS unread
    """,
)

MARK_READ = statement(
    "outbox.mark_read",
    """
    MATCH (n:Notification {user_id: $user_id})
    WHERE n.channel = 'app' AND n.read_at IS NULL AND ($all OR n.id IN $ids)
    SET n.read_at = $now
    RETURN count(n) AS marked
    """,
    write=True,
)

SETTINGS_OF = statement(
    "outbox.settings_of",
    "MATCH (u:User {id: $user_id}) WHERE u.status = 'active' RETURN u.notify AS notify",
)

SET_SETTINGS = statement(
    "outbox.set_settings",
    """
    MATCH (u:User {id: $user_id}) WHERE u.status = 'active'
    SET u.notify = $pairs
    CREATE (:Event {id: $event_id, type: 'user.notifications_set', at: $now,
                    actor_id: $user_id, subject_id: $user_id, data: $event_data})
    RETURN u.notify AS notify
    """,
    write=True,
)

# A conversation with news for someone who has not read it since the last chat line, quiet
# for a while: one outbox record per person and burst (the key holds the line's time), so a
# burst of twenty lines is one email. Rooms are found by the time of their last chat line.
UNREAD_CHATS = statement(
    "outbox.unread_chats",
    """
    MATCH (r:Room)
    WHERE r.last_chat_at >= $since AND r.last_chat_at <= $quiet_before
    MATCH (u:User)-[m:MEMBER]->(r)
    WHERE u.id <> r.last_chat_sender AND u.status = 'active' AND m.unread > 0
      AND coalesce(m.last_read_at, 0) < r.last_chat_at
      AND coalesce(m.mailed_at, 0) < r.last_chat_at
      AND NOT (u)-[:BLOCKED]-(:User {id: r.last_chat_sender})
    WITH r, u, m LIMIT $batch
    SET m.mailed_at = r.last_chat_at
    MERGE (o:Outbox {key: 'unread:' + r.id + ':' + u.id + ':' + toString(r.last_chat_at)})
      ON CREATE SET o.id = r.id + u.id + toString(r.last_chat_at), o.kind = 'message',
                    o.type = 'message.unread', o.recipients = [u.id], o.actor_id = 'system',
                    o.subject_id = r.id, o.room_id = r.id,
                    o.data = '{"count":' + toString(m.unread) + '}',
                    o.created_at = $now, o.pending_at = $now
    RETURN count(o) AS n
    """,
    write=True,
)

PURGE = statement(
    "outbox.purge",
    """
    MATCH (n:Notification)
    WHERE n.created_at <= $cutoff AND n.next_at IS NULL
    WITH n LIMIT $batch
    DELETE n
    RETURN count(*) AS n
    """,
    write=True,
)

PURGE_OUTBOX = statement(
    "outbox.purge_records",
    """
    MATCH (o:Outbox)
    WHERE o.fanned_at <= $cutoff
    WITH o LIMIT $batch
    DELETE o
    RETURN count(*) AS n
    """,
    write=True,
)


class SearchMatcher(Protocol):
    async def matches(self, product_id: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Report:
    fanned: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


def _inbox_shape(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "type": row["type"],
        "title": row["title"],
        "body": row["body"],
        "link": row["link"],
        "data": kinds.parse_data(row.get("data")),
        "created_at": iso(row["created_at"]),
        "read_at": iso(row.get("read_at")),
    }


class Outbox:
    def __init__(
        self,
        store: GraphStore,
        redis: aioredis.Redis,
        notifier: Notifier,
        settings: Settings,
        mailer: Mailer,
        sms: SmsSender,
        searches: SearchMatcher,
    ) -> None:
        self._store = store
        self._redis = redis
        self._notifier = notifier
        self._settings = settings
        self.mailer = mailer
        self.sms = sms
        self._searches = searches
        self._prefix = settings.redis_prefix
        # a test hook: runs after a channel accepted a notification and before anything is
        # recorded, where a crash would hurt most
        self.after_send: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    # ---- the in-app inbox and settings -------------------------------------------------

    async def inbox(
        self, user_id: str, cursor: tuple[int, str] | None, limit: int, unread_only: bool
    ) -> tuple[list[dict[str, Any]], tuple[int, str] | None, int]:
        params = {
            "user_id": user_id,
            "unread_only": unread_only,
            "before_at": cursor[0] if cursor else None,
            "before_id": cursor[1] if cursor else None,
            "limit": limit + 1,
        }
        rows = await self._store.run(INBOX, params)
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = (int(rows[-1]["created_at"]), str(rows[-1]["id"])) if more and rows else None
        unread = (await self._store.run(UNREAD, {"user_id": user_id}))[0]["unread"]
        return [_inbox_shape(r) for r in rows], nxt, int(unread)

    async def mark_read(self, user_id: str, ids: list[str] | None) -> int:
        params = {"user_id": user_id, "all": ids is None, "ids": ids or [], "now": now_ms()}
        await self._store.run(MARK_READ, params)
        unread = (await self._store.run(UNREAD, {"user_id": user_id}))[0]["unread"]
        await self._notifier.publish([user_id], {"type": "notification.read", "unread": unread})
        return int(unread)

    async def settings_of(self, user_id: str) -> dict[str, dict[str, bool]]:
        rows = await self._store.run(SETTINGS_OF, {"user_id": user_id})
        return kinds.as_table(kinds.enabled(rows[0]["notify"] if rows else None))

    async def set_settings(
        self, user_id: str, changes: dict[str, dict[str, bool]]
    ) -> dict[str, dict[str, bool]]:
        rows = await self._store.run(SETTINGS_OF, {"user_id": user_id})
        current = kinds.enabled(rows[0]["notify"] if rows else None)
        pairs = kinds.patched(current, changes)
        await self._store.run(
            SET_SETTINGS, {"user_id": user_id, "pairs": pairs, **event({"pairs": pairs})}
        )
        return kinds.as_table(frozenset(pairs))

    # ---- the worker's round ------------------------------------------------------------

    async def wake(self) -> None:
        await self._notifier.wake_outbox()

    async def round(self, now: int | None = None) -> Report:
        """Sweep quiet unread chats, fan out, deliver what is due: everything safe to redo."""
        now = now or now_ms()
        await self.sweep_unread(now)
        fanned = await self.fan_out(now)
        sent = retried = failed = 0
        while True:
            claimed = await self._store.run(
                CLAIM,
                {
                    "now": now_ms(),
                    "batch": 50,
                    "lease_until": now_ms() + int(self._settings.notify_lease_seconds * 1000),
                },
            )
            if not claimed:
                break
            outcomes = await asyncio.gather(*(self._deliver(row) for row in claimed))
            sent += outcomes.count("sent")
            retried += outcomes.count("pending")
            failed += outcomes.count("failed")
            if len(claimed) < 50:
                break
        return Report(fanned=fanned, sent=sent, retried=retried, failed=failed)

    async def sweep_unread(self, now: int) -> int:
        quiet = int(self._settings.message_notify_after_seconds * 1000)
        params = {"since": now - quiet - DAY_MS, "quiet_before": now - quiet, "now": now}
        rows = await self._store.run(UNREAD_CHATS, params | {"batch": BATCH})
        return int(rows[0]["n"]) if rows else 0

    async def purge(self, now: int) -> int:
        cutoff = now - self._settings.notification_retention_days * DAY_MS
        a = await self._store.run(PURGE, {"cutoff": cutoff, "batch": 1000})
        b = await self._store.run(PURGE_OUTBOX, {"cutoff": now - 7 * DAY_MS, "batch": 1000})
        return int(a[0]["n"]) + int(b[0]["n"])

    async def fan_out(self, now: int) -> int:
        total = 0
        while True:
            items = await self._store.run(PENDING, {"now": now, "batch": BATCH})
            for item in items:
                rows = await self._notifications(item, now)
                await self._store.run(
                    FAN_OUT, {"rows": rows, "outbox_id": item["id"], "now": now_ms()}
                )
                total += len(rows)
            if len(items) < BATCH:
                return total

    async def _audience(self, item: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Who hears of `item`, with what that person's notification says beyond the item."""
        if item["audience"] == "savers":
            rows = await self._store.run(SAVERS, {"id": item["subject_id"], "limit": SAVERS_LIMIT})
            return {r["id"]: {} for r in rows}
        if item["audience"] == "searches":
            found: dict[str, dict[str, Any]] = {}
            for match in await self._searches.matches(item["subject_id"]):
                found.setdefault(match["user_id"], {"search_name": match["name"]})
            return found
        return {uid: {} for uid in item["recipients"] or []}

    async def _notifications(self, item: dict[str, Any], now: int) -> list[dict[str, Any]]:
        audience = await self._audience(item)
        if not audience:
            return []
        people = await self._store.run(PEOPLE, {"ids": sorted(audience)})
        rows = []
        for person in people:
            uid = person["id"]
            extra = audience[uid]
            data = kinds.parse_data(item["data"]) | extra
            view = item | {"data": json.dumps(data)}
            text = kinds.render(view)
            if item["kind"] == kinds.FIXED:
                channels = list(item["channels"] or ["email"])
            else:
                on = kinds.enabled(person["notify"])
                channels = [ch for ch in kinds.CHANNELS if f"{item['kind']}:{ch}" in on]
            for channel in channels:
                row = {
                    "key": f"{item['key']}:{uid}:{channel}",
                    "id": new_id(),
                    "user_id": uid,
                    "channel": channel,
                    "kind": item["kind"],
                    "type": item["type"],
                    "title": text.title,
                    "body": text.body,
                    "link": text.link,
                    "data": json.dumps(data, separators=(",", ":")),
                    "secret": item["secret"],
                    "to": item["to"],
                    "items": None,
                    "next_at": now,
                }
                if item["type"] == "search.match" and channel == "email":
                    row |= self._digest_row(uid, item, now)
                rows.append(row)
        return rows

    def _digest_row(self, uid: str, item: dict[str, Any], now: int) -> dict[str, Any]:
        """Matches by email go out as one digest per period: the notification of the period
        collects them (MERGE on its key appends) and is due when the period ends."""
        period = int(self._settings.search_digest_seconds * 1000)
        start = now - now % period
        link = f"{self._settings.public_url.rstrip('/')}/products/{item['subject_id']}"
        entry = json.dumps({"title": item["title"], "link": link, "id": item["subject_id"]})
        return {
            "key": f"search-digest:{uid}:{start}:email",
            "type": "search.digest",
            "title": "New listings for your saved searches",
            "body": "",
            "link": None,
            "items": [entry],
            "next_at": start + period,
        }

    # ---- delivery ----------------------------------------------------------------------

    def _mark(self, notification_id: str) -> str:
        return f"{self._prefix}outbox:sent:{notification_id}"

    async def _deliver(self, row: dict[str, Any]) -> str:
        try:
            if await self._redis.exists(self._mark(row["id"])):
                return await self._record(row, "sent", None)  # sent before a crash
            if row["user_status"] != "active" and row["kind"] != kinds.FIXED:
                return await self._record(row, "failed", "the account is no longer active")
            await self._send(row)
        except DeliveryError as exc:
            if exc.permanent or row["attempts"] >= self._settings.notify_max_attempts:
                log.warning("notification %s failed for good: %s", row["id"], exc.detail)
                return await self._record(row, "failed", exc.detail)
            return await self._record(row, "pending", exc.detail, retry=True)
        await self._redis.set(self._mark(row["id"]), "1", ex=7 * 86400)
        if self.after_send is not None:
            await self.after_send(row)
        return await self._record(row, "sent", None)

    def _backoff_ms(self, attempts: int) -> int:
        base = self._settings.notify_backoff_seconds * 2 ** max(0, attempts - 1)
        capped = min(base, 6 * 3600.0)
        return int(capped * random.uniform(0.8, 1.2) * 1000)

    async def _record(
        self, row: dict[str, Any], status: str, error: str | None, *, retry: bool = False
    ) -> str:
        params = {
            "id": row["id"],
            "attempts": row["attempts"],
            "status": status,
            "next_at": now_ms() + self._backoff_ms(row["attempts"]) if retry else None,
            "error": error,
            "now": now_ms(),
        }
        await self._store.run(RECORD, params)
        return status

    def _text(self, row: dict[str, Any]) -> tuple[str, str]:
        body = row["body"] or ""
        if row["secret"]:
            body = body.replace("{code}", row["secret"])
        if row["type"] == "search.digest":
            entries = [json.loads(e) for e in row["items"] or []]
            body = "\n".join(f"- {e['title']}\n  {e['link']}" for e in entries)
            return f"{len(entries)} new listings for your saved searches", body
        return row["title"], body

    async def _send(self, row: dict[str, Any]) -> None:
        title, body = self._text(row)
        channel = row["channel"]
        if channel == "app":
            shape = _inbox_shape(row)
            sent = await self._notifier.publish(
                [row["user_id"]], {"type": "notification.created", "notification": shape}
            )
            if not sent:
                raise DeliveryError("Redis pub/sub unavailable", permanent=False)
            return
        if channel == "email":
            to = row["to"] or row["email"]
            if not to:
                raise DeliveryError("no email address", permanent=True)
            link = row["link"]
            url = f"{self._settings.public_url.rstrip('/')}{link}" if link else None
            footer = (
                "\n\nChange what Vendr sends you in your notification settings."
                if row["kind"] != kinds.FIXED
                else ""
            )
            text = body + (f"\n\n{url}" if url else "") + footer
            domain = self._settings.mail_from.rpartition("@")[2].strip(">") or "vendr"
            await self.mailer.send(
                Email(to=to, subject=title, text=text, message_id=f"<{row['id']}@{domain}>")
            )
            return
        if channel == "sms":
            to = row["to"] or (row["phone"] if row["phone_verified"] else None)
            if not to:
                raise DeliveryError("no verified phone number", permanent=True)
            text = body if row["kind"] == kinds.FIXED else f"{title}: {body}"
            await self.sms.send(Sms(to=to, text=f"Vendr: {text}"[:320], key=row["id"]))
            return
        raise DeliveryError(f"unknown channel {channel!r}", permanent=True)


def parse_cursor(raw: str | None) -> tuple[int, str] | None:
    if not raw:
        return None
    at, sep, nid = raw.partition(":")
    if not sep or not at.isdigit() or len(at) > 15 or not 1 <= len(nid) <= 64:
        raise Invalid("the cursor is not valid", errors={"cursor": "malformed"})
    return int(at), nid


def make_cursor(value: tuple[int, str] | None) -> str | None:
    return f"{value[0]}:{value[1]}" if value else None


async def _woken(redis: aioredis.Redis, wake: str, interval_s: float) -> None:
    await redis.blpop([wake], timeout=max(1, int(interval_s)))


async def run_outbox(
    outbox: Outbox, redis: aioredis.Redis, prefix: str, interval_s: float, stop: asyncio.Event
) -> None:
    """Deliver in whichever background process holds the lock, woken at once by `wake` (a
    Redis list) after a write, and every `interval_s` regardless, so a lost wake-up only
    delays. Purges old notifications once an hour."""
    lock, wake = f"{prefix}outbox:lock", f"{prefix}outbox:wake"
    purge_key = f"{prefix}outbox:purged"
    token = secrets.token_hex(8)
    while not stop.is_set():
        if await redis.set(lock, token, nx=True, ex=60):
            try:
                await redis.delete(wake)
                report = await outbox.round()
                if report.fanned or report.sent or report.failed or report.retried:
                    log.info("outbox round: %s", report)
                if await redis.set(purge_key, "1", nx=True, ex=3600):
                    await outbox.purge(now_ms())
            except Exception:  # the next round retries: every step is safe to redo
                log.exception("outbox round failed")
            finally:
                if await redis.get(lock) == token.encode():
                    await redis.delete(lock)
        waiter = asyncio.create_task(_woken(redis, wake, interval_s))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
