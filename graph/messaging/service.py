"""Buyer-seller rooms and messages. Written to the graph first; the caller then publishes.

An HTTP worker holds the pages of a room's messages for a few seconds (graph.accounts.tokens,
`RoomPages`): every write that changes what a page shows tells every worker once committed,
through `rooms_changed` (sends here; the system lines deals write, in graph.deals; a message a
moderator hides; blocks, suspensions and reinstatements of a member, by room member)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from graph.catalog import Pools
from graph.infra.errors import Invalid, NotFound
from graph.infra.ids import event, id_time_ms, iso, new_id, now_ms
from graph.infra.store import GraphStore, statement
from graph.messaging.sends import MESSAGE_FIELDS, Sends

Role = Literal["buyer", "seller"]
# tells every worker that what these rooms' pages show changed (the writes committed)
RoomsChanged = Callable[[Iterable[str]], Awaitable[None]]
MAX_PAGE = 100
MISSED_LIMIT = 500


def room_merge(src: str = "$", carry: str = "", event: str | None = None) -> str:
    """Opens the buyer's room with the seller about `p` once (Room.key is unique), with both
    memberships; expects `buyer`, `seller` and `p` bound and leaves `room_created` beside
    them. The room's key, id and event id come from parameters (`src` "$") or from variables
    of those names bound beside them (`src` "", carried along by `carry`). Its 'room.opened'
    Event is a by-product (`room_event_id`), or, with `event`, the statement's own: `event_id`
    and `event_data` from parameters (`event` "$") or variables (`event` "", carried)."""
    event_id, data = (
        (f"{src}room_event_id", "'{}'")
        if event is None
        else (f"{event}event_id", f"{event}event_data")
    )
    return f"""
MERGE (r:Room {{key: {src}room_key}})
  ON CREATE SET r.id = {src}room_id, r.created_at = $now, r.last_message_at = $now,
                r.product_id = p.id, r.buyer_id = buyer.id, r.seller_id = seller.id
WITH buyer, seller, p, r, r.id = {src}room_id AS room_created{carry}
FOREACH (_ IN CASE WHEN room_created THEN [1] ELSE [] END |
  CREATE (buyer)-[:MEMBER {{role: 'buyer', last_read_at: $now, unread: 0}}]->(r)
  CREATE (seller)-[:MEMBER {{role: 'seller', last_read_at: 0, unread: 0}}]->(r)
  CREATE (r)-[:ABOUT]->(p)
  CREATE (:Event {{id: {event_id}, type: 'room.opened', at: $now, actor_id: buyer.id,
                  subject_id: {src}room_id, data: {data}}}))
"""


ROOM_MERGE = room_merge()

# A system line in the room's history (an offer made, an order confirmed...): expects `r`;
# counts as unread for every member but the one who acted.
SYSTEM_MESSAGE = """
CREATE (sys:Message {id: $sys_id, room_id: r.id, sender_id: 'system', kind: $sys_kind,
                     body: $sys_text, data: $sys_data, sent_at: $now})-[:IN]->(r)
SET r.last_message_at = $now, r.last_message_id = $sys_id
"""
SYSTEM_UNREAD = """
MATCH (member:User)-[unread:MEMBER]->(r)
WHERE member.id <> $actor_id
SET unread.unread = coalesce(unread.unread, 0) + 1 + $extra_unread
"""

_OPENABLE = """
WHERE seller.status = 'active' AND seller.id <> buyer.id
  AND p.status IN ['active', 'reserved', 'sold']
  AND NOT (buyer)-[:BLOCKED]-(seller)
