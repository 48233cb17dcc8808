"""One-time codes (email and phone verification, password reset) in Redis.

Six digits, stored only as a keyed hash with the attempts left and what the code proves (the
address it was sent to), expiring on their own. Each wrong try uses up one attempt atomically;
after the last one the code is void and checking it is a 429 until it expires or a new code
is sent. Sending is limited twice over: a cool-down between two codes and a
number per hour, both answered with 429 and Retry-After. These limits are the product's rules,
not abuse protection, so they hold even when rate limits are switched off.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from graph.infra.errors import Invalid, RateLimited

# Checking a code: one atomic step that uses up an attempt and says what is left.
_CHECK = """
local stored = redis.call('HGETALL', KEYS[1])
if #stored == 0 then return {0, -1, ''} end
local fields = {}
for i = 1, #stored, 2 do fields[stored[i]] = stored[i + 1] end
if tonumber(fields['left']) <= 0 then return {0, -2, tostring(redis.call('TTL', KEYS[1]))} end
if fields['hash'] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {1, 0, fields['target']}
end
return {0, redis.call('HINCRBY', KEYS[1], 'left', -1), ''}
"""


@dataclass(frozen=True)
class Limits:
    ttl_s: int
    attempts: int
    resend_s: int
    per_hour: int


class Codes:
    def __init__(self, redis: aioredis.Redis, prefix: str, secret: bytes) -> None:
        self._redis = redis
        self._prefix = prefix
        self._secret = secret
        self._check = redis.register_script(_CHECK)

    def _key(self, purpose: str, subject: str) -> str:
        return f"{self._prefix}code:{purpose}:{subject}"

    def _hash(self, purpose: str, subject: str, code: str) -> str:
        message = f"{purpose}:{subject}:{code}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    async def issue(self, purpose: str, subject: str, target: str, limits: Limits) -> str:
        """A new code for `subject` proving `target`; replaces any earlier one. Raises
        RateLimited when one was sent too recently or too often this hour."""
        cool = f"{self._prefix}code-cool:{purpose}:{subject}"
        hourly = f"{self._prefix}code-hour:{purpose}:{subject}"
        if limits.resend_s and not await self._redis.set(cool, "1", nx=True, ex=limits.resend_s):
            wait = max(1, int(await self._redis.ttl(cool)))
            raise RateLimited(f"a code was just sent; ask again in {wait} s", retry_after=wait)
        count = await self._redis.incr(hourly)
        if count == 1:
            await self._redis.expire(hourly, 3600)
        if count > limits.per_hour:
            wait = max(1, int(await self._redis.ttl(hourly)))
            raise RateLimited(
                f"at most {limits.per_hour} codes an hour; ask again in {wait} s",
                retry_after=wait,
            )
        code = f"{secrets.randbelow(1_000_000):06d}"
        key = self._key(purpose, subject)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={
                    "hash": self._hash(purpose, subject, code),
                    "left": limits.attempts,
                    "target": target,
                },
            )
            pipe.expire(key, limits.ttl_s)
            await pipe.execute()
        return code

    async def check(self, purpose: str, subject: str, code: str) -> str:
        """The target the code proves, once. A wrong code is a 422 with the attempts left; an
        expired or used one a 422 asking for a new code; one with no tries left a 429."""
        digest = self._hash(purpose, subject, code.strip())
        ok, left, target = await self._check(keys=[self._key(purpose, subject)], args=[digest])
        if ok == 1:
            return target.decode() if isinstance(target, bytes) else str(target)
        if left == -2:  # the tries are used up: the void code blocks until it expires
            wait = max(1, int(target))
            raise RateLimited(
                "too many wrong codes; ask for a new code or wait for this one to expire",
                retry_after=wait,
            )
        if left < 0:
            raise Invalid(
                "there is no valid code: it expired, was used or had too many wrong tries; "
                "ask for a new one",
                errors={"code": "expired"},
                extra={"attempts_left": 0},
            )
        if left == 0:
            raise Invalid(
                "wrong code, and that was the last try: ask for a new one",
                errors={"code": "wrong"},
                extra={"attempts_left": 0},
            )
        raise Invalid(
            f"wrong code; {left} tries left",
            errors={"code": "wrong"},
            extra={"attempts_left": int(left)},
        )

    async def forget(self, purpose: str, subject: str) -> None:
        await self._redis.delete(self._key(purpose, subject))
