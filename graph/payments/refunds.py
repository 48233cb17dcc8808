"""Money going back after a capture: refunds (whole or partial, asked by Vendr or made at the
provider) and disputes (a card holder contests a charge with their bank).

The provider's word moves the ledger: `charge.refunded` carries the total refunded so far, so
deliveries in any order book each step once (a total at or below the one booked changes
nothing). A dispute freezes the seller's share of its amount (`disputed`) until the bank
decides: won, it goes back where it was; lost, it goes to the card holder with the platform's
fee on it. Each of these is one compare-and-set statement on the payment with its entry.
"""

from __future__ import annotations

from typing import Any

from graph.infra.ids import event
from graph.infra.store import statement
from graph.payments.ledger import HELD, REFUNDABLE, post, share

RETURNED = """
WITH pay
RETURN pay.id AS id, pay.purpose AS purpose, pay.subject_id AS subject_id,
       pay.status AS status, coalesce(pay.refunded_amount, 0) AS refunded_amount,
       pay.captured_amount AS captured_amount, pay.dispute_status AS dispute_status
"""

# what goes back: to the buyer's card, from the platform's part and the seller's held share
BACK = (
    "[{owner: 'buyers', bucket: 'cards', amount: $back},"
    " {owner: 'platform', bucket: $platform_bucket, amount: -$fee_part},"
    " {owner: 'seller:' + coalesce(pay.payee_id, ''), bucket: " + HELD + ","
    " amount: -$seller_part}]"
)

# the provider says `$total` has been refunded of the payment so far
REFUNDED = statement(
    "payments.refunded",
    """
    MATCH (pay:Payment {id: $id})
    SET pay.locked_at = $now
    WITH pay
    WHERE coalesce(pay.refunded_amount, 0) = $before AND $total > $before
      AND $total + coalesce(pay.dispute_lost, 0) <= pay.captured_amount
    SET pay.refunded_amount = $total, pay.updated_at = $now,
        pay.refund_asked = CASE WHEN pay.refund_asked < $total THEN $total
                                ELSE pay.refund_asked END,
        pay.seller_net = pay.seller_net - $seller_part,
        pay.status = CASE WHEN $total = pay.captured_amount
                               AND pay.status IN ['succeeded', 'refunding'] THEN 'refunded'
                          ELSE pay.status END,
        pay.refunded_at = CASE WHEN $total = pay.captured_amount THEN $now
                               ELSE pay.refunded_at END
    CREATE (:Event {id: $event_id, at: $now, actor_id: 'provider', subject_id: pay.id,
                    type: CASE WHEN $total = pay.captured_amount THEN 'payment.refunded'
                               ELSE 'payment.partially_refunded' END,
                    data: $event_data})
    WITH pay
    """
    + post(
        "true",
        "'refund:' + pay.id + ':' + toString($total)",
        "'refund'",
        "pay.currency",
        BACK.replace("$back", "$delta"),
        "payment_id: pay.id, subject_id: pay.subject_id",
    )
    + RETURNED,
    write=True,
)

# a party asks for part of a captured payment back (the seller, for a damaged item): owed to
# the provider like any call, one at a time, never more than was captured
ASK = statement(
    "payments.ask_refund",
    """
    MATCH (pay:Payment {id: $id})
    SET pay.locked_at = $now
    WITH pay, pay.refund_asked + $amount AS asked
    WHERE pay.status = 'succeeded' AND pay.owed IS NULL AND $amount <= """
    + REFUNDABLE
    + """
      AND coalesce(pay.dispute_status, '') <> 'open'
    SET pay.refund_asked = asked, pay.owed = 'refund', pay.owed_amount = $amount,
        pay.owed_at = $now, pay.owed_attempts = 0, pay.updated_at = $now,
        pay.refund_reason = $reason,
        pay.status = CASE WHEN asked = pay.captured_amount THEN 'refunding' ELSE pay.status END
    CREATE (:Event {id: $event_id, type: 'payment.refund_asked', at: $now,
                    actor_id: $actor_id, subject_id: pay.id, data: $event_data})
    """
    + RETURNED,
    write=True,
)