"""

OPEN_ROOM = statement(
    "messaging.open_room",
    """
    MATCH (buyer:User {id: $buyer_id}) WHERE buyer.status = 'active'
    MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
    """
    + _OPENABLE
    + """
    WITH buyer, seller, p
    """
    + room_merge(event="$")
    + """
    RETURN r.id AS id, room_created AS created
    """,
    write=True,
)

# several at once (right swipes sent together): the rooms of those still open to the buyer
OPEN_ROOMS = statement(
    "messaging.open_rooms",
    """
    MATCH (buyer:User {id: $buyer_id}) WHERE buyer.status = 'active'
    UNWIND $rooms AS row
    // (fields taken out of the map first: FalkorDB matches nothing on a field of a map)
    WITH buyer, row.product_id AS product_id, row.room_key AS room_key,
         row.room_id AS room_id, row.event_id AS event_id, row.event_data AS event_data
    MATCH (p:Product {id: product_id})
    // (a step of its own: FalkorDB would otherwise start from every user)
    WITH buyer, p, room_key, room_id, event_id, event_data
    MATCH (seller:User)-[:LISTED]->(p)
    """
    + _OPENABLE
    + """
    WITH buyer, seller, p, room_key, room_id, event_id, event_data
    """
    + room_merge("", ", room_id, event_id, event_data", event="")
    + """
    RETURN p.id AS product_id, r.id AS id, room_created AS created
    """,
    write=True,
)


def room_params(buyer_id: str, product_id: str) -> dict[str, Any]:
    """What ROOM_MERGE needs: the room's key, and an id and event id should it be new."""
    return {**_room_ids(buyer_id, product_id), "room_event_id": new_id()}


def _room_ids(buyer_id: str, product_id: str) -> dict[str, str]:
    return {"room_key": f"{product_id}:{buyer_id}", "room_id": new_id()}


def system_params(text: str, data: dict[str, Any], *, extra_unread: int = 0) -> dict[str, Any]:
    """What SYSTEM_MESSAGE needs: the line's text and what happened, as data (and how many
    other new lines the statement writes, for the unread counts)."""
    ob_type = str(data.get("event", "room.system"))
    return {
        "extra_unread": extra_unread,
        "ob_type": ob_type,  # the outbox record deals write beside the line
        "ob_kind": ob_type.split(".")[0],
        "sys_id": new_id(),
        "sys_kind": "system",
        "sys_text": text,
        "sys_data": json.dumps(data, separators=(",", ":")),
    }


OPEN_CHECK = statement(
    "messaging.open_check",
    """
    OPTIONAL MATCH (seller:User)-[:LISTED]->(p:Product {id: $product_id})
    OPTIONAL MATCH (buyer:User {id: $buyer_id})
    WITH p, seller, buyer,
         CASE WHEN buyer IS NULL OR seller IS NULL THEN 0
              ELSE size([(buyer)-[b:BLOCKED]-(seller) | b]) END AS blocks
    RETURN p IS NOT NULL AND p.status <> 'deleted' AS exists, seller.id AS seller_id,
           blocks > 0 AS blocked
    """,
)

# A room is hidden from its member while a suspended account is in it, and while a block
# stands between its members; expects `me` and `r` bound.
NO_SUSPENDED_MEMBER = "NOT (:User {status: 'suspended'})-[:MEMBER]->(r)"
ROOM_SHOWN = "NOT (me)-[:BLOCKED]-(:User)-[:MEMBER]->(r) AND " + NO_SUSPENDED_MEMBER

# A room as its member sees it; expects `me`, `m` (my MEMBER edge) and `r` bound.
ROOM_VIEW = """
MATCH (r)-[:ABOUT]->(p:Product)
MATCH (other:User)-[:MEMBER]->(r)
WHERE other.id <> me.id
OPTIONAL MATCH (last:Message {id: r.last_message_id})
WHERE last.hidden_at IS NULL
RETURN r.id AS id, m.role AS role, m.unread AS unread, r.created_at AS created_at,
       r.last_message_at AS last_message_at,
       p.id AS product_id, p.title AS product_title, p.price AS product_price,
       p.currency AS product_currency, p.status AS product_status,
       [(p)-[hi:HAS_IMAGE]->(i:Image) WHERE hi.pos = 0 | i.id] AS product_images,
       other.id AS other_id, other.handle AS other_handle,
       other.display_name AS other_name,
       last.id AS last_id, last.body AS last_body, last.sent_at AS last_sent_at,
       last.sender_id AS last_sender_id, last.kind AS last_kind, last.data AS last_data
"""

