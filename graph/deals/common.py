"""What offers, orders and the cart share: the end of every deal statement (the room's system
line, the outbox record, unread counts), timers due, both sides' lists, and pushes to both
parties after the graph has them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from redis.exceptions import RedisError

from graph.infra.store import GraphStore, Statement, statement
from graph.messaging import SYSTEM_MESSAGE, SYSTEM_UNREAD, message_shape
from graph.notify import DEAL_OUTBOX, Notifier

log = logging.getLogger("vendr.deals")

# why a deal ended without its party: their account was deleted, or suspended by a moderator
Why = Literal["deleted", "suspended"]


def ended_text(what: str, side: str, why: Why) -> str:
    """The room's line for a deal ended because the `side` party's account ended."""
    party = "the buyer" if side == "buyer" else "the seller"
    if why == "deleted":
        return f"{what}: {party} closed their account"
    return f"{what}: {party}'s account is suspended"


async def _unheld(_: Iterable[str]) -> None:
    """No worker holds rooms' pages (a process built without them)."""


class Pushes:
    """Deal updates to both parties' connections, after the graph has them; and to every
    worker, that the room's pages changed (`rooms_changed`: graph.messaging)."""

    def __init__(
        self,
        notifier: Notifier,
        rooms_changed: Callable[[Iterable[str]], Awaitable[None]] = _unheld,
    ) -> None:
        self._notifier = notifier
        self._rooms_changed = rooms_changed

    async def room_changed(self, *room_ids: str) -> None:
        """A deal's write added lines to these rooms (committed): every worker forgets the
        pages of them it holds. Called right after the write, before anything that may fail;
        a push that fails is not the deal's failure (this process has forgotten them, the
        others answer what they hold for at most their seconds)."""
        try:
            await self._rooms_changed(room_ids)
        except (RedisError, OSError) as exc:
            log.warning("rooms %s: the pages' push was lost (%s)", ", ".join(room_ids), exc)

    async def send(self, kind: str, body: dict[str, Any], parties: Iterable[str]) -> None:
        await self._notifier.publish(list(parties), {"type": kind, kind.split(".")[0]: body})
        await self._notifier.wake_outbox()  # the deal's write left an outbox record

    async def system_message(self, row: dict[str, Any], parties: Iterable[str]) -> None:
        """The room's new system line (`sys_*` of a deal write), shaped as every chat line."""
        message = message_shape(
            {
                "id": row["sys_id"],
                "room_id": row["room_id"],
                "sender_id": "system",
                "kind": "system",
                "body": row["sys_text"],
                "data": row["sys_data"],
                "sent_at": row["sys_at"],
            }
        )
        await self._notifier.publish(
            list(parties),
            {"type": "message.created", "room_id": row["room_id"], "message": message},
        )


# What every deal write returns: the room's new system line, for the pushes.
SYSTEM_RETURN = """
RETURN o.id AS id, r.id AS room_id, o.buyer_id AS buyer_id, o.seller_id AS seller_id,
       sys.id AS sys_id, sys.body AS sys_text, sys.data AS sys_data, sys.sent_at AS sys_at
"""


def announce(carry: str = "") -> str:
    """The end every deal statement shares, with `o` (the offer or order) and `r` (its room)
    bound: the room's system line, the outbox record that tells the other party, unread
    counts for the other party, and what the pushes need; `carry` names a variable kept to
    the end and returned."""
    extra = f", {carry}" if carry else ""
    return (
        f"WITH o, r{extra}\n"
        + SYSTEM_MESSAGE
        + DEAL_OUTBOX
        + f"WITH o, r, sys{extra}\n"
        + SYSTEM_UNREAD
        + f"WITH DISTINCT o, r, sys{extra}\n"
        + SYSTEM_RETURN
        + extra
    )


def due_timers(label: Literal["Offer", "Order"]) -> Statement:
    """What is due of one kind of deal, soonest first (the label from this fixed pair)."""
    return statement(
        f"{label.lower()}s.due",
        "MATCH (o:"
        + label
        + """)
        WHERE o.due_at <= $now
        RETURN o.id AS id, o.status AS status, o.due_event AS event
        ORDER BY o.due_at
        LIMIT $batch
        """,
    )


async def both_sides(
    store: GraphStore,
    statements: dict[str, Statement],
    user_id: str,
    role: str | None,
    status: str | None,
    cursor: tuple[int, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A person's deals as buyer, as seller, or both merged, newest first (keyset cursor)."""
    after, after_id = cursor if cursor else (None, None)
    params = {
        "user_id": user_id,
        "status": status,
        "after": after,
        "after_id": after_id,
        "limit": limit,
    }
    sides = [role] if role else ["buyer", "seller"]
    results = await asyncio.gather(*(store.run(statements[s], params) for s in sides))
    rows = [r for side in results for r in side]
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return rows[:limit]
