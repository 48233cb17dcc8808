"""The local payment provider: the default when no Stripe key is set.

It keeps its payment intents in Redis (so the server, the worker and `vendr payments` share
them), honours idempotency keys as Stripe does (the same key and parameters give the same
answer; the same key with other parameters is refused), and sends its webhooks exactly as
Stripe does: a queued event is signed at each delivery attempt (`t=…,v1=…`, HMAC-SHA256 over
`t.body`) and posted to the server's own `POST /v1/payments/webhook`, retried with backoff
until it is accepted. In development a person completes or fails a payment with
`vendr payments succeed|fail ID` (or the `/v1/dev/payments` route); with Stripe on, neither
exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from typing import Any, cast

import httpx
import redis.asyncio as aioredis

from graph.payments.port import (
    AlreadySucceeded,
    Capture,
    Intent,
    PaymentRefused,
    ProviderEvent,
    parse,
    sign,
    verify,
)

log = logging.getLogger("vendr.payments")

# status from -> to, only if it is still `from` (two racing calls: one wins)
CAS = """
if redis.call('hget', KEYS[1], 'status') == ARGV[1] then
  redis.call('hset', KEYS[1], 'status', ARGV[2])
  return 1
end
return 0
"""

# refund ARGV[1] of a succeeded intent if that much is left: the total refunded so far, or -1
REFUND = """
if redis.call('hget', KEYS[1], 'status') ~= 'succeeded' then return -1 end
local total = tonumber(redis.call('hget', KEYS[1], 'amount_refunded') or '0') + tonumber(ARGV[1])
if total > tonumber(redis.call('hget', KEYS[1], 'amount')) then return -1 end
redis.call('hset', KEYS[1], 'amount_refunded', total)
return total
"""

MAX_DELIVERIES = 12
FIRST_RETRY_S = 5.0


class LocalProvider:
    name = "local"

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        secret: str,
        tolerance: int,
        public_url: str = "http://127.0.0.1:8000",
    ) -> None:
        self._redis = redis
        self._public_url = public_url.rstrip("/")
        self._prefix = f"{prefix}pay:local:"
        self.secret = secret  # the webhook signing secret, shared by every process
        self._tolerance = tolerance
        self._cas = redis.register_script(CAS)
        self._refund = redis.register_script(REFUND)
        self.queue = f"{self._prefix}webhooks"  # events ready to post
        self._later = f"{self._prefix}webhooks:later"  # (event, attempts) by next attempt time

    # ---- the port ------------------------------------------------------------------------

    async def create(
        self,
        *,
        amount: int,
        currency: str,
        key: str,
        metadata: dict[str, str],
        capture: Capture = "automatic",
    ) -> Intent:
        request = {
            "op": "create",
            "amount": amount,
            "currency": currency,
            "metadata": metadata,
            "capture": capture,
        }
        intent_id = "pi_local_" + secrets.token_hex(12)
        response = {
            "id": intent_id,
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "status": "requires_payment_method",
        }
        stored = await self._once(key, request, response)
        if stored == response:
            await self._redis.hset(
                self._intent(intent_id),
                mapping={
                    "amount": amount,
                    "currency": currency,
                    "status": "requires_payment_method",
                    "metadata": json.dumps(metadata),
                    "created": int(time.time()),
                    "capture": capture,
                    "amount_refunded": 0,
                },
            )
        return Intent(stored["id"], stored["client_secret"], stored["status"])

    async def capture(self, intent_id: str, *, key: str) -> None:
        intent = await self._get(intent_id)
        await self._once(key, {"op": "capture", "intent": intent_id}, {"id": intent_id})
        if await self._cas(keys=[self._intent(intent_id)], args=["requires_capture", "succeeded"]):
            await self.emit("payment_intent.succeeded", self._intent_object(intent_id, intent))
            return
        status = await self._redis.hget(self._intent(intent_id), "status")
        if status != b"succeeded":  # succeeded: a retried capture
            raise PaymentRefused(
                f"payment intent {intent_id} is {intent['status']}, not authorised"
            )

    async def cancel(self, intent_id: str, *, key: str) -> None:
        intent = await self._get(intent_id)
        await self._once(key, {"op": "cancel", "intent": intent_id}, {"id": intent_id})
        for status in ("requires_payment_method", "requires_capture"):
            if await self._cas(keys=[self._intent(intent_id)], args=[status, "canceled"]):
                obj = self._intent_object(intent_id, intent) | {"amount_received": 0}
                await self.emit("payment_intent.canceled", obj)
                return
        now = await self._redis.hget(self._intent(intent_id), "status")
        if now == b"succeeded":
            raise AlreadySucceeded(f"payment intent {intent_id} has already succeeded")
        # already cancelled: a retried void

    async def refund(self, intent_id: str, *, amount: int, key: str) -> str:
        intent = await self._get(intent_id)
        refund_id = "re_local_" + secrets.token_hex(12)
        request = {"op": "refund", "intent": intent_id, "amount": amount}
        stored = await self._once(key, request, {"id": refund_id})
        if stored["id"] != refund_id:
            return str(stored["id"])  # the same refund asked again: the first answer
        total = int(await self._refund(keys=[self._intent(intent_id)], args=[amount]))
        if total < 0:
            raise PaymentRefused(
                f"payment intent {intent_id} is {intent['status']}: "
                f"{amount} cannot be refunded of it"
            )
        await self.emit("charge.refunded", self._charge(intent_id, intent, total))
        return refund_id

    # ---- connected accounts and transfers (seller payouts) ----------------------------------

    async def open_account(self, *, user_id: str, email: str | None, key: str) -> str:
        account_id = "acct_local_" + secrets.token_hex(8)
        stored = await self._once(key, {"op": "account", "user": user_id}, {"id": account_id})
        if stored["id"] == account_id:
            await self._redis.hset(
                self._account(account_id),
                mapping={"user_id": user_id, "payouts_enabled": 0, "created": int(time.time())},
            )
        return str(stored["id"])

    async def onboarding_link(self, account_id: str, *, refresh_url: str, return_url: str) -> str:
        if not await self._redis.exists(self._account(account_id)):
            raise PaymentRefused(f"no such connected account: {account_id}")
        # the development "onboarding form": POST it (or `vendr payments onboard`) to finish
        return f"{self._public_url}/v1/dev/payouts/accounts/{account_id}/onboard"

    async def transfer(
        self, *, amount: int, currency: str, account_id: str, key: str, metadata: dict[str, str]
    ) -> str:
        transfer_id = "tr_local_" + secrets.token_hex(12)
        request = {"op": "transfer", "amount": amount, "currency": currency, "to": account_id}
        stored = await self._once(key, request, {"id": transfer_id})
        if stored["id"] != transfer_id:
            return str(stored["id"])
        account = await self._redis.hgetall(self._account(account_id))
        if not account or account.get(b"payouts_enabled") != b"1":
            raise PaymentRefused(f"connected account {account_id} cannot receive transfers")
        await self._redis.hincrby(self._account(account_id), f"balance:{currency}", amount)
        return transfer_id

    async def account_balance(self, account_id: str, currency: str) -> int:
        """What has been transferred to a connected account (development, tests)."""
        raw = await self._redis.hget(self._account(account_id), f"balance:{currency}")
        return int(raw or 0)

    def event(self, body: bytes, header: str | None) -> ProviderEvent:
        return parse(verify(body, header, self.secret, self._tolerance))

    async def aclose(self) -> None:
        """Nothing of its own to close: it borrows the services' Redis."""

    # ---- the person at the card terminal, the dashboard, the bank (development) ----------

    async def complete(self, intent_id: str, *, succeed: bool) -> str:
        """The customer pays (or their card is declined): the intent's new status. A manual
        capture intent is authorised (`requires_capture`) and waits for its capture."""
        intent = await self._get(intent_id)
        if succeed:
            manual = intent.get("capture") == "manual"
            target = "requires_capture" if manual else "succeeded"
            if not await self._cas(
                keys=[self._intent(intent_id)], args=["requires_payment_method", target]
            ):
                raise PaymentRefused(f"payment intent {intent_id} is {intent['status']}")
            obj = self._intent_object(intent_id, intent)
            if manual:
                obj |= {"amount_capturable": obj["amount"], "amount_received": 0}
                await self.emit("payment_intent.amount_capturable_updated", obj)
            else:
                await self.emit("payment_intent.succeeded", obj)
            return target
        if intent["status"] != "requires_payment_method":
            raise PaymentRefused(f"payment intent {intent_id} is {intent['status']}")
        obj = self._intent_object(intent_id, intent) | {
            "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}
        }
        await self.emit("payment_intent.payment_failed", obj)
        return "requires_payment_method"

    async def expire(self, intent_id: str) -> None:
        """The card's authorisation lapses before it was captured: the intent is cancelled."""
        intent = await self._get(intent_id)
        if not await self._cas(
            keys=[self._intent(intent_id)], args=["requires_capture", "canceled"]
        ):
            raise PaymentRefused(f"payment intent {intent_id} is {intent['status']}")
        obj = self._intent_object(intent_id, intent) | {
            "amount_received": 0,
            "cancellation_reason": "automatic",
        }
        await self.emit("payment_intent.canceled", obj)

    async def dashboard_refund(self, intent_id: str, amount: int) -> str:
        """A refund made at the provider (its dashboard), not asked by Vendr."""
        return await self.refund(intent_id, amount=amount, key=f"dashboard:{secrets.token_hex(8)}")

    async def dispute(self, intent_id: str, amount: int) -> str:
        """The card holder disputes `amount` of a paid intent with their bank: the dispute id."""
        intent = await self._get(intent_id)
        if intent["status"] != "succeeded" or not 0 < amount <= int(intent["amount"]):
            raise PaymentRefused(f"payment intent {intent_id} cannot be disputed for {amount}")
        dispute_id = "dp_local_" + secrets.token_hex(12)
        obj = {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "currency": intent["currency"].lower(),
            "payment_intent": intent_id,
            "charge": "ch_local_" + intent_id.removeprefix("pi_local_"),
            "status": "needs_response",
        }
        await self._redis.set(f"{self._prefix}dp:{dispute_id}", json.dumps(obj), ex=90 * 86400)
        await self.emit("charge.dispute.created", obj)
        return dispute_id

    async def close_dispute(self, dispute_id: str, *, won: bool) -> None:
        """The bank decides the dispute, for the seller (won) or the card holder (lost)."""
        raw = await self._redis.get(f"{self._prefix}dp:{dispute_id}")
        if raw is None:
            raise PaymentRefused(f"no such dispute: {dispute_id}")
        obj = json.loads(raw) | {"status": "won" if won else "lost"}
        await self.emit("charge.dispute.closed", obj)

    async def finish_onboarding(self, account_id: str) -> None:
        """The seller completes the onboarding form: the account can be paid out to."""
        account = await self._redis.hgetall(self._account(account_id))
        if not account:
            raise PaymentRefused(f"no such connected account: {account_id}")
        await self._redis.hset(self._account(account_id), "payouts_enabled", 1)
        obj = {
            "id": account_id,
            "object": "account",
            "payouts_enabled": True,
            "charges_enabled": True,
            "details_submitted": True,
            "metadata": {"vendr_user_id": cast(bytes, account[b"user_id"]).decode()},
        }
        await self.emit("account.updated", obj)

    # ---- webhooks --------------------------------------------------------------------------

    async def emit(self, kind: str, obj: dict[str, Any]) -> None:
        event = {
            "id": "evt_local_" + secrets.token_hex(12),
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
        await self._redis.rpush(self.queue, json.dumps({"body": json.dumps(event), "attempts": 0}))

    def signed(self, body: str) -> tuple[bytes, dict[str, str]]:
        """A delivery attempt: the body and its headers, signed now."""
        raw = body.encode()
        return raw, {"content-type": "application/json", "stripe-signature": sign(raw, self.secret)}

    async def take(self) -> list[str]:
        """Every event waiting to be delivered, removed from the queue (tests deliver them
        through the app themselves; the worker posts them)."""
        bodies = []
        while raw := await self._redis.lpop(self.queue):
            bodies.append(json.loads(cast(bytes, raw))["body"])
        return bodies

    async def deliver(self, client: httpx.AsyncClient, url: str, wait_s: float = 0.0) -> int:
        """Post what is queued (and retries now due) to `url`; failures are retried later with
        backoff. Waits up to `wait_s` for the first event. The number delivered."""
        now = time.time()
        for due in await self._redis.zrangebyscore(self._later, 0, now):
            if await self._redis.zrem(self._later, cast(bytes, due)):
                await self._redis.rpush(self.queue, cast(bytes, due))
        delivered = 0
        first = True
        while True:
            raw: bytes | None
            if first and wait_s > 0:
                popped = await self._redis.blpop([self.queue], timeout=wait_s)
                raw = cast(bytes, popped[1]) if popped else None
            else:
                raw = cast(bytes | None, await self._redis.lpop(self.queue))
            first = False
            if raw is None:
                return delivered
            item = json.loads(raw)
            body, headers = self.signed(item["body"])
            try:
                response = await client.post(url, content=body, headers=headers)
                ok = response.status_code < 300
            except httpx.HTTPError as exc:
                log.warning("webhook delivery to %s failed: %s", url, exc)
                ok = False
            if ok:
                delivered += 1
                continue
            item["attempts"] += 1
            if item["attempts"] >= MAX_DELIVERIES:
                log.error("webhook %s dropped after %d attempts", item["body"][:80], MAX_DELIVERIES)
                continue
            at = time.time() + FIRST_RETRY_S * 2 ** (item["attempts"] - 1)
            await self._redis.zadd(self._later, {json.dumps(item): at})

    # ---- inside ----------------------------------------------------------------------------

    def _intent(self, intent_id: str) -> str:
        return f"{self._prefix}pi:{intent_id}"

    def _account(self, account_id: str) -> str:
        return f"{self._prefix}acct:{account_id}"

    @staticmethod
    def _charge(intent_id: str, intent: dict[str, str], refunded: int) -> dict[str, Any]:
        amount = int(intent["amount"])
        return {
            "id": "ch_local_" + intent_id.removeprefix("pi_local_"),
            "object": "charge",
            "payment_intent": intent_id,
            "amount": amount,
            "amount_refunded": refunded,
            "currency": intent["currency"].lower(),
            "refunded": refunded == amount,
        }

    async def _get(self, intent_id: str) -> dict[str, str]:
        raw = await self._redis.hgetall(self._intent(intent_id))
        if not raw:
            raise PaymentRefused(f"no such payment intent: {intent_id}")
        return {cast(bytes, k).decode(): cast(bytes, v).decode() for k, v in raw.items()}

    @staticmethod
    def _intent_object(intent_id: str, intent: dict[str, str]) -> dict[str, Any]:
        return {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(intent["amount"]),
            "amount_received": int(intent["amount"]),
            "currency": intent["currency"].lower(),
            "metadata": json.loads(intent["metadata"]),
        }

    async def _once(
        self, key: str, request: dict[str, Any], response: dict[str, Any]
    ) -> dict[str, Any]:
        """Idempotency: the first answer given for `key` (this one if it is the first); the
        same key with other parameters is refused, as Stripe does."""
        slot = f"{self._prefix}idem:{key}"
        entry = json.dumps({"request": request, "response": response}, sort_keys=True)
        if await self._redis.set(slot, entry, nx=True, ex=7 * 86400):
            return response
        stored = json.loads(await self._redis.get(slot) or "{}")
        if stored.get("request") != json.loads(json.dumps(request, sort_keys=True)):
            raise PaymentRefused(f"idempotency key {key} was used with other parameters")
        return dict(stored["response"])


async def run_deliveries(
    provider: LocalProvider, url: str, stop: asyncio.Event, wait_s: float = 2.0
) -> None:
    """The worker's loop: post the local provider's webhooks as they are queued."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        while not stop.is_set():
            try:
                await provider.deliver(client, url, wait_s=wait_s)
            except Exception:
                log.exception("webhook delivery round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait_s)
