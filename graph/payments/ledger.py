"""The ledger: every money movement as a balanced double entry in the graph, written in the
statement that causes it.

An `Account` is one owner's bucket in one currency (`seller:ID/available/EUR`); a
`LedgerEntry` posts signed amounts to accounts (`(e)-[:POSTS {amount}]->(a)`) that sum to zero,
and each account keeps its balance, moved in the same statement. The accounts:

| owner | bucket | holds |
|---|---|---|
| `buyers` | `cards` | what buyers' cards paid (negative) less what went back to them |
| `platform` | `fees` | the platform's fee on orders |
| `platform` | `promotions` | what sellers paid for promotion |
| `seller:ID` | `pending` | the seller's share of captured orders not yet released |
| `seller:ID` | `available` | released, not yet paid out (negative after a clawback) |
| `seller:ID` | `disputed` | frozen while a card holder disputes a charge |
| `seller:ID` | `in_transit` | a payout asked of the provider, not yet confirmed |
| `seller:ID` | `paid` | paid out to the seller's connected account |

An entry's id derives from its cause (`charge:PAYMENT`, `refund:PAYMENT:TOTAL`,
`release:PAYMENT`, `payout:ID`, `dispute:ID:opened`…), unique in the graph, and the statement
that writes it is a compare-and-set on its cause: no movement is booked twice. The seller's
share of a refund or a dispute is taken from `pending` while the order's money is held and
from `available` once it is released (after a payout, that balance goes negative: the next
earnings pay it back). Balances are per currency; nothing is ever converted.
"""

from __future__ import annotations

from typing import Any, Literal

from graph.infra.store import GraphStore, statement

Bucket = Literal[
    "cards", "fees", "promotions", "pending", "available", "disputed", "in_transit", "paid"
]

# the bucket a seller's held money is in for a payment bound as `pay`
HELD = "CASE WHEN pay.released_at IS NULL THEN 'pending' ELSE 'available' END"

# what is left to give back of a payment bound as `pay`: its capture (all of it for a payment
# older than the ledger) less the refunds asked and what a dispute holds or took
REFUNDABLE = (
    "(coalesce(pay.captured_amount, pay.amount) - coalesce(pay.refund_asked, 0)"
    " - CASE WHEN pay.dispute_status IN ['open', 'lost'] THEN pay.dispute_amount ELSE 0 END)"
)


def post(when: str, entry_id: str, kind: str, currency: str, postings: str, refs: str = "") -> str:
    """Cypher that books one entry when `when` holds: `postings` is a list of maps
    `{owner, bucket, amount}` (a `bucket` of 'held' is the seller's pending or available one,
    `HELD`), zero amounts left out; `refs` adds properties to the entry (`payment_id: pay.id`).
    Every argument is a Cypher expression over the variables in scope."""
    extra = f", {refs}" if refs else ""
    return f"""
FOREACH (_ IN CASE WHEN {when} THEN [1] ELSE [] END |
  CREATE (entry:LedgerEntry {{id: {entry_id}, kind: {kind}, at: $now, currency: {currency}{extra}}})
  FOREACH (p IN [p IN {postings} WHERE p.amount <> 0] |
    MERGE (a:Account {{key: p.owner + '/' + p.bucket + '/' + {currency}}})
      ON CREATE SET a.owner = p.owner, a.bucket = p.bucket, a.currency = {currency},
                    a.balance = 0, a.created_at = $now
    SET a.balance = a.balance + p.amount, a.updated_at = $now
    CREATE (entry)-[:POSTS {{amount: p.amount}}]->(a)))
"""


def fee_of(total: int, amount: int, fee: int) -> int:
    """The platform fee's part of `total` of a payment of `amount` that carried `fee`, so that
    the parts of successive refunds add up to the whole fee exactly."""
    return fee * total // amount if amount else 0


def share(before: int, after: int, amount: int, fee: int) -> tuple[int, int]:
    """(fee part, seller part) of the money between cumulative totals `before` and `after`."""
    fee_part = fee_of(after, amount, fee) - fee_of(before, amount, fee)
    return fee_part, (after - before) - fee_part


