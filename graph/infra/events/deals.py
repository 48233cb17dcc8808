"""The event log's schemas of deals and payments."""

from __future__ import annotations

from graph.infra.events.core import (
    DERIVED_PROPERTIES,
    OPERATIONAL_LABELS,
    Facts,
    not_sourced,
    source,
)

# Deals and money. Deal timers and the provider's webhooks run these statements too: their
# `now` and what the provider said are facts, so a replay never asks the provider anything.
# Per-deal lines every deal statement shares (graph.deals.common.announce) and the room a
# first deal opens (graph.messaging.room_merge) are facts of each statement below.


class _SystemLine(Facts):
    # the room's system line and the outbox record beside it (graph.messaging.system_params)
    extra_unread: int
    ob_type: str
    ob_kind: str
    sys_id: str
    sys_kind: str
    sys_text: str
    sys_data: str


class _RoomOpened(Facts):
    # the room a deal opens if it is the first (its 'room.opened' is a by-product)
    room_key: str
    room_id: str
    room_event_id: str


class OfferMade(_SystemLine, _RoomOpened):
    buyer_id: str
    product_id: str
    amount: int
    currency: str
    quantity: int
    offer_id: str
    thread_id: str
    round: int
    by: str
    due_at: int | None
    due_event: str | None
    note: str | None
    note_id: str
    actor_id: str


class _OfferMove(_SystemLine):
    id: str
    role: str
    actor_id: str
    made_by: str | None


class OfferClosed(_OfferMove):
    target: str
    event_type: str


class OfferCountered(OfferClosed):
    offer_id: str
    amount: int
    quantity: int
    thread_id: str
    round: int
    by: str
    due_at: int | None
    due_event: str | None


class OfferAccepted(_OfferMove):
    order_id: str
    order_event_id: str
    offer_id: str
    quantity: int
    order_status: str
    due_at: int | None
    due_event: str | None


class OrderPlaced(_SystemLine, _RoomOpened):
    buyer_id: str
    product_id: str
    quantity: int
    order_id: str
    offer_id: str | None
    order_status: str
    due_at: int | None
    due_event: str | None
    actor_id: str


class OrderMoved(_SystemLine):
    id: str
    source: str
    target: str
    event: str
    role: str
    actor_id: str
    restock: bool
    complete: bool
    ended: list[str]
    due_at: int | None
    due_event: str | None
    cancelled_by: str | None
    event_type: str
    savers_type: str
    savers_actor: str
    # what the move owes its payment (graph.payments.owed), its Event a by-product
    payment: str | None
    release_at: int | None
    payment_event_id: str


class CartPut(Facts):
    user_id: str
    product_id: str
    quantity: int
    max_lines: int


class CartRemoved(Facts):
    user_id: str
    product_id: str


class CheckoutLine(Facts):
    product_id: str
    quantity: int
    unit_price: int
    currency: str
    seller_id: str
    order_id: str


class CheckoutOrder(Facts):
    order_id: str
    order_event_id: str
    seller_id: str
    currency: str
    amount: int
    quantity: int
    first_product_id: str
    room_key: str
    room_id: str
    room_event_id: str
    sys_id: str
    sys_text: str
    sys_data: str


class CheckedOut(Facts):
    buyer_id: str
    lines: list[CheckoutLine]
    orders: list[CheckoutOrder]
    order_status: str
    due_at: int | None
    due_event: str | None


class CollectionCreatedEmpty(Facts):
    user_id: str
    id: str
    name: str
    max: int


class CollectionCreated(CollectionCreatedEmpty):
    product_ids: list[str]


class CollectionUpdated(Facts):
    user_id: str
    id: str
    name: str | None
    product_ids: list[str] | None


class CollectionDeleted(Facts):
    user_id: str
    id: str


class PaymentCreated(Facts):
    subject_id: str
    payable: str
    key: str
    payment_id: str
    purpose: str
    payer_id: str
    provider: str
    capture: str
    payee_id: str | None
    fee_bps: int


class PaymentIntent(Facts):
    id: str
    intent_id: str


class Posting(Facts):
    owner: str
    bucket: str
    amount: int


class PaymentMoved(Facts):
    id: str
    source: str
    target: str
    failure: str | None
    owed: str | None
    actor_id: str
    event_type: str
    postings: list[Posting]


class PaymentCallDone(Facts):
    id: str
    owed: str
    amount: int | None
    refund_id: str | None
    event_type: str


class PaymentCallFailed(Facts):
    id: str
    owed: str
    at: int | None
    error: str


class RefundAsked(Facts):
    id: str
    amount: int
    actor_id: str
    reason: str


class _MoneyBack(Facts):
    id: str
    before: int
    platform_bucket: str
    fee_part: int
    seller_part: int


class PaymentRefunded(_MoneyBack):
    total: int
    delta: int


