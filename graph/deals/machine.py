"""The offer and order state machines, as data: one table each is the single source of truth.

A row says: from this state, this event leads to that state, fired by whom, and what the deal
does on the way (give stock back, mark the listing sold). A state may carry a timer: an event
nobody triggers, due a period after the state was entered (the period is a setting), dropped
when the deal moves on first. Services look rows up here and apply them as a compare-and-set
in one statement, so of two racing transitions one wins and the other finds the state moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
    # what is owed to the deal's payment on the way: `void` an unpaid one (it can no longer be
    # paid), `refund` a paid one; applied in the same statement, carried out after it
    payment: Literal["void", "refund"] | None = None


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


def _who(*names: Who) -> frozenset[Who]:
    return frozenset(names)


# Negotiation ping-pongs through counters: every counter is a new Offer (linked by COUNTERS)
# made by the other side, and the one it answers becomes `countered`. The party who did not
# make the offer on the table accepts, declines or counters it; the buyer may walk away
# (withdraw) whoever's turn it is; an unanswered offer expires.
OFFER = Machine(
    name="offer",
    initial="open",
    transitions=(
        Transition("open", "accept", "accepted", _who("recipient")),
        Transition("open", "decline", "declined", _who("recipient")),
        Transition("open", "counter", "countered", _who("recipient")),
        Transition("open", "withdraw", "withdrawn", _who("buyer")),
        Transition("open", "expire", "expired", _who("system")),
    ),
    timers={"open": Timer("expire", "offer_ttl_seconds")},
)

# An order holds its units from the moment it is placed. The seller confirms it (or it is
# cancelled when they do not in time); the buyer completes it on receipt (or it completes by
# itself a while after confirmation). Cancelling gives the units back; a completed order is
# final.
#
# With card payment on (`VENDR_ORDER_PAYMENT`), an order starts in `payment_pending` instead of
# `placed`: the provider's verified webhook moves it to `paid`, which the seller confirms like
# a placed one; unpaid in time, it is cancelled and its units come back. Cancelling voids an
# unpaid payment and refunds a paid one; a refund made at the provider (a dashboard, a
# dispute) cancels an order not yet completed.
ORDER = Machine(
    name="order",
    initial="placed",
    transitions=(
        Transition("placed", "confirm", "confirmed", _who("seller")),
        Transition("placed", "cancel", "cancelled", _who("buyer", "seller"), restock=True),
        Transition("placed", "expire", "cancelled", _who("system"), restock=True),
        Transition("payment_pending", "pay", "paid", _who("provider")),
        Transition(
            "payment_pending",
            "cancel",
            "cancelled",
            _who("buyer", "seller"),
            restock=True,
            payment="void",
        ),
        Transition(
            "payment_pending", "unpaid", "cancelled", _who("system"), restock=True, payment="void"
        ),
        Transition("paid", "confirm", "confirmed", _who("seller")),
        Transition(
            "paid", "cancel", "cancelled", _who("buyer", "seller"), restock=True, payment="refund"
        ),
        Transition("paid", "expire", "cancelled", _who("system"), restock=True, payment="refund"),
        Transition("paid", "refunded", "cancelled", _who("provider"), restock=True),
        Transition("confirmed", "complete", "completed", _who("buyer"), complete=True),
        Transition(
            "confirmed", "cancel", "cancelled", _who("seller"), restock=True, payment="refund"
        ),
        Transition("confirmed", "refunded", "cancelled", _who("provider"), restock=True),
        Transition("confirmed", "auto_complete", "completed", _who("system"), complete=True),
    ),
    timers={
        "placed": Timer("expire", "order_confirm_seconds"),
        "payment_pending": Timer("unpaid", "order_payment_seconds"),
        "paid": Timer("expire", "order_confirm_seconds"),
        "confirmed": Timer("auto_complete", "order_complete_seconds"),
    },
)
# where an order starts when it is to be paid by card
ORDER_PAYMENT_INITIAL = "payment_pending"

# A payment, as the provider reports it. `new` until the provider has an intent for it; a
# failed attempt can be followed by a successful one (the customer tries another card); a
# success for a purpose that is gone is refunded by the service. Events that arrive after a
# later state (a failure after the success, a success after the refund) match no row and
# change nothing. Only the provider's webhooks and the service's own calls fire these.
PAYMENT = Machine(
    name="payment",
    initial="new",
    transitions=(
        Transition("new", "open", "pending", _who("system")),
        Transition("new", "succeed", "succeeded", _who("provider")),
        Transition("new", "fail", "failed", _who("provider")),
        Transition("new", "cancel", "cancelled", _who("system", "provider")),
        Transition("pending", "succeed", "succeeded", _who("provider")),
        Transition("pending", "fail", "failed", _who("provider")),
        Transition("pending", "cancel", "cancelled", _who("system", "provider")),
        Transition("pending", "refunded", "refunded", _who("provider")),
        Transition("failed", "succeed", "succeeded", _who("provider")),
        Transition("failed", "cancel", "cancelled", _who("system", "provider")),
        # the customer paid while the purpose was being cancelled: refunded by the service
        Transition("cancelled", "succeed", "succeeded", _who("provider")),
        Transition("succeeded", "refund", "refunding", _who("system")),
        Transition("succeeded", "refunded", "refunded", _who("provider")),
        Transition("refunding", "refunded", "refunded", _who("provider")),
    ),
    timers={},
)

# A paid promotion: bought (pending payment), running once the payment is verified, ended when
# its plan's period is over. Unpaid in time, or dropped by the seller, it is cancelled.
PROMOTION = Machine(
    name="promotion",
    initial="pending",
    transitions=(
        Transition("pending", "activate", "active", _who("provider")),
        Transition("pending", "cancel", "cancelled", _who("seller"), payment="void"),
        Transition("pending", "unpaid", "cancelled", _who("system"), payment="void"),
        Transition("active", "end", "ended", _who("system")),
    ),
    timers={
        "pending": Timer("unpaid", "order_payment_seconds"),
        "active": Timer("end", None),
    },
)

MACHINES = {m.name: m for m in (OFFER, ORDER, PAYMENT, PROMOTION)}


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
