"""Fan-out: each new outbox record becomes `Notification`s, one per person and channel, keyed
`outbox key : person : channel` and MERGEd on that key, so doing it twice writes nothing new.
Who and how come from the record (named recipients, the listing's savers, the saved searches
a new listing matches) and each person's channel settings; matches by email go out as one
digest per period.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from graph.infra.ids import new_id, now_ms
from graph.infra.settings import Settings
from graph.infra.store import GraphStore, statement
from graph.notify import kinds

BATCH = 200
SAVERS_LIMIT = 5000

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


class SearchMatcher(Protocol):
    async def matches(self, product_id: str) -> list[dict[str, Any]]: ...


class FanOut:
    def __init__(self, store: GraphStore, settings: Settings, searches: SearchMatcher) -> None:
        self._store = store
        self._settings = settings
        self._searches = searches

    async def run(self, now: int) -> int:
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
