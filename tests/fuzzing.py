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
from urllib.parse import parse_qsl, urlsplit

import httpx
import jsonschema
import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection

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


@schemathesis.check
def invalid_requests_refused(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Replaces `negative_data_rejection` (off in schemathesis.toml): the same rule, except
    that a query generated invalid but valid as sent is rightly served. The built-in check
    reads a query value as a plain string when its schema allows one; an array parameter sent
    comma-separated (`tags`, `explode: false`, beside an empty string in an anyOf) is then
    never valid, and `tags=false`, drawn as the boolean false, is the one tag "false"."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        meta = case.meta
        only_query = meta is not None and not any(
            meta.is_negative_at(where)
            for where in (ParameterLocation.BODY, ParameterLocation.PATH, ParameterLocation.HEADER)
        )
        sent = response.request.url or ""
        if only_query and query_as_sent_is_valid(case.operation.definition.raw, sent):
            return None
        raise


def query_as_sent_is_valid(operation: dict[str, Any], url: str) -> bool:
    """Every query parameter of the request on the wire, read as the server reads it (an
    array comma-separated, an integer as digits), is valid for the operation; an undeclared,
    repeated or missing required one is not judged valid."""
    sent = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    declared = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "query"}
    names = [name for name, _ in sent]
    if len(set(names)) != len(names) or not set(names) <= set(declared):
        return False
    texts = dict(sent)
    for name, parameter in declared.items():
        if name not in texts:
            if parameter.get("required"):
                return False
            continue
        schema = parameter.get("schema", {})
        readings = _readings(texts[name], schema)
        if not any(jsonschema.Draft202012Validator(schema).is_valid(r) for r in readings):
            return False
    return True


def _readings(text: str, schema: dict[str, Any]) -> list[Any]:
    """What the server may read a query value's text as: one reading per type the schema
    allows."""
    out: list[Any] = []
    for branch in _branches(schema):
        kind = branch.get("type")
        if kind == "array":
            out.append(text.split(",") if text else [])
        elif kind == "integer" and re.fullmatch(r"\s*[+-]?\d+\s*", text):
            out.append(int(text))
        elif kind == "number" and re.fullmatch(
            r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", text
        ):
            out.append(float(text))
        elif kind == "boolean" and text in ("true", "false"):
            out.append(text == "true")
        elif kind == "string":
            out.append(text)
    return out


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    nested = schema.get("anyOf") or schema.get("oneOf")
    if not nested:
        return [schema]
    return [b for branch in nested for b in _branches(branch)]