ROOMS_BY_ID = statement(
    "messaging.rooms_by_id",
    """
    MATCH (me:User {id: $user_id})
    UNWIND $room_ids AS room_id
    MATCH (me)-[m:MEMBER]->(r:Room {id: room_id})
    WHERE """
    + ROOM_SHOWN
    + """
    WITH me, m, r
    """
    + ROOM_VIEW,
)

ROOM = statement(
    "messaging.room",
    """
    MATCH (me:User {id: $user_id})-[m:MEMBER]->(r:Room {id: $room_id})
    WHERE """
    + ROOM_SHOWN
    + """
    WITH me, m, r
    """
    + ROOM_VIEW,
)

ROOMS = statement(
    "messaging.rooms",
    """
    MATCH (me:User {id: $user_id})-[m:MEMBER]->(r:Room)
    WHERE ($role IS NULL OR m.role = $role)
      AND ($after_id IS NULL OR r.last_message_at < $after
           OR (r.last_message_at = $after AND r.id < $after_id))
      AND """
    + ROOM_SHOWN
    + """
    WITH me, m, r
    ORDER BY r.last_message_at DESC, r.id DESC
    LIMIT $limit
    """
    + ROOM_VIEW
    + "ORDER BY last_message_at DESC, id DESC",
)

MESSAGES = statement(
    "messaging.messages",
    """
    MATCH (me:User {id: $user_id})-[:MEMBER]->(r:Room {id: $room_id})
    WHERE """
    + ROOM_SHOWN
    + """
    // the room checked once, before its messages (FalkorDB would check blocks per message);
    // its members beside each row: a worker holding the page forgets it when one changes
    WITH r, [(member:User)-[:MEMBER]->(r) | member.id] AS members
    MATCH (msg:Message)-[:IN]->(r)
    WHERE ($before IS NULL OR msg.id < $before) AND msg.hidden_at IS NULL
    WITH members, msg ORDER BY msg.id DESC LIMIT $limit
    RETURN members,
    """
    + MESSAGE_FIELDS
    + "ORDER BY id DESC",
)

READ = statement(
    "messaging.read",
    """
    MATCH (me:User {id: $user_id})-[m:MEMBER]->(r:Room {id: $room_id})
    // nothing new since the last read: nothing to write (a client polling this costs a read)
    WITH r, m, coalesce(m.unread, 0) > 0
               OR coalesce(m.last_read_at, 0) < coalesce(r.last_message_at, 0) AS news
    FOREACH (_ IN CASE WHEN news THEN [1] ELSE [] END |
      SET m.last_read_at = $now, m.unread = 0
      CREATE (:Event {id: $event_id, type: 'room.read', at: $now, actor_id: $user_id,
                      subject_id: $room_id, data: $event_data}))
    RETURN r.id AS id
    """,
    write=True,
)

MISSED = statement(
    "messaging.missed",
    """
    MATCH (me:User {id: $user_id})-[:MEMBER]->(r:Room)
    WHERE r.last_message_at >= $since AND """
    + ROOM_SHOWN
    + """
    WITH me, r  // each room checked once, before its messages
    MATCH (msg:Message)-[:IN]->(r)
    WHERE msg.id > $after AND msg.hidden_at IS NULL
    WITH msg ORDER BY msg.id ASC LIMIT $limit
    RETURN
    """
    + MESSAGE_FIELDS
    + "ORDER BY id ASC",
)


def message_shape(row: dict[str, Any]) -> dict[str, Any]:
    """A chat line as clients read it, over REST and the WebSocket alike; `kind` is `system`
    for the lines deals write (an offer made, an order confirmed), with what happened as an
    object in `data`."""
    system = row.get("kind") == "system"
    return {
        "id": row["id"],
        "room_id": row["room_id"],
        "sender_id": row["sender_id"],
        "kind": "system" if system else "text",
        "text": row["body"],
        "data": json.loads(row["data"]) if system and row.get("data") else None,
        "sent_at": iso(row["sent_at"]),
    }