class DisputeOpened(_MoneyBack):
    dispute_id: str
    amount: int


class DisputeClosed(Facts):
    dispute_id: str
    outcome: str
    platform_bucket: str


class PayoutAccountOpened(Facts):
    user_id: str
    account_id: str


class PayoutAccountUpdated(Facts):
    account_id: str
    enabled: bool


class Released(Facts):
    id: str


class SharesReleased(Facts):
    rows: list[Released]


class PayoutCreated(Facts):
    user_id: str
    key: str
    minimum: int
    payout_id: str
    trigger: str
    actor_id: str


class PayoutSettled(Facts):
    id: str
    transfer_id: str | None
    failure: str | None


class PromotionCreated(Facts):
    user_id: str
    product_id: str
    id: str
    plan: str
    days: float
    boost: float
    amount: int
    currency: str
    due_at: int | None
    due_event: str | None


class PromotionMoved(Facts):
    id: str
    source: str
    target: str
    event: str
    role: str
    actor_id: str
    due_at: int | None
    due_event: str | None
    event_type: str
    payment: str | None
    release_at: int | None
    payment_event_id: str


_PAYMENT_OWED = ("payment.refunding", "payment.capturing", "payment.cancelled")

source("offers.make", "offer.made", OfferMade, by_products=("room.opened",))
source("offers.close", "offer.declined", OfferClosed)  # or withdrawn, expired (`event_type`)
source("offers.counter", "offer.countered", OfferCountered)
source("offers.accept", "offer.accepted", OfferAccepted, by_products=("order.placed",))
source("orders.place", "order.placed", OrderPlaced, by_products=("room.opened",))
source("orders.move", "order.confirmed", OrderMoved, by_products=_PAYMENT_OWED)
source("cart.put", "cart.line_put", CartPut)
source("cart.remove", "cart.line_removed", CartRemoved)
source("cart.checkout", "cart.checked_out", CheckedOut, by_products=("order.placed", "room.opened"))
source("collections.create", "collection.created", CollectionCreated)
source("collections.create_empty", "collection.created", CollectionCreatedEmpty)
source("collections.update", "collection.updated", CollectionUpdated)
source("collections.delete", "collection.deleted", CollectionDeleted)

source("payments.open_order", "payment.created", PaymentCreated)
source("payments.open_promotion", "payment.created", PaymentCreated)
# the provider's client secret lets the payer pay: never in the log (a rebuilt graph has none)
source("payments.intent", "payment.intent_created", PaymentIntent, secret=("client_secret",))
source("payments.move", "payment.succeeded", PaymentMoved)  # any PAYMENT move (`event_type`)
source("payments.owed_done", "payment.refund_sent", PaymentCallDone)
# a refused call leaves the payment owing it (a create owed from then on): a fact
source("payments.owed_retry", "payment.call_failed", PaymentCallFailed)
source("payments.ask_refund", "payment.refund_asked", RefundAsked)
source("payments.refunded", "payment.refunded", PaymentRefunded)
source("payments.dispute_opened", "payment.disputed", DisputeOpened)
source("payments.dispute_closed", "payment.dispute_won", DisputeClosed)
source("payouts.account_opened", "payouts.account_opened", PayoutAccountOpened)
source("payouts.account_updated", "payouts.account_updated", PayoutAccountUpdated)
source("payouts.release", "payment.released", SharesReleased, rows="rows")
source("payouts.create", "payout.created", PayoutCreated)
source("payouts.settled", "payout.paid", PayoutSettled)
source("promotions.create", "promotion.created", PromotionCreated)
source("promotions.move", "promotion.active", PromotionMoved, by_products=_PAYMENT_OWED)

not_sourced("payments.retry", "operational: an operator resets an owed call's backoff")
not_sourced("payouts.retry_later", "operational: when to ask for an owed transfer again")
not_sourced("payments.webhook_claim", "operational: a delivery's claim on a webhook event id")
not_sourced("payments.webhook_done", "operational: what a webhook delivery did, for duplicates")

DERIVED_PROPERTIES.update(
    {
        # stamps a statement writes to take a lock before it reads (kept when it then refuses)
        "Room.negotiated_at",
        "Product.stock_checked_at",
        "Product.promotion_checked_at",
        "Offer.locked_at",
        "Order.locked_at",
        "Payment.locked_at",
        "Promotion.locked_at",
        "Payout.locked_at",
        "Account.payout_checked_at",
        # when an owed provider call is tried again, and how often it was (the retry machinery)
        "Payment.owed_at",
        "Payment.owed_attempts",
        "Payout.owed_at",
        "Payout.owed_attempts",
        "Payout.owed_error",
        # a secret the log does not hold
        "Payment.client_secret",
    }
)
OPERATIONAL_LABELS.update({"WebhookEvent"})
