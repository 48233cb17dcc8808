"""The offer and order state machines (graph.infra.machine says how a table reads)."""

from __future__ import annotations

from graph.infra.machine import Machine, Timer, Transition
from graph.infra.machine import who as _who
from graph.payments import PAYMENT, PROMOTION

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
# `placed`. The provider's verified webhook moves it to `paid` once the card is authorised (the
# money is held on the card, not yet taken); the seller's confirmation captures it. Cancelled
# before that (by a party, a timer, an account ending) the authorisation is voided, never
# charged and refunded; cancelled after it, the payment is refunded. The provider cancelling
# the authorisation (it lapsed) or refunding the payment (a dashboard) cancels an order not yet
# completed.
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
        Transition("paid", "confirm", "confirmed", _who("seller"), payment="capture"),
        Transition(
            "paid", "cancel", "cancelled", _who("buyer", "seller"), restock=True, payment="void"
        ),
        Transition("paid", "expire", "cancelled", _who("system"), restock=True, payment="void"),
        Transition("paid", "refunded", "cancelled", _who("provider"), restock=True),
        Transition("paid", "voided", "cancelled", _who("provider"), restock=True),
        Transition("confirmed", "complete", "completed", _who("buyer"), complete=True),
        Transition(
            "confirmed", "cancel", "cancelled", _who("seller"), restock=True, payment="refund"
        ),
        Transition("confirmed", "refunded", "cancelled", _who("provider"), restock=True),
        Transition("confirmed", "voided", "cancelled", _who("provider"), restock=True),
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

MACHINES = {m.name: m for m in (OFFER, ORDER, PAYMENT, PROMOTION)}
