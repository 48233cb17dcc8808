"""The event log's schemas: what each state-changing statement records, so the log can rebuild
the graph (`vendr events replay`).

Every write statement is either a *source* or declared not to be one (`NOT_SOURCED`, with the
reason: derived values the sweeper recomputes, operational bookkeeping, or a by-product of a
source). A source statement appends one Event, in the same statement, whose `data` holds the
statement's facts: every parameter it was run with except the event's own id and time, which are
the Event's `id` and `at`, and except secrets. Replaying the Event runs the same statement with
the same facts, so the graph it rebuilds is the graph that was, by construction; the facts'
shape is declared here per statement (a pydantic model, `type`, `version`), checked against the
statement's parameters by a test, and upcast from older versions before a replay applies it.

Events a source statement makes beside its own (an order's payment, a room an offer opens) are
by-products: their ids are facts of the source, so replay makes them again, and they carry no
facts of their own.

`data` on the Event is JSON: `{"via": STATEMENT, "version": N, "facts": {...}}` for a source
event, a small object of its own for a by-product.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

# parameters every evented statement takes that are the Event itself, never facts
PLUMBING = frozenset({"event_id", "now", "event_data"})


class Facts(BaseModel):
    """A statement's facts: its parameters by name. Unknown names are refused, so a statement
    that gains a parameter without a schema change fails its schema test, not a replay."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Source:
    statement: str
    type: str  # the Event's type ('product.created'), or the first of several (see `types`)
    version: int
    model: builtins.type[Facts]
    # parameters never copied into the log; replay runs the statement with None for them
    secret: frozenset[str] = frozenset()
    # facts about a person that their account's deletion erases from their events: what the
    # deletion takes out of the graph, so an erased log still replays to the same graph
    personal: frozenset[str] = frozenset()
    # an UNWIND statement's list parameter: each row appends its own Event (with the row's own
    # `event_id` and `event_data`), whose facts are the shared parameters and that one row
    rows: str | None = None
    # the by-product Events it appends, by type (documentation and the by-product check)
    by_products: tuple[str, ...] = ()


SOURCES: dict[str, Source] = {}

# write statements that are not sources, and why: "derived: ..." (recomputed from facts by the
# sweeper), "operational: ..." (delivery, retries, claims: state of the machinery, not the
# marketplace), "cache: ..."
NOT_SOURCED: dict[str, str] = {}

# (statement, from_version) -> a function from those facts to the next version's
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}

# what the fidelity dump leaves out: properties the sweeper derives from facts ("Label.prop"),
# and labels whose nodes are machinery (delivery queues, claims) rather than the marketplace
DERIVED_PROPERTIES: set[str] = set()
OPERATIONAL_LABELS: set[str] = {"Event"}
# what the volume events (views, passes, room reads, logins) leave in the graph: facts a replay
# after the retention purge (graph.background.jobs) rebuilds for the window kept only
ACTIVITY_RELATIONSHIPS: set[str] = {"VIEWED", "PASSED"}
ACTIVITY_PROPERTIES: set[str] = {
    "User.last_login_at",
    "MEMBER.last_read_at",
    "MEMBER.unread",
}


def source(
    statement: str,
    type: str,
    model: builtins.type[Facts],
    *,
    version: int = 1,
    secret: tuple[str, ...] = (),
    personal: tuple[str, ...] = (),
    rows: str | None = None,
    by_products: tuple[str, ...] = (),
) -> None:
    if statement in SOURCES or statement in NOT_SOURCED:
        raise ValueError(f"statement {statement!r} declared twice")
    SOURCES[statement] = Source(
        statement,
        type,
        version,
        model,
        frozenset(secret),
        frozenset(personal),
        rows,
        tuple(by_products),
    )


def not_sourced(statement: str, why: str) -> None:
    if statement in SOURCES or statement in NOT_SOURCED:
        raise ValueError(f"statement {statement!r} declared twice")
    if why.split(":", 1)[0] not in {"derived", "operational", "cache", "by-product"}:
        raise ValueError(f"{statement}: say why it is not a source (derived|operational|...)")
    NOT_SOURCED[statement] = why


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "latitude") and hasattr(value, "longitude"):
        return {"latitude": value.latitude, "longitude": value.longitude}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not a fact the log can hold")


def _facts(src: Source, params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in params.items()
        if k not in PLUMBING and k not in src.secret and k != src.rows
    }


def _row_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in PLUMBING}


def with_facts(statement: str, params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The parameters a source statement runs with: its Event's `data` (or each row's) made
    from the facts. Other statements' parameters are returned as they are."""
    src = SOURCES.get(statement)
    if src is None or params is None:
        return params
    facts = _facts(src, params)
    if src.rows is None:
        return {
            **params,
            "event_data": _dumps({"via": statement, "version": src.version, "facts": facts}),
        }
    rows = [
        {
            **row,
            "event_data": _dumps(
                {
                    "via": statement,
                    "version": src.version,
                    "facts": facts | {src.rows: [_row_facts(row)]},
                }
            ),
        }
        for row in params[src.rows]
    ]
    return {**params, src.rows: rows}


def parse(data: Any) -> tuple[str, int, dict[str, Any]] | None:
    """(statement, version, facts) of a source Event's `data`, or None for a by-product or an
    event written before the log held facts."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, dict) or "via" not in data or "facts" not in data:
        return None
    return str(data["via"]), int(data.get("version", 1)), dict(data["facts"])


def upcast(statement: str, version: int, facts: dict[str, Any]) -> dict[str, Any]:
    """The facts at the statement's current version, validated against its schema."""
    src = SOURCES.get(statement)
    if src is None:
        raise KeyError(f"no statement {statement!r} records events (an event from a newer Vendr?)")
    if version > src.version:
        raise ValueError(f"{statement} v{version} is newer than this Vendr's v{src.version}")
    while version < src.version:
        step = UPCASTERS.get((statement, version))
        if step is None:
            raise ValueError(f"no upcaster for {statement} v{version}")
        facts = step(facts)
        version += 1
    src.model.model_validate(facts)
    return facts


def replay_params(src: Source, event_id: str, at: int, facts: dict[str, Any]) -> dict[str, Any]:
    """The parameters that re-run a source statement for one of its Events (its `event_data`
    is made again from them by `with_facts`, as the first time)."""
    params = {**facts, "event_id": event_id, "now": at}
    for name in src.secret:
        params[name] = None
    if src.rows is not None:
        params[src.rows] = [{**row, "event_id": event_id} for row in facts[src.rows]]
    return params


def erase(data: Any) -> str | None:
    """A source Event's `data` with the personal facts it holds replaced by None (an account's
    deletion), or None when it holds none."""
    parsed = parse(data)
    if parsed is None:
        return None
    via, version, facts = parsed
    src = SOURCES.get(via)
    if src is None or not src.personal:
        return None
    touched = False
    for name in src.personal:
        if facts.get(name) is not None:
            facts[name] = None
            touched = True
    if src.rows is not None:
        for row in facts.get(src.rows, []):
            for name in src.personal:
                if row.get(name) is not None:
                    row[name] = None
                    touched = True
    if not touched:
        return None
    return _dumps({"via": via, "version": version, "facts": facts, "erased": True})
