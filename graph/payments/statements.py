"""The statements the payments service runs (graph.payments.service): a payment opened for its
purpose, read, moved through the PAYMENT table, failed and retried, and the calls owed to the
provider; and the ledger postings of a charge."""

from __future__ import annotations

from typing import Any, Literal

from graph.infra.store import Statement, statement
from graph.payments.ledger import REFUNDABLE, post, seller

PAYMENT_FIELDS = """
RETURN pay.id AS id, pay.key AS key, pay.purpose AS purpose, pay.subject_id AS subject_id,
       pay.status AS status, pay.amount AS amount, pay.currency AS currency,
       pay.provider AS provider, pay.intent_id AS intent_id, pay.payer_id AS payer_id,
       pay.capture AS capture, pay.fee AS fee, pay.payee_id AS payee_id,
       coalesce(pay.captured_amount, 0) AS captured_amount,
       coalesce(pay.refunded_amount, 0) AS refunded_amount,
       coalesce(pay.refund_asked, 0) AS refund_asked,
       pay.dispute_id AS dispute_id, pay.dispute_status AS dispute_status,
       pay.dispute_amount AS dispute_amount, pay.released_at AS released_at,
       pay.owed AS owed, pay.owed_amount AS owed_amount, pay.owed_attempts AS owed_attempts,
       pay.owed_error AS owed_error, pay.refund_id AS refund_id,
       pay.created_at AS created_at, pay.updated_at AS updated_at
"""


def _open(label: Literal["Order", "Promotion"]) -> Statement:
    """Open (or find) the payment of one purpose, its amount read from the purpose itself (the
    label from this fixed pair)."""
    return statement(
        f"payments.open_{label.lower()}",
        "MATCH (s:"
        + label
        + """ {id: $subject_id})
        WHERE s.status = $payable
        MERGE (pay:Payment {key: $key})
          ON CREATE SET pay.id = $payment_id, pay.purpose = $purpose, pay.subject_id = s.id,
                        pay.amount = s.amount, pay.currency = s.currency,
                        pay.payer_id = $payer_id, pay.provider = $provider, pay.status = 'new',
                        pay.capture = $capture, pay.payee_id = $payee_id,
                        pay.fee = (s.amount * $fee_bps) / 10000,
                        pay.captured_amount = 0, pay.refunded_amount = 0, pay.refund_asked = 0,
                        pay.created_at = $now, pay.updated_at = $now
        WITH s, pay, pay.id = $payment_id AS created
        FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END |
          CREATE (pay)-[:FOR]->(s)
          SET s.payment_id = pay.id
          CREATE (:Event {id: $event_id, type: 'payment.created', at: $now,
                          actor_id: $payer_id, subject_id: pay.id, data: $event_data}))
        WITH pay
        """
        + PAYMENT_FIELDS
        + ", pay.client_secret AS client_secret",
        write=True,
    )


OPEN = {"order": _open("Order"), "promotion": _open("Promotion")}

# the provider's intent for a payment (its id and client secret are the provider's answer): a
# cancelled one (its purpose went while the intent was being made) owes a void
INTENT = statement(
    "payments.intent",
    """
    MATCH (pay:Payment {id: $id})
    SET pay.intent_id = coalesce(pay.intent_id, $intent_id),
        pay.client_secret = coalesce(pay.client_secret, $client_secret),
        pay.status = CASE WHEN pay.status = 'new' THEN 'pending' ELSE pay.status END,
        pay.owed = CASE WHEN pay.owed = 'create' THEN null
                        WHEN pay.status = 'cancelled' THEN 'void' ELSE pay.owed END,
        pay.owed_at = CASE WHEN pay.status = 'cancelled' THEN $now
                           WHEN pay.owed = 'create' THEN null ELSE pay.owed_at END,
        pay.updated_at = $now
    CREATE (:Event {id: $event_id, type: 'payment.intent_created', at: $now, actor_id: 'system',
                    subject_id: pay.id, data: $event_data})
    WITH pay
    """
    + PAYMENT_FIELDS,
    write=True,
)

GET = statement(
    "payments.get",
    """
    MATCH (pay:Payment {id: $id})
    WITH pay
    """
    + PAYMENT_FIELDS,
)

BY_INTENT = statement(
    "payments.by_intent",
    """
    MATCH (pay:Payment {intent_id: $intent_id})
    WITH pay
    """
    + PAYMENT_FIELDS,
)

