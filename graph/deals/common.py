"""What offers, orders and the cart share: timers from settings, pushes to both parties, the
listing-changed hook, and money in words for the room's history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from graph.deals.machine import Machine
from graph.infra.errors import Conflict
from graph.infra.ids import now_ms
from graph.infra.settings import Settings
from graph.messaging.service import message_shape
from graph.notify import Notifier

# a listing's stock or status changed: browse caches and feed pools follow
Changed = Callable[[Iterable[str]], Awaitable[None]]

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "SEK": "SEK "}
ZERO_DECIMAL = frozenset({"JPY", "KRW", "ISK", "CLP", "VND"})


def money_text(amount: int, currency: str) -> str:
    """12.50 EUR as €12.50, for the lines deals write into a room."""
    symbol = SYMBOLS.get(currency, currency + " ")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}"
    return f"{symbol}{amount // 100:,}.{amount % 100:02d}"


def refused(detail: str, state: str, actions: list[str]) -> Conflict:
    """The 409 for a move the deal's state does not allow: it names the state and what the
    caller may do instead."""
    hint = f"; you can: {', '.join(actions)}" if actions else ""
    return Conflict(
        detail + hint, errors={"status": state}, extra={"state": state, "actions": actions}
    )


@dataclass(frozen=True)
class Timers:
    """Deadlines for the states that have a timer, from the periods in settings."""

    settings: Settings

    def due(
        self, machine: Machine, state: str, period_s: float | None = None
    ) -> tuple[int | None, str | None]:
        """(deadline, event) for a deal entering `state` now, or (None, None): no timer. A
        timer without a setting takes its period from the caller."""
        timer = machine.timers.get(state)
        if timer is None:
            return None, None
        if timer.setting is not None:
            period_s = float(getattr(self.settings, timer.setting))
        if period_s is None:
            raise ValueError(f"the {machine.name} timer in {state} needs its period")
        return now_ms() + int(period_s * 1000), timer.event


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