def seller(owner_id: str) -> str:
    return f"seller:{owner_id}"


# ---- reading ------------------------------------------------------------------------------

BALANCES = statement(
    "ledger.balances",
    """
    MATCH (a:Account)
    WHERE a.owner = $owner
    RETURN a.currency AS currency, a.bucket AS bucket, a.balance AS balance
    ORDER BY currency, bucket
    """,
)

# ---- the check ----------------------------------------------------------------------------

UNBALANCED = statement(
    "ledger.unbalanced",
    """
    MATCH (e:LedgerEntry)-[p:POSTS]->(:Account)
    WITH e, sum(p.amount) AS total
    WHERE total <> 0
    RETURN e.id AS id, e.kind AS kind, total
    ORDER BY id
    LIMIT $limit
    """,
)

# an account whose balance is not the sum of what was posted to it
DRIFTED = statement(
    "ledger.drifted",
    """
    MATCH (a:Account)
    OPTIONAL MATCH (:LedgerEntry)-[p:POSTS]->(a)
    WITH a, coalesce(sum(p.amount), 0) AS posted
    WHERE posted <> a.balance
    RETURN a.key AS key, a.balance AS balance, posted
    ORDER BY key
    LIMIT $limit
    """,
)

TOTALS = statement(
    "ledger.totals",
    """
    MATCH (a:Account)
    RETURN a.currency AS currency, sum(a.balance) AS total, count(a) AS accounts
    ORDER BY currency
    """,
)

# a payment whose entries with the buyers' account do not add up to what it took: captured,
# less refunds and lost disputes; and its purpose's amount
MISMATCHED = statement(
    "ledger.mismatched",
    """
    MATCH (pay:Payment)
    WHERE pay.captured_amount > 0 OR pay.refunded_amount > 0
    OPTIONAL MATCH (e:LedgerEntry {payment_id: pay.id})-[p:POSTS]->(:Account {owner: 'buyers'})
    WITH pay, coalesce(sum(p.amount), 0) AS booked
    WITH pay, booked, coalesce(pay.captured_amount, 0) - coalesce(pay.refunded_amount, 0)
                      - coalesce(pay.dispute_lost, 0) AS taken
    OPTIONAL MATCH (pay)-[:FOR]->(purpose)
    WITH pay, booked, taken, purpose
    WHERE booked <> -taken OR purpose IS NULL OR purpose.amount <> pay.amount
          OR pay.captured_amount <> pay.amount OR taken < 0
    RETURN pay.id AS payment_id, pay.purpose AS purpose, pay.subject_id AS subject_id,
           taken, -booked AS booked, pay.amount AS amount, purpose.amount AS purpose_amount
    ORDER BY payment_id
    LIMIT $limit
    """,
)

CHECK_LIMIT = 100


class Ledger:
    def __init__(self, store: GraphStore) -> None:
        self._store = store

    async def balances(self, owner: str) -> dict[str, dict[str, int]]:
        """An owner's balances: {currency: {bucket: amount}}."""
        out: dict[str, dict[str, int]] = {}
        for row in await self._store.run(BALANCES, {"owner": owner}):
            out.setdefault(row["currency"], {})[row["bucket"]] = int(row["balance"])
        return out

    async def check(self) -> dict[str, Any]:
        """Every entry balanced, every account's balance the sum of its postings, every
        currency summing to zero, every payment's entries matching what it took. `ok` when
        all hold; otherwise the first offenders of each kind."""
        limit = {"limit": CHECK_LIMIT}
        unbalanced = await self._store.run(UNBALANCED, limit)
        drifted = await self._store.run(DRIFTED, limit)
        totals = await self._store.run(TOTALS, {})
        mismatched = await self._store.run(MISMATCHED, limit)
        currencies = [
            {"currency": t["currency"], "total": int(t["total"]), "accounts": int(t["accounts"])}
            for t in totals
        ]
        ok = (
            not unbalanced
            and not drifted
            and not mismatched
            and all(t["total"] == 0 for t in currencies)
        )
        return {
            "ok": ok,
            "currencies": currencies,
            "unbalanced": unbalanced,
            "drifted": drifted,
            "mismatched": mismatched,
        }
