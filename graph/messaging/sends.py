"""A worker's messages, written with group commit: the first at once, those sent while a write
is under way together in the next (`Sends`), each sender answered on its own."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from graph.catalog import Pools
from graph.infra.errors import Conflict, Invalid, NotFound, StoreError
from graph.infra.events import with_facts
from graph.infra.ids import new_id, now_ms
from graph.infra.store import GraphStore, statement

MESSAGE_FIELDS = """
msg.id AS id, msg.room_id AS room_id, msg.sender_id AS sender_id, msg.body AS body,
msg.sent_at AS sent_at, msg.kind AS kind, msg.data AS data
"""

SEND = statement(
    "messaging.send",
    """
    MATCH (me:User {id: $user_id})-[m:MEMBER]->(r:Room {id: $room_id})
    MATCH (other:User)-[om:MEMBER]->(r)
    WHERE other.id <> me.id AND NOT (me)-[:BLOCKED]-(other) AND other.status <> 'suspended'
    CREATE (msg:Message {id: $id, room_id: $room_id, sender_id: $user_id, body: $body,
                         kind: 'text', sent_at: $now})-[:IN]->(r)
    SET r.last_message_at = $now, r.last_message_id = $id, r.last_chat_at = $now,
        r.last_chat_sender = $user_id, om.unread = coalesce(om.unread, 0) + 1,
        m.last_read_at = $now, m.unread = 0
    CREATE (e:Event {id: $event_id, type: 'message.sent', at: $now, actor_id: $user_id,
                     subject_id: $id, data: $event_data})
    RETURN other.id AS recipient_id, r.product_id AS product_id,
    """
    + MESSAGE_FIELDS,
    write=True,
)

# SEND for several messages at once (group commit: those a worker is asked to send while the
# previous batch is being written), at most one per room, so no two rows touch the same room or
# memberships: which row's SET lands last (the room's last message; a member's unread count
# zeroed by their own message, raised by the other's) would rest on the order a planner applies
# rows in, which Cypher does not promise. Each row appends messaging.send's own Event, made by
# `with_facts` with that row's facts, so the log and its replay are those of one-by-one sends.
SEND_MANY = statement(
    "messaging.send_many",
    """
    UNWIND $rows AS row
    // (fields taken out of the map first: FalkorDB matches nothing on a field of a map)
    WITH row.user_id AS user_id, row.room_id AS room_id, row.id AS msg_id,
         row.body AS body, row.event_id AS event_id, row.event_data AS event_data
    MATCH (r:Room {id: room_id})
    // (a step of its own: FalkorDB would otherwise start from every user)
    WITH r, user_id, room_id, msg_id, body, event_id, event_data
    MATCH (me:User {id: user_id})-[m:MEMBER]->(r)
    MATCH (other:User)-[om:MEMBER]->(r)
    WHERE other.id <> me.id AND NOT (me)-[:BLOCKED]-(other) AND other.status <> 'suspended'
    CREATE (msg:Message {id: msg_id, room_id: room_id, sender_id: user_id, body: body,
                         kind: 'text', sent_at: $now})-[:IN]->(r)
    SET r.last_message_at = $now, r.last_message_id = msg_id, r.last_chat_at = $now,
        r.last_chat_sender = user_id, om.unread = coalesce(om.unread, 0) + 1,
        m.last_read_at = $now, m.unread = 0
    CREATE (e:Event {id: event_id, type: 'message.sent', at: $now, actor_id: user_id,
                     subject_id: msg_id, data: event_data})
    RETURN other.id AS recipient_id, r.product_id AS product_id,
    """
    + MESSAGE_FIELDS,
    write=True,
)


def _send_row(message: dict[str, Any]) -> dict[str, Any]:
    """A row of SEND_MANY: the message, and its Event as messaging.send writes it (its data
    made from the message's facts)."""
    row = {**message, "event_id": new_id()}
    row["event_data"] = (with_facts(SEND.name, row) or {})["event_data"]
    return row


class Sends:
    """Group commit of a worker's messages. The first message is written at once; those that
    arrive while a write is under way wait for it and are written together in the next, one
    SEND_MANY statement (at most MAX_BATCH, one per room: a room's second message waits for
    the batch after, so a room's messages are written in the order they were sent). One batch
    at a time, so batches are written in order too. Each caller awaits its own message: its
    row, or NotFound when it is not the sender's to send; a batch the database refuses is
    written again one message at a time, so each caller gets its own error. A message is
    answered only once the graph has it, as it was one by one, and once every worker has been
    told that its room's pages changed (`rooms_changed`: one push per room of the batch, in
    one round trip, beside the listings' engagement)."""

    MAX_BATCH = 64

    def __init__(
        self,
        store: GraphStore,
        pools: Pools,
        rooms_changed: Callable[[Iterable[str]], Awaitable[None]],
    ) -> None:
        self._store = store
        self._pools = pools
        self._rooms_changed = rooms_changed
        self._waiting: deque[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, future))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not future.get_loop():
            self._writer = asyncio.create_task(self._write(), name="messaging-sends")
        return await future

    def _next_batch(self) -> list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]]:
        batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        rooms: set[str] = set()
        later: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        while self._waiting and len(batch) < self.MAX_BATCH:
            item = self._waiting.popleft()
            if item[1].done():  # its caller went away before it was written: not sent
                continue
            if item[0]["room_id"] in rooms:
                later.append(item)
            else:
                rooms.add(item[0]["room_id"])
                batch.append(item)
        self._waiting.extendleft(reversed(later))
        return batch

    async def _write(self) -> None:
        while batch := self._next_batch():
            try:
                await self._write_batch(batch)
            except Exception as exc:  # each caller gets what went wrong
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            finally:  # (cancelled: the loop is going away, and its callers with it)
                for _, future in batch:
                    future.cancel()

    async def _write_batch(
        self, batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]]
    ) -> None:
        now = now_ms()
        rows: list[dict[str, Any] | BaseException | None]
        if len(batch) == 1:
            rows = [await self._one(batch[0][0], now)]
        else:
            params = [_send_row(message) for message, _ in batch]
            try:
                found = await self._store.run(SEND_MANY, {"rows": params, "now": now})
            except (Invalid, Conflict, StoreError):
                # the statement was refused, so nothing of it written (it is atomic): which
                # message it was, each again on its own. Not when the database could not be
                # reached or did not answer (Unavailable, for every caller): the batch may
                # have been written, and a message must not be written twice.
                rows = [await self._one_or_error(message, now) for message, _ in batch]
            else:
                by_id = {row["id"]: row for row in found}
                rows = [by_id.get(message["id"]) for message, _ in batch]
        written = [row for row in rows if isinstance(row, dict)]
        engaged = {row["product_id"] for row in written}
        rooms = [row["room_id"] for row in written]
        done = await asyncio.gather(
            self._pools.mark_engaged(*engaged),  # messages count toward hype
            self._rooms_changed(rooms) if rooms else asyncio.sleep(0),  # the pages held
            return_exceptions=True,
        )
        failed = next((e for e in done if isinstance(e, BaseException)), None)
        if failed is not None:  # as one by one: the send fails, the message kept
            if not isinstance(failed, Exception):
                raise failed
            rows = [failed if isinstance(row, dict) else row for row in rows]
        for (_, future), row in zip(batch, rows, strict=True):
            if future.done():
                continue
            if isinstance(row, BaseException):
                future.set_exception(row)
            elif row is None:
                future.set_exception(NotFound("no such room"))
            else:
                future.set_result(row)

    async def _one(self, message: dict[str, Any], now: int) -> dict[str, Any] | None:
        rows = await self._store.run(SEND, {**message, "event_id": new_id(), "now": now})
        return rows[0] if rows else None

    async def _one_or_error(
        self, message: dict[str, Any], now: int
    ) -> dict[str, Any] | BaseException | None:
        try:
            return await self._one(message, now)
        except Exception as exc:  # handed to its caller
            return exc
