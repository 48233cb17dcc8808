"""Ending a person's deals when their account is deleted or suspended, through the deal
machine: every open order takes the ORDER table's `cancel` row from where it stands (its units
come back, an unpaid payment is voided, a paid one refunded through the provider), every open
offer the OFFER table's `withdraw` row. Each deal is its own compare-and-set statement with its
Event, room line and outbox record; the other party gets the pushes, the person whose account
ended gets none. `cancelled_by` (and the Event's `reason`) is `deleted` or `suspended`.

Crash safety. The statement that deletes or suspends the account also marks it
(`deals_end_reason`, `deals_end_at`, `deals_end_due_at`), and no deal starts with an account
that is not active. Then the deals are ended page by page, each from the state it is read in,
and the mark is cleared once none is left. Ending a deal twice does nothing (the second
compare-and-set finds it cancelled), so if the process dies in between, the background
worker's deal scheduler, which takes marks as timers once `deals_end_due_at` has passed (a
minute on), finishes the work. Only deals made before the mark are ended: after a
reinstatement, new deals stay. A deleted account's Events are then erased of its personal facts
(graph.accounts.erasure) before the mark is cleared, so a crash there is finished the same way.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from graph.accounts.erasure import erase_events
from graph.deals import OFFER, ORDER, OfferService, OrderService, Why
from graph.infra.ids import now_ms
from graph.infra.store import GraphStore, Statement, statement

log = logging.getLogger("vendr.accounts")

BATCH = 50
GRACE_MS = 60_000  # the worker leaves a fresh mark to the request that made it this long

Kind = Literal["Order", "Offer"]
Side = Literal["buyer", "seller"]
# where a deal can still be ended from, read off the tables
OPEN: dict[Kind, list[str]] = {
    "Order": sorted({t.source for t in ORDER.transitions if t.event == "cancel"}),
    "Offer": sorted({t.source for t in OFFER.transitions if t.event == "withdraw"}),
}


def mark(var: str) -> str:
    """The SET items that mark account `var` (a fixed name of the caller's statement) as
    having deals to end, with the parameters of `mark_params` and `$now`."""
    return (
        f"{var}.deals_end_reason = $deals_end_reason, {var}.deals_end_at = $now, "
        f"{var}.deals_end_due_at = $now + $deals_end_grace_ms"
    )


def mark_params(why: Why) -> dict[str, Any]:
    return {"deals_end_reason": why, "deals_end_grace_ms": GRACE_MS}


MARKED = statement(
    "ending.marked",
    """
    MATCH (u:User {id: $user_id})
    WHERE u.deals_end_at IS NOT NULL
    RETURN u.deals_end_reason AS why, u.deals_end_at AS at
    """,
)


def _open(kind: Kind, side: Side) -> Statement:
    # each side reads its own index (kind and field from these fixed pairs only)
    return statement(
        f"ending.open_{kind.lower()}s_{side}",
        """
        MATCH (u:User {id: $user_id})
        WHERE u.deals_end_at = $at
        MATCH (o:"""
        + kind
        + ") WHERE o."
        + side
        + """_id = $user_id
        WITH o, u
        WHERE o.status IN $open AND o.created_at <= u.deals_end_at
        RETURN o.id AS id, o.status AS status
        LIMIT $batch
        """,
    )


# orders first: they hold stock and money
PAGES: tuple[tuple[Kind, Side], ...] = (
    ("Order", "buyer"),
    ("Order", "seller"),
    ("Offer", "buyer"),
    ("Offer", "seller"),
)
OPEN_DEALS = {page: _open(*page) for page in PAGES}

# the mark that was read, cleared (a newer one stays)
CLEAR = statement(
    "ending.clear",
    """
    MATCH (u:User {id: $user_id})
    WHERE u.deals_end_at = $at
    SET u.deals_end_reason = null, u.deals_end_at = null, u.deals_end_due_at = null
    RETURN u.id AS id
    """,
    write=True,
)

# a deal that would not end: the worker tries again later
POSTPONE = statement(
    "ending.postpone",
    """
    MATCH (u:User {id: $user_id})
    WHERE u.deals_end_at = $at
    SET u.deals_end_due_at = $due_at
    RETURN u.id AS id
    """,
    write=True,
)

DUE = statement(
    "ending.due",
    """
    MATCH (u:User)
    WHERE u.deals_end_due_at <= $now
    RETURN u.id AS id, u.deals_end_reason AS status, 'end' AS event
    ORDER BY u.deals_end_due_at, u.id
    LIMIT $batch
    """,
)


class Ending:
    """Ends the deals of marked accounts; a kind of timer for the deal scheduler too."""

    def __init__(self, store: GraphStore, orders: OrderService, offers: OfferService) -> None:
        self._store = store
        self._orders = orders
        self._offers = offers

    async def after(self, user_id: str) -> None:
        """Right after the statement that marked the account: its deals end now; what fails
        here stays marked, and the worker finishes it."""
        try:
            await self.finish(user_id)
        except Exception:
            log.exception("ending the deals of %s failed: the worker will finish", user_id)

    async def finish(self, user_id: str) -> bool:
        """End every deal the account's mark covers; True when none is left (or no mark)."""
        rows = await self._store.run(MARKED, {"user_id": user_id})
        if not rows:
            return True
        why, at = rows[0]["why"], rows[0]["at"]
        done = True
        for kind, side in PAGES:
            done = await self._end_all(kind, side, user_id, why, at) and done
        if done:
            if why == "deleted":  # the log forgets who they were once their deals are over
                await erase_events(self._store, user_id)
            await self._store.run(CLEAR, {"user_id": user_id, "at": at})
        else:
            due_at = now_ms() + GRACE_MS
            await self._store.run(POSTPONE, {"user_id": user_id, "at": at, "due_at": due_at})
        return done

    async def _end_all(self, kind: Kind, side: Side, user_id: str, why: Why, at: int) -> bool:
        """Page by page until none is left; False when a page would not end at all."""
        params = {"user_id": user_id, "at": at, "open": OPEN[kind], "batch": BATCH}
        while True:
            page = await self._store.run(OPEN_DEALS[kind, side], params)
            if not page:
                return True
            ended = 0
            for row in page:
                if kind == "Order":
                    moved = await self._orders.end(row["id"], row["status"], user_id, side, why)
                else:
                    moved = await self._offers.end(row["id"], user_id, side, why)
                ended += moved
            if not ended:
                log.warning("%s %ss of %s would not end", len(page), kind.lower(), user_id)
                return False

    # ---- the deal scheduler's side (graph.background.timers.Timed) ----------------------

    async def due(self, now: int, batch: int) -> list[dict[str, Any]]:
        return await self._store.run(DUE, {"now": now, "batch": batch})

    async def fire(self, deal_id: str, status: str, name: str) -> bool:
        return await self.finish(deal_id)
