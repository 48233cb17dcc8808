"""One-time codes (email and phone verification, password reset) in Redis.

Six digits, stored only as a keyed hash with what the code proves, expiring on their own. An
identity (an account, the email a reset is for) holds one live code per requester that asked
for one: the client address for a reset, the account itself for a verification. Asking again
replaces the asker's own code and no other, so a stranger asking cannot void the code the
owner is about to type.

Each code takes `attempts` wrong tries from its asker and as many again from everyone else
together; a try is checked against every live code of the identity with budget left for the
caller, and a wrong one spends one try of each. Past its budget a code is no longer checked for
that caller, so strangers' guesses are bounded per code (and so per identity, with the sends
limited) and can never spend what the owner, trying from where they asked, may try: a code the
owner asks for works there whatever others guess. Sending is limited per identity and
requester (a cool-down and a number per hour), so others asking do not spend the owner's, and
per identity from every requester (a number per hour, which bounds the guesses an identity can
draw); each answered with 429 and Retry-After. These limits are the product's rules, not abuse
protection, so they hold even when rate limits are switched off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from graph.infra.errors import Invalid, RateLimited

# A code of `asker` for the identity KEYS[1] (a hash: asker -> the code as JSON); the key
# lives as long as its longest-lived code.
_ISSUE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# A try by ARGV[2] (the keyed hash ARGV[1], at ARGV[3] ms) against every live code of the
# identity with budget left for that caller: {1, target} when one matches (every code of the
# identity is used up with it), else {0, the most tries the caller has left on a code it was
# checked against, or -1 when there was none}.
_CHECK = """
local codes = redis.call('HGETALL', KEYS[1])
local now = tonumber(ARGV[3])
local left = -1
for i = 1, #codes, 2 do
  local asker, code = codes[i], cjson.decode(codes[i + 1])
  if code.expires <= now then
    redis.call('HDEL', KEYS[1], asker)
  else
    local budget = 'others'
    if asker == ARGV[2] then budget = 'own' end
    if code[budget] > 0 then
      if code.hash == ARGV[1] then
        redis.call('DEL', KEYS[1])
        return {1, code.target}
      end
      code[budget] = code[budget] - 1
      redis.call('HSET', KEYS[1], asker, cjson.encode(code))
      if code[budget] > left then left = code[budget] end
    end
  end
end
return {0, left}
"""


@dataclass(frozen=True)
class Limits:
    ttl_s: int
    attempts: int  # wrong tries a code takes from its asker, and as many from everyone else
    resend_s: int  # between two codes for one identity and requester
    per_hour: int  # codes an hour for one identity and requester
    per_hour_all: int  # codes an hour for one identity, whoever asks


@dataclass(frozen=True)
class Checked:
    """What a try found: the target the code proves when it was right; else how many tries
    the caller has left on a code it was checked against (-1: none was, e.g. no code, an
    expired or used one, or one whose tries for this caller are spent)."""

    target: str | None
    left: int = -1

    def refusal(self) -> Invalid:
        """What to tell a caller who may know the state of their codes (the account verifying
        its own email or phone): wrong with the tries left, or ask for a new code."""
        if self.left < 0:
            return Invalid(
                "there is no valid code: it expired, was used or had too many wrong tries; "
                "ask for a new one",
                errors={"code": "expired"},
                extra={"attempts_left": 0},
            )
        if self.left == 0:
            return Invalid(
                "wrong code, and that was the last try: ask for a new one",
                errors={"code": "wrong"},
                extra={"attempts_left": 0},
            )
        return Invalid(
            f"wrong code; {self.left} tries left",
            errors={"code": "wrong"},
            extra={"attempts_left": self.left},
        )


def refused_alike() -> Invalid:
    """The one answer to a code that did not work, whatever the reason (wrong, expired, used,
    its tries spent, or no such identity): for callers who must learn nothing more, such as
    whether an email has an account."""
    return Invalid(
        "the code is not right or no longer valid: check it, or ask for a new one",
        errors={"code": "invalid"},
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


class Codes:
    def __init__(self, redis: aioredis.Redis, prefix: str, secret: bytes) -> None:
        self._redis = redis
        self._prefix = prefix
        self._secret = secret
        self._issue = redis.register_script(_ISSUE)
        self._check = redis.register_script(_CHECK)

    def _key(self, purpose: str, subject: str) -> str:
        # `codes:`, not the `code:` of the one-code-per-identity format before it (a hash of
        # other fields), which is left to expire
        return f"{self._prefix}codes:{purpose}:{subject}"

    def _asker_key(self, kind: str, purpose: str, subject: str, requester: str) -> str:
        # hashed: an email and an address may both hold `:`, so joined they could be read two ways
        pair = hashlib.sha256(f"{subject}\0{requester}".encode()).hexdigest()[:32]
        return f"{self._prefix}{kind}:{purpose}:{pair}"

    def _hash(self, purpose: str, subject: str, code: str) -> str:
        message = f"{purpose}:{subject}:{code}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    async def issue(
        self, purpose: str, subject: str, target: str, limits: Limits, *, requester: str
    ) -> str:
        """A new code for `subject` proving `target`, asked for by `requester`; replaces that
        requester's earlier code, no other. Raises RateLimited when the requester had one sent
        too recently or too often this hour, or the subject too often this hour."""
        cool = self._asker_key("code-cool", purpose, subject, requester)
        if limits.resend_s and not await self._redis.set(cool, "1", nx=True, ex=limits.resend_s):
            wait = max(1, int(await self._redis.ttl(cool)))
            raise RateLimited(f"a code was just sent; ask again in {wait} s", retry_after=wait)
        await self._count(
            self._asker_key("code-hour", purpose, subject, requester), limits.per_hour
        )
        await self._count(f"{self._prefix}code-hour-all:{purpose}:{subject}", limits.per_hour_all)
        code = f"{secrets.randbelow(1_000_000):06d}"
        stored = {
            "hash": self._hash(purpose, subject, code),
            "target": target,
            "own": limits.attempts,
            "others": limits.attempts,
            "expires": _now_ms() + limits.ttl_s * 1000,
        }
        await self._issue(
            keys=[self._key(purpose, subject)],
            args=[requester, json.dumps(stored), limits.ttl_s * 1000],
        )
        return code

    async def _count(self, key: str, per_hour: int) -> None:
        count = await self._redis.incr(key)
        if count == 1:
            await self._redis.expire(key, 3600)
        if count > per_hour:
            wait = max(1, int(await self._redis.ttl(key)))
            raise RateLimited(
                f"at most {per_hour} codes an hour; ask again in {wait} s", retry_after=wait
            )

    async def check(self, purpose: str, subject: str, code: str, *, requester: str) -> Checked:
        """Try `code` for `subject` as `requester`: right at most once. One script either way,
        so a subject with no code at all is answered as fast as one with a wrong code."""
        digest = self._hash(purpose, subject, code.strip())
        ok, found = await self._check(
            keys=[self._key(purpose, subject)], args=[digest, requester, _now_ms()]
        )
        if ok == 1:
            return Checked(found.decode() if isinstance(found, bytes) else str(found))
        return Checked(None, int(found))

    async def forget(self, purpose: str, subject: str) -> None:
        await self._redis.delete(self._key(purpose, subject))
