"""For tests/test_fuzz.py (and `make fuzz`, the same with a larger budget): who the fuzzer
is, and how it tells a refusal the contract declares from one it does not.

The contract says everything JSON Schema can say: types, bounds, patterns (tags, handles,
`near`), enums (currencies, plans, providers), one-of bodies, fields that need one another.
What is left depends on the server's state or on tables no schema carries; each operation
declares those refusals under their status (`x-refusals`, api.contract.refusals). A refusal of a
schema-valid request must name only declared ones, field by field, or the check fails.
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


def declared(operation: dict[str, Any], status: int) -> list[dict[str, str]]:
    """The refusals an operation of the document declares under `status`."""
    answer = operation.get("responses", {}).get(str(status), {})
    return list(answer.get("x-refusals", []))


def unexplained(problem: Any, refusals: list[dict[str, str]]) -> dict[str, Any]:
    """The fields of a refusal that no declared refusal explains (all of them, when the
    refusal names none)."""
    errors = problem.get("errors") if isinstance(problem, dict) else None
    if not isinstance(errors, dict) or not errors:
        return {"(none named)": problem}
    return {
        field: reason
        for field, reason in errors.items()
        if not any(r["field"] == field and re.search(r["reason"], str(reason)) for r in refusals)
    }


@schemathesis.check
def valid_requests_refused_only_for_state(
    ctx: CheckContext, response: Response, case: Case
) -> bool:
    """Replaces `positive_data_acceptance` (off in schemathesis.toml): the same rule, except
    that a 400/422 naming only refusals the operation declares under that status is the
    server's business."""
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
        left = unexplained(problem, declared(case.operation.definition.raw, int(status)))
        if not left:
            return True
        raise AssertionError(f"a schema-valid request was refused ({status}): {left}")
    raise AssertionError(f"a schema-valid request got {status}")
