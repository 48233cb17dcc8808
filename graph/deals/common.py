"""What offers, orders and the cart share: pushes to both parties, after the graph has them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graph.messaging import message_shape
from graph.notify import Notifier


class Pushes:
    """Deal updates to both parties' connections, after the graph has them."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

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
