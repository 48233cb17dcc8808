"""State machines as data: a table of transitions per kind of deal (offers and orders in
graph.deals, payments and promotions in graph.payments), each the single source of truth.

A row says: from this state, this event leads to that state, fired by whom, and what the deal
does on the way (give stock back, mark the listing sold, void or refund its payment). A state
may carry a timer: an event nobody triggers, due a period after the state was entered (the
period is a setting), dropped when the deal moves on first. Services look rows up here and
apply them as a compare-and-set in one statement, so of two racing transitions one wins and
the other finds the state moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from graph.infra.errors import Conflict
from graph.infra.ids import now_ms
from graph.infra.settings import Settings

# who may fire an event: the buyer, the seller, whoever did not make the offer on the table,
# the scheduler (a timer), or the payment provider (a verified webhook)
Who = Literal["buyer", "seller", "recipient", "system", "provider"]


@dataclass(frozen=True)
class Transition:
    source: str
    event: str
    target: str
    who: frozenset[Who]
    restock: bool = False  # give the order's units back to their listings
    complete: bool = False  # the deal is done: a one-off listing with nothing left is sold
    # what is owed to the deal's payment on the way: `void` or `refund` give the money back (a
    # payment not captured is voided, a captured one refunded: the payment's state decides;
    # the name says what the row expects), `capture` charges an authorised card; decided in
    # the same statement, carried out after it
    payment: Literal["void", "refund", "capture"] | None = None


@dataclass(frozen=True)
class Timer:
    event: str
    # the Settings field holding the period, in seconds; None: the deal brings its own
    # deadline (a promotion ends when the plan it was bought on says)
    setting: str | None


@dataclass(frozen=True)
class Machine:
    name: str
    initial: str
    transitions: tuple[Transition, ...]
    timers: dict[str, Timer]

    @property
    def states(self) -> frozenset[str]:
        return frozenset(
            {t.source for t in self.transitions} | {t.target for t in self.transitions}
        )

    @property
    def terminal(self) -> frozenset[str]:
        return self.states - {t.source for t in self.transitions}

    def find(self, source: str, event: str) -> Transition | None:
        for t in self.transitions:
            if t.source == source and t.event == event:
                return t
        return None

    def events(self) -> frozenset[str]:
        return frozenset(t.event for t in self.transitions)


def who(*names: Who) -> frozenset[Who]:
    return frozenset(names)


def allowed(transition: Transition, *, role: str, made_by: str | None = None) -> bool:
    """May a party in `role` (buyer, seller or system) fire this? `made_by` is the side that
    made the offer on the table, for `recipient` rows."""
    if role in transition.who:
        return True
    return "recipient" in transition.who and made_by is not None and role != made_by


def open_events(
    machine: Machine, state: str, *, role: str, made_by: str | None = None
) -> list[str]:
    """What `role` may do now: the actions a client shows as buttons."""
    return sorted(
        t.event
        for t in machine.transitions
        if t.source == state
        and not t.who <= {"system", "provider"}
        and allowed(t, role=role, made_by=made_by)
    )


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
