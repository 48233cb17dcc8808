"""Test environments from production: one account and what it touches, chosen from the log
(`vendr events replay --entity ID --related`).

The account's own events are those it made, those about it, and those naming it in their facts.
With `--related`, what those events name joins the selection: the listings, rooms, offers and
orders it dealt in (with every event about them, the other party's counter-offers and messages
included), the photos they show; and of each other person named, only the facts that make them
exist (their sign-up), not the rest of their life. Batched events (a bulk load) keep only the
rows that name something selected.

Ids are recognised by their shape: Vendr's ids (26 characters of Crockford's base32) and
content addresses of images (64 hex digits).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

ID = re.compile(r"^(?:[0-9a-hjkmnp-tv-z]{26}|[0-9a-f]{64})$")
# the statements that make a person exist: all an environment needs of the other party
BIRTHS = frozenset({"accounts.signup", "seeds.users"})
UPLOADS = frozenset({"images.save"})
IMAGE = re.compile(r"^[0-9a-f]{64}$")
ROUNDS = 3  # related of related of related: far enough for a deal's listing's photos


def ids_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value} if ID.match(value) else set()
    if isinstance(value, dict):
        return set().union(*(ids_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(ids_in(v) for v in value)) if value else set()
    return set()


@dataclass
class _Seen:
    """What the selection needs of one event: who, about what, and the ids its facts name
    (per row for a batched event)."""

    id: str
    via: str | None
    actor: str | None
    subject: str | None
    named: set[str]
    rows: list[set[str]] | None = None


@dataclass
class Selection:
    events: set[str] = field(default_factory=set)
    # batched events kept in part: event id -> the indexes of the rows kept
    rows: dict[str, set[int]] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)


def _seen(row: dict[str, Any]) -> _Seen:
    via = row.get("via")
    facts = row.get("data") if via else None
    batch = facts.get("rows") if isinstance(facts, dict) else None
    if isinstance(batch, list) and via and via.startswith("seeds."):
        return _Seen(
            row["id"],
            via,
            row.get("actor_id"),
            row.get("subject_id"),
            set(),
            [ids_in(r) for r in batch],
        )
    named = ids_in(facts) if facts is not None else set()
    return _Seen(row["id"], via, row.get("actor_id"), row.get("subject_id"), named)


def _touches(ev: _Seen, wanted: set[str]) -> bool:
    return ev.actor in wanted or ev.subject in wanted or not ev.named.isdisjoint(wanted)


async def select(
    log: Callable[[], AsyncIterable[dict[str, Any]] | AsyncIterator[dict[str, Any]]],
    entity: str,
    *,
    related: bool,
) -> Selection:
    """The events (and rows of batched events) that rebuild `entity`, and with `related`
    what it touches."""
    seen = [_seen(row) async for row in log()]
    people = {ev.subject for ev in seen if ev.via == "accounts.signup" and ev.subject}
    for ev in seen:
        if ev.via == "seeds.users" and ev.rows is not None:
            people |= {i for row in ev.rows for i in row}
    chosen = Selection(ids={entity})
    frontier = {entity}
    for _ in range(ROUNDS if related else 1):
        # people and photos are shared: of them, only what makes them exist comes along (a
        # photo's upload by someone chosen), or every listing showing the same picture would
        things = {entity} | {i for i in frontier - people if not IMAGE.match(i)}
        others = frontier & people
        photos = {i for i in frontier if IMAGE.match(i)}
        found: set[str] = set()
        for ev in seen:
            if ev.rows is not None:
                keep = {
                    k
                    for k, row in enumerate(ev.rows)
                    if not row.isdisjoint(things)
                    or (ev.via in ("seeds.users", "seeds.images") and not row.isdisjoint(frontier))
                }
                if keep - chosen.rows.get(ev.id, set()):
                    chosen.rows.setdefault(ev.id, set()).update(keep)
                    chosen.events.add(ev.id)
                    found |= set().union(*(ev.rows[k] for k in keep))
                continue
            if ev.id in chosen.events:
                continue
            if (
                _touches(ev, things)
                or (ev.via in BIRTHS and ev.subject in others)
                or (ev.via in UPLOADS and ev.subject in photos and ev.actor in chosen.ids)
            ):
                chosen.events.add(ev.id)
                found |= ev.named | {i for i in (ev.subject, ev.actor) if i and ID.match(i)}
        frontier = found - chosen.ids
        chosen.ids |= found
        if not related or not frontier:
            break
    return chosen


def keep_selected(chosen: Selection) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """The replay's filter: a chosen event, a batched one cut down to its chosen rows."""

    def keep(row: dict[str, Any]) -> dict[str, Any] | None:
        if row["id"] not in chosen.events:
            return None
        rows = chosen.rows.get(row["id"])
        if rows is None:
            return row
        batch = row["data"]["rows"]
        return row | {"data": row["data"] | {"rows": [batch[k] for k in sorted(rows)]}}

    return keep
