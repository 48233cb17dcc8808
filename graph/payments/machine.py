"""The payment and promotion state machines (graph.infra.machine says how a table reads)."""

from __future__ import annotations

from graph.infra.machine import Machine, Timer, Transition
from graph.infra.machine import who as _who

# A payment, as the provider reports it. `new` until the provider has an intent for it; a
# failed attempt can be followed by a successful one (the customer tries another card); a
# success for a purpose that is gone is refunded by the service. An order's card is
# `authorized` first (the money is held on the card, not taken) and captured when the seller
# confirms (`capturing`, then `succeeded` on the provider's word); voided instead when the order
# ends before that, or cancelled by the provider when the authorisation lapses. A promotion's
# goes straight to `succeeded`. Partial refunds leave a payment `succeeded` (its
# `refunded_amount` grows); the last one makes it `refunded`. Events that arrive after a later
# state (a failure after the success, a success after the refund) match no row and change
# nothing. Only the provider's webhooks and the service's own calls fire these.
PAYMENT = Machine(
    name="payment",
    initial="new",
    transitions=(
        Transition("new", "open", "pending", _who("system")),
        Transition("new", "authorize", "authorized", _who("provider")),
        Transition("new", "succeed", "succeeded", _who("provider")),
        Transition("new", "fail", "failed", _who("provider")),
        Transition("new", "cancel", "cancelled", _who("system", "provider")),
        Transition("pending", "authorize", "authorized", _who("provider")),
        Transition("pending", "succeed", "succeeded", _who("provider")),
        Transition("pending", "fail", "failed", _who("provider")),
        Transition("pending", "cancel", "cancelled", _who("system", "provider")),
        Transition("pending", "refunded", "refunded", _who("provider")),
        Transition("failed", "authorize", "authorized", _who("provider")),
        Transition("failed", "succeed", "succeeded", _who("provider")),
        Transition("failed", "cancel", "cancelled", _who("system", "provider")),
        Transition("authorized", "capture", "capturing", _who("system")),
        Transition("authorized", "succeed", "succeeded", _who("provider")),
        # voided by Vendr (the order ended) or by the provider (the authorisation lapsed)
        Transition("authorized", "cancel", "cancelled", _who("system", "provider")),
        Transition("capturing", "succeed", "succeeded", _who("provider")),
        Transition("capturing", "cancel", "cancelled", _who("provider")),
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