# One move of the PAYMENT table as a compare-and-set, with what it now owes and its event. A
# capture (the move to `succeeded`) books the charge: the buyer's money split between the
# seller's pending balance and the platform (`$postings`, from `charge_postings`).
MOVE = statement(
    "payments.move",
    """
    MATCH (pay:Payment {id: $id})
    SET pay.locked_at = $now
    WITH pay
    WHERE pay.status = $source
    SET pay.status = $target, pay.updated_at = $now,
        pay.authorized_at = CASE WHEN $target = 'authorized' THEN $now
                                 ELSE pay.authorized_at END,
        pay.succeeded_at = CASE WHEN $target = 'succeeded' THEN $now ELSE pay.succeeded_at END,
        pay.captured_amount = CASE WHEN $target = 'succeeded' THEN pay.amount
                                   ELSE pay.captured_amount END,
        pay.seller_net = CASE WHEN $target = 'succeeded' THEN pay.amount - pay.fee
                              ELSE pay.seller_net END,
        pay.refunded_at = CASE WHEN $target = 'refunded' THEN $now ELSE pay.refunded_at END,
        pay.failure = CASE WHEN $target = 'failed' THEN $failure ELSE pay.failure END,
        pay.owed = $owed, pay.owed_at = CASE WHEN $owed IS NULL THEN null ELSE $now END,
        pay.owed_attempts = 0,
        // a refund owed gives back what is left of the capture
        pay.owed_amount = CASE WHEN $owed = 'refund' THEN """
    + REFUNDABLE
    + """ END,
        pay.refund_asked = CASE WHEN $owed = 'refund'
                                THEN coalesce(pay.refund_asked, 0) + """
    + REFUNDABLE
    + """ ELSE pay.refund_asked END
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: $actor_id,
                    subject_id: pay.id, data: $event_data})
    WITH pay
    """
    + post(
        "$target = 'succeeded'",
        "'charge:' + pay.id",
        "'charge'",
        "pay.currency",
        "$postings",
        "payment_id: pay.id, subject_id: pay.subject_id",
    )
    + "WITH pay\n"
    + PAYMENT_FIELDS,
    write=True,
)


def charge_postings(payment: dict[str, Any]) -> list[dict[str, Any]]:
    """The charge's entry: the buyer paid the whole amount; an order's goes to the seller's
    pending balance less the platform's fee, a promotion's to the platform."""
    amount = int(payment["amount"])
    paid = {"owner": "buyers", "bucket": "cards", "amount": -amount}
    if payment["purpose"] != "order":
        return [paid, {"owner": "platform", "bucket": "promotions", "amount": amount}]
    fee = int(payment["fee"] or 0)
    return [
        paid,
        {"owner": seller(payment["payee_id"]), "bucket": "pending", "amount": amount - fee},
        {"owner": "platform", "bucket": "fees", "amount": fee},
    ]


# provider calls refused for good: they wait for an operator (`vendr payments failed|retry`)
FAILED = statement(
    "payments.failed",
    """
    MATCH (pay:Payment)
    WHERE pay.owed IS NOT NULL AND pay.owed_at IS NULL
    WITH pay ORDER BY pay.updated_at DESC, pay.id LIMIT $limit
    """
    + PAYMENT_FIELDS,
)

RETRY = statement(
    "payments.retry",
    """
    MATCH (pay:Payment {id: $id})
    WHERE pay.owed IS NOT NULL
    SET pay.owed_at = $now, pay.owed_attempts = 0
    RETURN pay.id AS id
    """,
    write=True,
)

OWED_DUE = statement(
    "payments.owed_due",
    """
    MATCH (pay:Payment)
    WHERE pay.owed_at <= $now
    RETURN pay.id AS id
    ORDER BY pay.owed_at
    LIMIT $batch
    """,
)

# an owed call carried out (only the one that was owed: a newer decision stays)
OWED_DONE = statement(
    "payments.owed_done",
    """
    MATCH (pay:Payment {id: $id})
    WHERE pay.owed = $owed
      AND ($amount IS NULL OR coalesce(pay.owed_amount, pay.amount) = $amount)
    SET pay.owed = null, pay.owed_at = null, pay.owed_amount = null, pay.owed_error = null,
        pay.updated_at = $now, pay.refund_id = coalesce($refund_id, pay.refund_id)
    CREATE (:Event {id: $event_id, type: $event_type, at: $now, actor_id: 'system',
                    subject_id: pay.id, data: $event_data})
    RETURN pay.id AS id
    """,
    write=True,
)

# a call still owed (or owed from now: a create that did not reach the provider); the
# provider's refusal is a fact (it makes a call owed), when to try again is not
OWED_RETRY = statement(
    "payments.owed_retry",
    """
    MATCH (pay:Payment {id: $id})
    WHERE pay.owed IS NULL OR pay.owed = $owed
    SET pay.owed = $owed, pay.owed_at = $at, pay.owed_attempts = coalesce(pay.owed_attempts, 0) + 1,
        pay.owed_error = $error
    CREATE (:Event {id: $event_id, type: 'payment.call_failed', at: $now, actor_id: 'system',
                    subject_id: pay.id, data: $event_data})
    RETURN pay.id AS id
    """,
    write=True,
)
