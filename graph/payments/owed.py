"""What a deal's move owes its payment, decided in the deal's own statement (void an unpaid
one, refund a paid one), and the worker's loop that carries owed provider calls out until
they pass (`PaymentService.settle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from graph.infra.ids import event

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
    owes its payment (`$payment`: void an unpaid one, refund a paid one) is decided on the
    payment in the same statement, with its event; `owed_payment` names the payment whose call
    is to be carried out after the statement (null: none)."""
    return (
        "OPTIONAL MATCH (pay:Payment)-[:FOR]->(o)\n"
        f"WITH {carry}, o, pay,\n"
        """     CASE WHEN $payment = 'refund' AND pay.status = 'succeeded' THEN 'refund'
          WHEN $payment = 'void' AND pay.status IN ['new', 'pending', 'failed'] THEN 'void'
     END AS owed
FOREACH (_ IN CASE WHEN owed IS NULL THEN [] ELSE [1] END |
  SET pay.status = CASE WHEN owed = 'refund' THEN 'refunding' ELSE 'cancelled' END,
      pay.owed = CASE WHEN pay.intent_id IS NULL THEN null ELSE owed END,
      pay.owed_at = CASE WHEN pay.intent_id IS NULL THEN null ELSE $now END,
      pay.owed_attempts = 0, pay.updated_at = $now
  CREATE (:Event {id: $payment_event_id, at: $now, actor_id: $actor_id, subject_id: pay.id,
                  type: CASE WHEN owed = 'refund' THEN 'payment.refunding'
                             ELSE 'payment.cancelled' END,
                  data: $payment_event_data}))
"""
        f"WITH {carry}, o,\n"
        "     CASE WHEN owed IS NULL OR pay.intent_id IS NULL THEN null ELSE pay.id END"
        " AS owed_payment\n"
    )


def owe_params(payment: str | None, reason: str) -> dict[str, Any]:
    """The parameters `owe_payment` reads."""
    ev = event({"reason": reason})
    return {
        "payment": payment,
        "payment_event_id": ev["event_id"],
        "payment_event_data": ev["event_data"],
    }
