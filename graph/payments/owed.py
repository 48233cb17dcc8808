"""What a deal's move owes its payment, decided in the deal's own statement (void an unpaid
one, refund a paid one), and the worker's loop that carries owed provider calls out until
they pass (`PaymentService.settle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from graph.infra.ids import new_id
from graph.payments.ledger import REFUNDABLE

if TYPE_CHECKING:
    from graph.payments.service import PaymentService

log = logging.getLogger("vendr.payments")


async def run_settlements(payments: PaymentService, interval_s: float, stop: asyncio.Event) -> None:
    """The worker's loop: owed provider calls retried until they pass."""
    while not stop.is_set():
        try:
            n = await payments.settle_due()
            if n:
                log.info("payments: %d owed calls settled", n)
        except Exception:
            log.exception("payments settlement round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


def owe_payment(carry: str) -> str:
    """The Cypher a deal's move shares (deal bound as `o`, `carry` kept): what the transition
    owes its payment, decided on the payment in the same statement, with its event. `$payment`
    is `void` or `refund` (the money goes back: a payment not captured is voided, a captured
    one refunded of what is left) or `capture` (an authorised card is charged). A completed
    deal (`$release_at`) has its seller's share released then. `owed_payment` names the payment
    whose call is to be carried out after the statement (null: none)."""
    return (
        "OPTIONAL MATCH (pay:Payment)-[:FOR]->(o)\n"
        f"WITH {carry}, o, pay,\n"
        """     CASE WHEN pay IS NULL THEN null
          WHEN $payment IN ['void', 'refund'] AND pay.status = 'succeeded'
               AND """
        + REFUNDABLE
        + """ > 0 THEN 'refund'
          WHEN $payment IN ['void', 'refund']
               AND pay.status IN ['new', 'pending', 'failed', 'authorized'] THEN 'void'
          WHEN $payment = 'capture' AND pay.status = 'authorized' THEN 'capture'
     END AS owed
FOREACH (_ IN CASE WHEN owed IS NULL THEN [] ELSE [1] END |
  SET pay.status = CASE owed WHEN 'refund' THEN 'refunding' WHEN 'capture' THEN 'capturing'
                             ELSE 'cancelled' END,
      pay.owed = CASE WHEN pay.intent_id IS NULL THEN null ELSE owed END,
      pay.owed_at = CASE WHEN pay.intent_id IS NULL THEN null ELSE $now END,
      pay.owed_attempts = 0, pay.updated_at = $now,
      // what is left of the capture, less partial refunds and what a dispute holds or took
      pay.owed_amount = CASE WHEN owed = 'refund' THEN """
        + REFUNDABLE
        + """ END,
      pay.refund_asked = CASE WHEN owed = 'refund'
                              THEN coalesce(pay.refund_asked, 0) + """
        + REFUNDABLE
        + """
                              ELSE pay.refund_asked END
  CREATE (:Event {id: $payment_event_id, at: $now, actor_id: $actor_id, subject_id: pay.id,
                  type: CASE owed WHEN 'refund' THEN 'payment.refunding'
                                  WHEN 'capture' THEN 'payment.capturing'
                                  ELSE 'payment.cancelled' END,
                  data: '{}'}))
FOREACH (_ IN CASE WHEN pay IS NOT NULL AND $release_at IS NOT NULL
                        AND pay.release_at IS NULL THEN [1] ELSE [] END |
  SET pay.release_at = $release_at)
"""
        f"WITH {carry}, o,\n"
        "     CASE WHEN owed IS NULL OR pay.intent_id IS NULL THEN null ELSE pay.id END"
        " AS owed_payment\n"
    )


def owe_params(payment: str | None, release_at: int | None = None) -> dict[str, Any]:
    """The parameters `owe_payment` reads: its payment's Event is a by-product of the deal's,
    its id a fact of the deal's move (its why is the move itself)."""
    return {"payment": payment, "release_at": release_at, "payment_event_id": new_id()}
