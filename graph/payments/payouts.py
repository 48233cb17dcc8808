"""Seller payouts: a seller's share of an order is `pending` from its capture, `available` once
the order is completed and a hold has passed (`VENDR_PAYOUT_HOLD_SECONDS`), and paid out to the
seller's connected account at the provider (Stripe Connect: a transfer) on a schedule or on
request, once it reaches a minimum. A payout moves the whole available balance of one currency:
`in_transit` while the transfer is asked, `paid` once the provider took it, back to `available`
if the provider refuses it for good.

Every step is one statement with its ledger entry (graph.payments.ledger); the transfer is an
owed call like the payments' (tried at once, retried by the worker with backoff, its key
`payout:ID`), so a payout is never sent twice nor lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from graph.infra.errors import Conflict, NotFound, Unavailable
from graph.infra.ids import event, new_id, now_ms
from graph.infra.store import GraphStore, statement
from graph.payments.ledger import Ledger, post, seller
from graph.payments.port import PaymentError, PaymentProvider, PaymentRefused
from graph.payments.webhooks import Outcome

log = logging.getLogger("vendr.payouts")

BUCKETS = ("pending", "available", "disputed", "in_transit", "paid")

ACCOUNT = statement(
    "payouts.account",
    """
    MATCH (u:User {id: $user_id})
    RETURN u.payout_account_id AS account_id, coalesce(u.payouts_enabled, false) AS enabled
    """,
)

ACCOUNT_OPENED = statement(
    "payouts.account_opened",
    """
    MATCH (u:User {id: $user_id})
    SET u.payout_account_id = coalesce(u.payout_account_id, $account_id),
        u.payouts_enabled = coalesce(u.payouts_enabled, false)
    CREATE (:Event {id: $event_id, type: 'payouts.account_opened', at: $now, actor_id: u.id,
                    subject_id: u.id, data: $event_data})
    RETURN u.payout_account_id AS account_id, u.payouts_enabled AS enabled
    """,
    write=True,
)

ACCOUNT_UPDATED = statement(
    "payouts.account_updated",
    """
    MATCH (u:User {payout_account_id: $account_id})
    WITH u, coalesce(u.payouts_enabled, false) <> $enabled AS changed
    SET u.payouts_enabled = $enabled
    FOREACH (_ IN CASE WHEN changed THEN [1] ELSE [] END |
      CREATE (:Event {id: $event_id, type: 'payouts.account_updated', at: $now,
                      actor_id: 'provider', subject_id: u.id, data: $event_data}))
    RETURN u.id AS user_id, changed
    """,
    write=True,
)

# what may be released: a share whose hold is over, held by no open dispute
_RELEASABLE = """
WHERE pay.release_at <= $now AND pay.released_at IS NULL AND pay.captured_amount > 0
  AND coalesce(pay.dispute_status, '') <> 'open'
"""

# the seller's shares of completed orders whose hold is over
RELEASE_DUE = statement(
    "payouts.release_due",
    "MATCH (pay:Payment)\n"
    + _RELEASABLE
    + """
    RETURN pay.id AS id
    ORDER BY pay.release_at, pay.id
    LIMIT $batch
    """,
)

# those shares (each re-checked) go from pending to available, each with its Event
RELEASE = statement(
    "payouts.release",
    """
    UNWIND $rows AS row
    // (fields taken out of the map first: FalkorDB matches nothing on {id: row.id})
    WITH row.id AS id, row.event_id AS event_id, row.event_data AS event_data
    MATCH (pay:Payment {id: id})
    """
    + _RELEASABLE
    + """
    SET pay.released_at = $now, pay.updated_at = $now
    CREATE (:Event {id: event_id, type: 'payment.released', at: $now, actor_id: 'system',
                    subject_id: pay.id, data: event_data})
    WITH pay
    """
    + post(
        "true",
        "'release:' + pay.id",
        "'release'",
        "pay.currency",
        "[{owner: 'seller:' + pay.payee_id, bucket: 'pending', amount: -pay.seller_net},"
        " {owner: 'seller:' + pay.payee_id, bucket: 'available', amount: pay.seller_net}]",
        "payment_id: pay.id, subject_id: pay.subject_id",
    )
    + """
    RETURN pay.id AS id, pay.payee_id AS seller_id
    """,
    write=True,
)

PAYOUT_FIELDS = """
RETURN po.id AS id, po.seller_id AS seller_id, po.amount AS amount, po.currency AS currency,
       po.status AS status, po.trigger AS trigger, po.account_id AS account_id,
       po.transfer_id AS transfer_id, po.failure AS failure, po.created_at AS created_at,
       po.paid_at AS paid_at, po.owed AS owed, po.owed_attempts AS owed_attempts
