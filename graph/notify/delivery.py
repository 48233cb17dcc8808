"""Delivery: due notifications are claimed with a lease (`sending`, `next_at` moved to the
lease's end, so a worker that dies mid-delivery leaves them to be claimed again), sent, and
the outcome recorded. A transient failure is retried with exponential backoff and jitter up
to `notify_max_attempts`; a permanent one is recorded as failed at once.

Delivery is at least once. Right after a channel accepts a notification its id is marked sent
in Redis, before the graph records it: a worker that dies between the two leaves the mark, and
the next claim records the notification as sent without sending it again. Only a death in the
instant between the provider's acceptance and that mark can repeat a message, and then it
carries the same Message-ID, which mail systems use to drop duplicates.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from graph.infra.ids import iso, now_ms
from graph.infra.settings import Settings
from graph.infra.store import GraphStore, statement
from graph.notify import kinds
from graph.notify.channels import DeliveryError, Email, Mailer, Sms, SmsSender
from graph.notify.pubsub import Notifier

log = logging.getLogger("vendr.outbox")

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


def inbox_shape(row: dict[str, Any]) -> dict[str, Any]:
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


class Delivery:
    def __init__(
        self,
        store: GraphStore,
        redis: aioredis.Redis,
        notifier: Notifier,
        settings: Settings,
        mailer: Mailer,
        sms: SmsSender,
    ) -> None:
        self._store = store
        self._redis = redis
        self._notifier = notifier
        self._settings = settings
        self.mailer = mailer
        self.sms = sms
        self._prefix = settings.redis_prefix
        # a test hook: runs after a channel accepted a notification and before anything is
        # recorded, where a crash would hurt most
        self.after_send: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    def _mark(self, notification_id: str) -> str:
        return f"{self._prefix}outbox:sent:{notification_id}"

    async def deliver(self, row: dict[str, Any]) -> str:
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
            shape = inbox_shape(row)
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
