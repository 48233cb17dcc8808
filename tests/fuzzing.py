"""For tests/test_fuzz.py (and `make fuzz`, the same with a larger budget): who the fuzzer
is, and the only reasons the server may give for refusing a request the contract allows.

The contract says everything JSON Schema can say: types, bounds, patterns (tags, handles,
`near`), enums (currencies, plans, providers), one-of bodies, fields that need one another.
What is left depends on the server's state or on tables no schema carries; a refusal of a
schema-valid request must name one of these, field by field, or the check fails.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import httpx
import schemathesis
from schemathesis import Case, CheckContext, Response

PASSWORD = "correct horse battery"
EMAIL = os.environ.get("VENDR_FUZZ_EMAIL", "fuzz@example.org")

# field named in the problem's `errors` → what the server may say about it
SEMANTIC: dict[str, str] = {
    # page cursors are opaque: only the ones the server wrote (for that sort) are valid
    "cursor": r"^(malformed|other sort)$",
    # codes sent by mail or SMS, and a social provider's code
    "code": r"^(expired|wrong|invalid)$",
    # bytes that are not an image of a supported kind, or too many pixels to decode
    "image": r"^(unsupported|corrupt|too large|too many pixels)$",
    # image ids must be the caller's own uploads, a collection's listings the caller's own
    "image_ids": r"^not your upload",
    "product_ids": r"^not your listing",
    # blocking or reporting yourself
    "id": r"^(yourself|your own)$",
    # phone numbers are checked against numbering plans (phonenumbers); the phone channel
    # needs a number, which the path decides
    "phone": r"(not a phone number|^invalid number$|^required$)",
    # the payment provider's signature over the webhook body
    "stripe-signature": r"^not verified$",
    # a price range upside down
    "min_price": r"^above max$",
    "max_price": r"below min_price$",
    # the sign-in a social provider returns to must have been started here
    "state": r"^invalid$",
    # the account signed in at the provider must be the one being linked
    "handle": r"^does not match$",
    # only shops list more than one of a thing
    "quantity": r"^shops only$",
    # sorting by distance needs `near` (OpenAPI cannot tie one query parameter to another)
    "sort": r"^needs near$",
    # words that are all stop words or punctuation
    "q": r"^no words$",
}
# what a schema-valid request may otherwise get: success, or a refusal about state or rights
EXPECTED = re.compile(r"^(2..|3..|401|403|404|409|429)$")

# operations that end the session they run with: each runs as an account of its own
SPENDS_SESSION = {"POST /v1/auth/logout", "POST /v1/auth/password", "DELETE /v1/users/me"}


class Session:
    """Who the fuzzer is: the seeded account (signed in once), or for an operation that ends
    its session, a new account of its own for each call."""

    def __init__(self) -> None:
        self._token: str | None = None

    def headers(self, base: str, operation: str) -> dict[str, str]:
        if operation in SPENDS_SESSION:
            email = f"spent-{uuid.uuid4().hex[:12]}@example.org"
            body = {"email": email, "password": PASSWORD, "display_name": "Spent"}
            token = _token(base, "/v1/auth/signup", body)
        else:
            if self._token is None:
                self._token = _token(base, "/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
            token = self._token
        return {"Authorization": f"Bearer {token}"}


def _token(base: str, path: str, body: dict[str, Any]) -> str:
    response = httpx.post(f"{base}{path}", json=body, timeout=30)
    response.raise_for_status()
    return str(response.json()["token"])


def unexplained(problem: Any) -> dict[str, Any]:
    """The fields of a refusal that no entry of SEMANTIC explains (all of them, when the
    refusal names none)."""
    errors = problem.get("errors") if isinstance(problem, dict) else None
    if not isinstance(errors, dict) or not errors:
        return {"(none named)": problem}
    return {
        field: reason
        for field, reason in errors.items()
        if field not in SEMANTIC or not re.search(SEMANTIC[field], str(reason))
    }


@schemathesis.check
def valid_requests_refused_only_for_state(
    ctx: CheckContext, response: Response, case: Case
) -> bool:
    """Replaces `positive_data_acceptance` (off in schemathesis.toml): the same rule, except
    that a 400/422 naming only reasons from SEMANTIC is the server's business."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    status = str(response.status_code)
    if EXPECTED.match(status):
        return True
    if status in ("400", "422"):
        try:
            problem = response.json()
        except ValueError:
            problem = response.text
        left = unexplained(problem)
        if not left:
            return True
        raise AssertionError(f"a schema-valid request was refused ({status}): {left}")
    raise AssertionError(f"a schema-valid request got {status}")