"""

# the whole available balance of one currency leaves for the seller's connected account
CREATE = statement(
    "payouts.create",
    """
    MATCH (u:User {id: $user_id})
    WHERE u.status = 'active' AND u.payouts_enabled = true
    MATCH (a:Account {key: $key})
    // write before reading the balance: on Neo4j this takes the account's lock, so two
    // payouts asked at once queue here and the second finds the balance gone
    SET a.payout_checked_at = $now
    WITH u, a
    WHERE a.balance >= $minimum
    CREATE (po:Payout {id: $payout_id, seller_id: u.id, amount: a.balance, currency: a.currency,
                       status: 'in_transit', trigger: $trigger, account_id: u.payout_account_id,
                       owed: 'transfer', owed_at: $now, owed_attempts: 0,
                       created_at: $now, updated_at: $now})
    CREATE (u)-[:PAID_OUT]->(po)
    CREATE (:Event {id: $event_id, type: 'payout.created', at: $now, actor_id: $actor_id,
                    subject_id: po.id, data: $event_data})
    WITH po
    """
    + post(
        "true",
        "'payout:' + po.id",
        "'payout'",
        "po.currency",
        "[{owner: 'seller:' + po.seller_id, bucket: 'available', amount: -po.amount},"
        " {owner: 'seller:' + po.seller_id, bucket: 'in_transit', amount: po.amount}]",
        "payout_id: po.id",
    )
    + "WITH po\n"
    + PAYOUT_FIELDS,
    write=True,
)

# the provider took the transfer (`$transfer_id`), or refused it for good (`$failure`)
SETTLED = statement(
    "payouts.settled",
    """
    MATCH (po:Payout {id: $id})
    SET po.locked_at = $now
    WITH po
    WHERE po.status = 'in_transit' AND po.owed = 'transfer'
    SET po.status = CASE WHEN $failure IS NULL THEN 'paid' ELSE 'failed' END,
        po.transfer_id = $transfer_id, po.failure = $failure, po.owed = null, po.owed_at = null,
        po.paid_at = CASE WHEN $failure IS NULL THEN $now END, po.updated_at = $now
    CREATE (:Event {id: $event_id, type: 'payout.' + po.status, at: $now, actor_id: 'system',
                    subject_id: po.id, data: $event_data})
    WITH po
    """
    + post(
        "true",
        "'payout:' + po.id + ':' + po.status",
        "'payout_' + po.status",
        "po.currency",
        "[{owner: 'seller:' + po.seller_id, bucket: 'in_transit', amount: -po.amount},"
        " {owner: 'seller:' + po.seller_id,"
        "  bucket: CASE WHEN $failure IS NULL THEN 'paid' ELSE 'available' END,"
        "  amount: po.amount}]",
        "payout_id: po.id",
    )
    + "WITH po\n"
    + PAYOUT_FIELDS,
    write=True,
)

RETRY_LATER = statement(
    "payouts.retry_later",
    """
    MATCH (po:Payout {id: $id})
    WHERE po.owed = 'transfer'
    SET po.owed_at = $at, po.owed_attempts = coalesce(po.owed_attempts, 0) + 1,
        po.owed_error = $error
    RETURN po.id AS id
    """,
    write=True,
)

GET = statement(
    "payouts.get",
    """
    MATCH (po:Payout {id: $id})
    WITH po
    """
    + PAYOUT_FIELDS,
)

LIST = statement(
    "payouts.list",
    """
    MATCH (u:User {id: $user_id})-[:PAID_OUT]->(po:Payout)
    WHERE $after_id IS NULL OR po.created_at < $after
          OR (po.created_at = $after AND po.id < $after_id)
    WITH po ORDER BY po.created_at DESC, po.id DESC LIMIT $limit
    """
    + PAYOUT_FIELDS
    + "ORDER BY created_at DESC, id DESC",
)

OWED_DUE = statement(
    "payouts.owed_due",
    """
    MATCH (po:Payout)
    WHERE po.owed_at <= $now
    RETURN po.id AS id
    ORDER BY po.owed_at, po.id
    LIMIT $batch
    """,
)

# sellers who can be paid out and have enough available, for the schedule (a page of them
# after `$after`: sellers never onboarded do not hold the others back)
DUE_ACCOUNTS = statement(
    "payouts.due_accounts",
    """
    MATCH (a:Account)
    WHERE a.bucket = 'available' AND a.balance >= $minimum AND a.key > $after
    MATCH (u:User)
    WHERE u.id = substring(a.owner, 7) AND u.payouts_enabled = true AND u.status = 'active'
    RETURN a.key AS key, u.id AS user_id, a.currency AS currency
    ORDER BY key
    LIMIT $batch
    """,
)

BATCH = 100
RETRY_FIRST_S, RETRY_MAX_S = 5.0, 3600.0


def account_key(user_id: str, bucket: str, currency: str) -> str:
    return f"{seller(user_id)}/{bucket}/{currency}"


class PayoutService:
    def __init__(
        self,
        store: GraphStore,
        provider: PaymentProvider,
        ledger: Ledger,
        *,
        minimum: int,
        hold_seconds: float,
        interval_seconds: float,
        public_url: str,
    ) -> None:
        self._store = store
        self._provider = provider
        self._ledger = ledger
        self.minimum = minimum
        self.hold_seconds = hold_seconds
        self.interval_seconds = interval_seconds
        self._public_url = public_url.rstrip("/")

    # ---- the seller's connected account ---------------------------------------------------

    async def account(self, user_id: str) -> dict[str, Any]:
        rows = await self._store.run(ACCOUNT, {"user_id": user_id})
        if not rows:
            raise NotFound("no such user")
        return {"account_id": rows[0]["account_id"], "payouts_enabled": bool(rows[0]["enabled"])}

    async def onboard(self, user_id: str) -> dict[str, Any]:
        """The seller's connected account (opened once) and a fresh link to the provider's
        onboarding, where they give what it needs to pay them (identity, bank account)."""
        state = await self.account(user_id)
        account_id = state["account_id"]
        if account_id is None:
            try:
                opened = await self._provider.open_account(
                    user_id=user_id, email=None, key=f"user:{user_id}:account"
                )
            except PaymentRefused as exc:
                raise Conflict(f"the provider refused the account: {exc}") from exc
            except PaymentError as exc:
                raise _unavailable(exc) from exc
            rows = await self._store.run(
                ACCOUNT_OPENED,
                {"user_id": user_id, "account_id": opened, **event()},
            )
            account_id = rows[0]["account_id"]
        try:
            url = await self._provider.onboarding_link(
                account_id,
                refresh_url=f"{self._public_url}/v1/users/me/payouts/onboarding",
                return_url=f"{self._public_url}/v1/users/me/balance",
            )
        except PaymentError as exc:
            raise _unavailable(exc) from exc
        return {"account_id": account_id, "payouts_enabled": state["payouts_enabled"], "url": url}

    async def account_updated(self, account_id: str, enabled: bool) -> Outcome:
        """The provider's `account.updated`: whether the seller can be paid out to now."""
        rows = await self._store.run(
            ACCOUNT_UPDATED,
            {"account_id": account_id, "enabled": enabled, **event()},
        )
        if not rows:
            return Outcome("ignored", "no seller of Vendr's has this account")
        return Outcome("applied", f"payouts {'enabled' if enabled else 'disabled'}")

    # ---- balances and payouts -------------------------------------------------------------

    async def balance(self, user_id: str) -> dict[str, Any]:
        """What the seller has, per currency: pending (held until the orders are done and the
        hold has passed), available, disputed (frozen), in transit and paid."""
        found = await self._ledger.balances(seller(user_id))
        state = await self.account(user_id)
        return {
            "balances": [
                {"currency": currency, **{b: buckets.get(b, 0) for b in BUCKETS}}
                for currency, buckets in sorted(found.items())
            ],
            **state,
            "minimum": self.minimum,
            "hold_seconds": self.hold_seconds,
            "schedule_seconds": self.interval_seconds or None,
        }

    async def request(self, user_id: str, currency: str) -> dict[str, Any]:
        """The seller asks for their available balance in `currency` now: 409 when they
        cannot be paid out to yet or it is below the minimum."""
        state = await self.account(user_id)
        if not state["payouts_enabled"]:
            raise Conflict(
                "finish the payout onboarding first (POST /v1/users/me/payouts/onboarding)",
                errors={"account": "not onboarded" if state["account_id"] else "none"},
            )
        payout = await self._create(user_id, currency, "request", user_id)
        if payout is None:
            have = (await self._ledger.balances(seller(user_id))).get(currency, {})
            available = have.get("available", 0)
            raise Conflict(
                f"{available} {currency} is available; payouts start at {self.minimum}",
                errors={"amount": "below the minimum"},
                extra={"available": available, "minimum": self.minimum},
            )
        return await self._send(payout)

    async def _create(
        self, user_id: str, currency: str, trigger: str, actor_id: str
    ) -> dict[str, Any] | None:
        rows = await self._store.run(
            CREATE,
            {
                "user_id": user_id,
                "key": account_key(user_id, "available", currency),
                "minimum": max(1, self.minimum),
                "payout_id": new_id(),
                "trigger": trigger,
                "actor_id": actor_id,
                **event(),
            },
        )
        return rows[0] if rows else None

    async def get(self, payout_id: str) -> dict[str, Any]:
        rows = await self._store.run(GET, {"id": payout_id})
        if not rows:
            raise NotFound("no such payout")
        return rows[0]

    async def list(
        self, user_id: str, cursor: tuple[int, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        after, after_id = cursor if cursor else (None, None)
        return await self._store.run(
            LIST, {"user_id": user_id, "after": after, "after_id": after_id, "limit": limit}
        )

    async def _send(self, payout: dict[str, Any]) -> dict[str, Any]:
        """Ask the provider for the payout's transfer (key `payout:ID`): paid, failed for good
        (the money back to available), or owed and retried later."""
        try:
            transfer_id = await self._provider.transfer(
                amount=int(payout["amount"]),
                currency=payout["currency"],
                account_id=payout["account_id"],
                key=f"payout:{payout['id']}",
                metadata={"vendr_payout_id": payout["id"], "seller_id": payout["seller_id"]},
            )
        except PaymentRefused as exc:
            log.error("payout %s refused for good: %s", payout["id"], exc)
            return await self._settled(payout["id"], None, str(exc)[:300]) or payout
        except PaymentError as exc:
            log.warning("payout %s failed, will retry: %s", payout["id"], exc)
            delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** int(payout["owed_attempts"] or 0))
            await self._store.run(
                RETRY_LATER,
                {
                    "id": payout["id"],
                    "at": now_ms() + int(delay * 1000),
                    "error": str(exc)[:300],
                },
            )
            return await self.get(payout["id"])
        return await self._settled(payout["id"], transfer_id, None) or payout

    async def _settled(
        self, payout_id: str, transfer_id: str | None, failure: str | None
    ) -> dict[str, Any] | None:
        rows = await self._store.run(
            SETTLED,
            {
                "id": payout_id,
                "transfer_id": transfer_id,
                "failure": failure,
                **event(),
            },
        )
        return rows[0] if rows else None

    # ---- the worker's rounds --------------------------------------------------------------

    async def release_due(self, batch: int = BATCH) -> int:
        """Shares of completed orders whose hold is over become available: how many."""
        now = now_ms()
        due = await self._store.run(RELEASE_DUE, {"now": now, "batch": batch})
        if not due:
            return 0
        rows = [{"id": row["id"], "event_id": new_id()} for row in due]
        released = await self._store.run(RELEASE, {"rows": rows, "now": now})
        return len(released)

    async def pay_out_due(self, batch: int = BATCH) -> int:
        """The schedule: every seller who can be paid out with at least the minimum
        available is; how many payouts were made."""
        made, after = 0, ""
        while True:
            rows = await self._store.run(
                DUE_ACCOUNTS, {"minimum": max(1, self.minimum), "after": after, "batch": batch}
            )
            for row in rows:
                payout = await self._create(row["user_id"], row["currency"], "schedule", "system")
                if payout is not None:
                    await self._send(payout)
                    made += 1
            if len(rows) < batch:
                return made
            after = rows[-1]["key"]

    async def settle_due(self, batch: int = BATCH) -> int:
        """Transfers still owed (the provider was unreachable) tried again."""
        settled = 0
        for row in await self._store.run(OWED_DUE, {"now": now_ms(), "batch": batch}):
            payout = await self.get(row["id"])
            if (await self._send(payout))["status"] != "in_transit":
                settled += 1
        return settled


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable(f"the payment provider is unreachable: {exc}; try again")


async def run_payouts(
    payouts: PayoutService, interval_s: float, stop: asyncio.Event, tick_s: float = 5.0
) -> None:
    """The worker's loop: held shares released and owed transfers retried every tick, and
    payouts made on the schedule (every `interval_s`; 0: on request only)."""
    last_schedule = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await payouts.release_due()
            await payouts.settle_due()
            if interval_s > 0 and loop.time() - last_schedule >= interval_s:
                last_schedule = loop.time()
                made = await payouts.pay_out_due()
                if made:
                    log.info("payouts: %d made on the schedule", made)
        except Exception:
            log.exception("payouts round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=tick_s)