async def _unheld(_: Iterable[str]) -> None:
    """No worker holds pages (a process built without them)."""


class MessagingService:
    def __init__(
        self, store: GraphStore, pools: Pools, rooms_changed: RoomsChanged = _unheld
    ) -> None:
        self._store = store
        self._pools = pools
        self._sends = Sends(store, pools, rooms_changed)

    async def open_room(self, buyer_id: str, product_id: str) -> tuple[dict[str, Any], bool]:
        params = {
            "buyer_id": buyer_id,
            "product_id": product_id,
            **_room_ids(buyer_id, product_id),
            **event(),
        }
        rows = await self._store.run(OPEN_ROOM, params)
        if not rows:
            check = (
                await self._store.run(OPEN_CHECK, {"buyer_id": buyer_id, "product_id": product_id})
            )[0]
            if not check["exists"] or check["blocked"]:
                raise NotFound("no such listing")
            if check["seller_id"] == buyer_id:
                raise Invalid("this is your own listing", errors={"product_id": "your own"})
            raise NotFound("no such listing")
        return await self.room(buyer_id, rows[0]["id"]), bool(rows[0]["created"])

    async def open_rooms(self, buyer_id: str, product_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The buyer's rooms about these listings, opened where need be, in one write: by
        listing, for those still open to the buyer (others are left out, not refused)."""
        if not product_ids:
            return {}
        # each room opened is an Event of its own
        rooms = [
            {"product_id": pid, **_room_ids(buyer_id, pid), "event_id": new_id()}
            for pid in product_ids
        ]
        rows = await self._store.run(
            OPEN_ROOMS, {"buyer_id": buyer_id, "rooms": rooms, "now": now_ms()}
        )
        by_room = {row["id"]: row["product_id"] for row in rows}
        views = await self._store.run(ROOMS_BY_ID, {"user_id": buyer_id, "room_ids": list(by_room)})
        return {by_room[view["id"]]: view for view in views}

    async def room(self, user_id: str, room_id: str) -> dict[str, Any]:
        rows = await self._store.run(ROOM, {"user_id": user_id, "room_id": room_id})
        if not rows:
            raise NotFound("no such room")
        return rows[0]

    async def rooms(
        self, user_id: str, role: Role | None, cursor: tuple[int, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        after, after_id = cursor if cursor else (None, None)
        params = {
            "user_id": user_id,
            "role": role,
            "after": after,
            "after_id": after_id,
            "limit": limit,
        }
        return await self._store.run(ROOMS, params)

    async def send(self, user_id: str, room_id: str, body: str) -> dict[str, Any]:
        """The message, once written: sent together with the others this worker is asked
        to send meanwhile (`graph.messaging.sends`)."""
        return await self._sends.send(
            {"user_id": user_id, "room_id": room_id, "id": new_id(), "body": body}
        )

    async def messages(
        self, user_id: str, room_id: str, before: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return (await self.page(user_id, room_id, before, limit))[0]

    async def page(
        self, user_id: str, room_id: str, before: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The room's messages newest first, and its members (whose status, and the blocks
        between whom, decide whether the room shows at all)."""
        params = {"user_id": user_id, "room_id": room_id, "before": before, "limit": limit}
        rows = await self._store.run(MESSAGES, params)  # (only a member's room has rows)
        if rows:
            return rows, list(rows[0]["members"])
        room = await self.room(user_id, room_id)  # 404 for non-members; a member's page is empty
        return rows, [user_id, room["other_id"]]

    async def read(self, user_id: str, room_id: str) -> None:
        rows = await self._store.run(READ, {"user_id": user_id, "room_id": room_id, **event()})
        if not rows:
            raise NotFound("no such room")

    async def missed(self, user_id: str, after: str) -> list[dict[str, Any]]:
        """Messages in the user's rooms newer than `after` (a message id), oldest first."""
        since = id_time_ms(after)
        if since is None:
            raise Invalid("not a message id", errors={"after": "malformed"})
        params = {"user_id": user_id, "after": after, "since": since - 1, "limit": MISSED_LIMIT}
        return await self._store.run(MISSED, params)