DISPUTE_OPENED = statement(
    "payments.dispute_opened",
    """
    MATCH (pay:Payment {id: $id})
    SET pay.locked_at = $now
    WITH pay
    WHERE pay.dispute_id IS NULL AND pay.captured_amount > 0
      AND coalesce(pay.refunded_amount, 0) = $before
    SET pay.dispute_id = $dispute_id, pay.dispute_status = 'open', pay.dispute_amount = $amount,
        pay.dispute_fee = $fee_part, pay.dispute_seller = $seller_part,
        pay.seller_net = pay.seller_net - $seller_part, pay.updated_at = $now
    CREATE (:Event {id: $event_id, type: 'payment.disputed', at: $now, actor_id: 'provider',
                    subject_id: pay.id, data: $event_data})
    WITH pay
    """
    + post(
        "true",
        "'dispute:' + $dispute_id + ':opened'",
        "'dispute_opened'",
        "pay.currency",
        "[{owner: 'seller:' + coalesce(pay.payee_id, ''), bucket: "
        + HELD
        + ", amount: -$seller_part},"
        " {owner: 'seller:' + coalesce(pay.payee_id, ''), bucket: 'disputed',"
        " amount: $seller_part},"
        " {owner: 'platform', bucket: $platform_bucket, amount: 0}]",
        "payment_id: pay.id, subject_id: pay.subject_id",
    )
    + RETURNED,
    write=True,
)

# the bank decided: won, the frozen share goes back; lost, the amount goes to the card holder
DISPUTE_CLOSED = statement(
    "payments.dispute_closed",
    """
    MATCH (pay:Payment {dispute_id: $dispute_id})
    SET pay.locked_at = $now
    WITH pay
    WHERE pay.dispute_status = 'open'
    SET pay.dispute_status = $outcome, pay.updated_at = $now,
        pay.seller_net = CASE WHEN $outcome = 'won' THEN pay.seller_net + pay.dispute_seller
                              ELSE pay.seller_net END,
        pay.dispute_lost = CASE WHEN $outcome = 'lost' THEN pay.dispute_amount ELSE 0 END
    CREATE (:Event {id: $event_id, type: 'payment.dispute_' + $outcome, at: $now,
                    actor_id: 'provider', subject_id: pay.id, data: $event_data})
    WITH pay
    """
    + post(
        "$outcome = 'won'",
        "'dispute:' + $dispute_id + ':won'",
        "'dispute_won'",
        "pay.currency",
        "[{owner: 'seller:' + coalesce(pay.payee_id, ''), bucket: 'disputed',"
        " amount: -pay.dispute_seller},"
        " {owner: 'seller:' + coalesce(pay.payee_id, ''), bucket: "
        + HELD
        + ", amount: pay.dispute_seller}]",
        "payment_id: pay.id, subject_id: pay.subject_id",
    )
    + post(
        "$outcome = 'lost'",
        "'dispute:' + $dispute_id + ':lost'",
        "'dispute_lost'",
        "pay.currency",
        "[{owner: 'seller:' + coalesce(pay.payee_id, ''), bucket: 'disputed',"
        " amount: -pay.dispute_seller},"
        " {owner: 'platform', bucket: $platform_bucket, amount: -pay.dispute_fee},"
        " {owner: 'buyers', bucket: 'cards', amount: pay.dispute_amount}]",
        "payment_id: pay.id, subject_id: pay.subject_id",
    )
    + RETURNED,
    write=True,
)


def platform_bucket(payment: dict[str, Any]) -> str:
    return "fees" if payment["purpose"] == "order" else "promotions"


def parts(payment: dict[str, Any], before: int, after: int) -> dict[str, int]:
    """The fee and seller parts of the money between cumulative totals `before` and `after`
    given back of `payment` (a promotion's is all the platform's)."""
    amount = int(payment["amount"])
    if payment["purpose"] != "order":
        return {"fee_part": after - before, "seller_part": 0}
    fee_part, seller_part = share(before, after, amount, int(payment["fee"] or 0))
    return {"fee_part": fee_part, "seller_part": seller_part}


def refunded_params(payment: dict[str, Any], total: int) -> dict[str, Any]:
    before = int(payment["refunded_amount"])
    return {
        "id": payment["id"],
        "before": before,
        "total": total,
        "delta": total - before,
        "platform_bucket": platform_bucket(payment),
        **parts(payment, before, total),
        **event(),
    }


def dispute_params(payment: dict[str, Any], dispute_id: str, amount: int) -> dict[str, Any]:
    before = int(payment["refunded_amount"])
    return {
        "id": payment["id"],
        "dispute_id": dispute_id,
        "amount": amount,
        "before": before,
        "platform_bucket": platform_bucket(payment),
        **parts(payment, before, before + amount),
        **event(),
    }
