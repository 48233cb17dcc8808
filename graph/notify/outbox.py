"""The outbox: every notification starts as an `Outbox` record (`records`) written by the
statement that causes it (an order confirmed, a price dropped, a code requested), so a change
and its notification are one write or none.

The background worker then, one round at a time under a Redis lock:

1. **fans out** new records into `Notification`s, one per person and channel (`fanout`);
2. **delivers** due notifications, at least once, with retries (`delivery`).

People read the in-app ones in their inbox, and switch kinds and channels in their settings
(here, with the worker's round).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from graph.infra.ids import event, now_ms
from graph.infra.settings import Settings
from graph.infra.store import GraphStore, statement
from graph.notify import kinds
from graph.notify.channels import Mailer, SmsSender
from graph.notify.delivery import CLAIM, Delivery, inbox_shape
from graph.notify.fanout import BATCH, FanOut, SearchMatcher
from graph.notify.pubsub import Notifier

log = logging.getLogger("vendr.outbox")

DAY_MS = 86_400_000

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


@dataclass(frozen=True)
class Report:
    fanned: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


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
        self._notifier = notifier
        self._settings = settings
        self._fanout = FanOut(store, settings, searches)
        self._delivery = Delivery(store, redis, notifier, settings, mailer, sms)

    @property
    def after_send(self) -> Callable[[dict[str, Any]], Awaitable[None]] | None:
        """A test hook: runs after a channel accepted a notification and before anything is
        recorded, where a crash would hurt most."""
        return self._delivery.after_send

    @after_send.setter
    def after_send(self, hook: Callable[[dict[str, Any]], Awaitable[None]] | None) -> None:
        self._delivery.after_send = hook

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
        return [inbox_shape(r) for r in rows], nxt, int(unread)

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
        await self._store.run(SET_SETTINGS, {"user_id": user_id, "pairs": pairs, **event()})
        return kinds.as_table(frozenset(pairs))

    # ---- the worker's round ------------------------------------------------------------

    async def wake(self) -> None:
        await self._notifier.wake_outbox()

    async def round(self, now: int | None = None) -> Report:
        """Sweep quiet unread chats, fan out, deliver what is due: everything safe to redo."""
        now = now or now_ms()
        await self.sweep_unread(now)
        fanned = await self._fanout.run(now)
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
            outcomes = await asyncio.gather(*(self._delivery.deliver(row) for row in claimed))
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
