"""Reports from people and the fraud-ring detector, and the admins' decisions on them.

Anyone may report a listing, an account, a message in one of their conversations or a
published review (one open report per reporter and target). Admins work the queue from the
command line (`vendr moderation list|show|resolve`): hide the listing, message or review,
suspend the account behind it (its sessions revoked and sockets closed, its listings, rooms
and reviews hidden everywhere, its reviews no longer counted in trust), or dismiss. A decision
closes every open report on that target and appends an `Event` naming the admin and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, get_args

from graph.accounts import LISTINGS_OF, Ending, Sessions, end_sessions, mark, mark_params
from graph.infra.cache import QueryCache
from graph.infra.errors import Conflict, Invalid, NotFound
from graph.infra.ids import event, new_id
from graph.infra.store import GraphStore, statement
from graph.notify import Notifier

# what can be reported, why, and what a moderator can do about it (the API's request model and
# the command line take their choices from here)
Target = Literal["product", "user", "message", "review"]
Reason = Literal[
    "scam",
    "counterfeit",
    "prohibited",
    "spam",
    "harassment",
    "offensive",
    "wrong_category",
    "other",
]
Action = Literal["hide", "suspend", "dismiss"]
TARGETS: tuple[str, ...] = get_args(Target)
ACTIONS: tuple[str, ...] = get_args(Action)

# What can be reported, as the reporter may see it: binds `t` (the target) and `owner` (the
# account behind it) after `me`.
_FIND: dict[str, str] = {
    "product": """
    MATCH (owner:User)-[:LISTED]->(t:Product {id: $target_id})
    WHERE t.status <> 'deleted' AND owner.status = 'active'
    """,
    "user": """
    MATCH (t:User {id: $target_id})
    WHERE t.status = 'active'
    WITH me, t, t AS owner
    """,
    "message": """
    MATCH (me)-[:MEMBER]->(:Room)<-[:IN]-(t:Message {id: $target_id})
    MATCH (owner:User {id: t.sender_id})
    WHERE owner.status = 'active'
    """,
    "review": """
    MATCH (owner:User)-[:WROTE]->(t:Review {id: $target_id})
    WHERE (t.published_at IS NOT NULL OR t.subject_id = me.id) AND t.hidden_at IS NULL
      AND owner.status = 'active'
    """,
}

_ME = "MATCH (me:User {id: $user_id}) WHERE me.status = 'active'\n"

_CHECK_TAIL = """
OPTIONAL MATCH (mine:Report {key: 'open:' + me.id + ':' + $target + ':' + $target_id})
RETURN owner.id AS owner_id, mine.id AS open_report
"""

_FILE_TAIL = """
WITH me, t, owner
WHERE owner.id <> me.id
MERGE (rep:Report {key: 'open:' + me.id + ':' + $target + ':' + $target_id})
  ON CREATE SET rep.id = $id, rep.reporter_id = me.id, rep.target = $target,
                rep.target_id = $target_id, rep.owner_id = owner.id, rep.reason = $reason,
                rep.note = $note, rep.status = 'open', rep.created_at = $now
WITH me, t, rep, rep.id = $id AS created
FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END |
  CREATE (me)-[:REPORTED]->(rep)
  CREATE (rep)-[:ABOUT]->(t)
  CREATE (:Event {id: $event_id, type: 'report.filed', at: $now, actor_id: me.id,
                  subject_id: $id, data: $event_data}))
RETURN rep.id AS id, created, rep.status AS status, rep.created_at AS created_at
"""

CHECK = {k: statement(f"reports.check_{k}", _ME + v + _CHECK_TAIL) for k, v in _FIND.items()}
FILE = {
    k: statement(f"reports.file_{k}", _ME + v + _FILE_TAIL, write=True) for k, v in _FIND.items()
}

_REPORT_FIELDS = """
rep.id AS id, rep.target AS target, rep.target_id AS target_id, rep.owner_id AS owner_id,
rep.reporter_id AS reporter_id, rep.reason AS reason, rep.note AS note, rep.status AS status,
rep.created_at AS created_at, rep.evidence AS evidence, rep.resolution AS resolution,
rep.resolved_by AS resolved_by, rep.resolved_at AS resolved_at,
rep.resolution_reason AS resolution_reason
"""

QUEUE = statement(
    "moderation.queue",
    """
    MATCH (rep:Report)
    WHERE $status IS NULL OR rep.status = $status
    WITH rep ORDER BY rep.created_at DESC, rep.id DESC LIMIT $limit
    OPTIONAL MATCH (owner:User {id: rep.owner_id})
    OPTIONAL MATCH (same:Report {target_id: rep.target_id})
    WHERE same.status = 'open' AND same.target = rep.target
    WITH rep, owner, count(same) AS open_on_target
    RETURN owner.handle AS owner_handle, owner.status AS owner_status, open_on_target,
    """
    + _REPORT_FIELDS
    + "ORDER BY created_at DESC, id DESC",
)

SHOW = statement(
    "moderation.show",
    """
    MATCH (rep:Report {id: $id})
    OPTIONAL MATCH (rep)-[:ABOUT]->(t)
    OPTIONAL MATCH (owner:User {id: rep.owner_id})
    OPTIONAL MATCH (reporter:User {id: rep.reporter_id})
    OPTIONAL MATCH (same:Report {target_id: rep.target_id})
    WHERE same.status = 'open' AND same.target = rep.target
    WITH rep, t, owner, reporter, count(same) AS open_on_target
    OPTIONAL MATCH (others:Report {owner_id: rep.owner_id})
    WITH rep, t, owner, reporter, open_on_target, count(others) AS reports_on_owner
    RETURN owner.handle AS owner_handle, owner.status AS owner_status,
           owner.created_at AS owner_joined, owner.trust_score AS owner_trust,
           reporter.handle AS reporter_handle, open_on_target, reports_on_owner,
           coalesce(t.title, t.body, t.comment, t.handle) AS target_text,
           t.status AS target_status, t.hidden_at AS target_hidden_at,
    """
    + _REPORT_FIELDS,
)

# Close every open report on the target with the decision, and log it; each action's statement
# ends with this, after `applied` (how many things the action changed).
_CLOSE = """
OPTIONAL MATCH (rep:Report {target_id: $target_id})
WHERE rep.status = 'open' AND rep.target = $target
WITH applied, collect(rep) AS reps
FOREACH (x IN reps |
  SET x.status = $outcome, x.resolution = $action, x.resolved_by = $admin,
      x.resolved_at = $now, x.resolution_reason = $reason, x.key = 'closed:' + x.id)
CREATE (e:Event {id: $event_id, type: 'moderation.' + $action, at: $now,
                 actor_id: 'admin:' + $admin,
                 subject_id: CASE WHEN $action = 'suspend' THEN $owner_id ELSE $target_id END,
                 data: $event_data})
RETURN applied, [x IN reps | x.id] AS closed
"""

_APPLY: dict[str, str] = {
    "dismiss": "UNWIND [0] AS applied\n",
    "hide_product": """
    OPTIONAL MATCH (t:Product {id: $target_id})
    WHERE t.status IN ['active', 'reserved', 'expired', 'sold']
    FOREACH (x IN CASE WHEN t IS NULL THEN [] ELSE [t] END |
      SET x.hidden_from = x.status, x.status = 'hidden', x.hidden_at = $now,
          x.updated_at = $now)
    WITH count(t) AS applied
    """,
    "hide_message": """
    OPTIONAL MATCH (t:Message {id: $target_id})
    WHERE t.hidden_at IS NULL
    FOREACH (x IN CASE WHEN t IS NULL THEN [] ELSE [t] END | SET x.hidden_at = $now)
    WITH count(t) AS applied
    """,
    "hide_review": """
    OPTIONAL MATCH (t:Review {id: $target_id})
    WHERE t.hidden_at IS NULL
    FOREACH (x IN CASE WHEN t IS NULL THEN [] ELSE [t] END | SET x.hidden_at = $now)
    WITH count(t) AS applied
    """,
    # marked: its open deals then end through their state machines (graph.accounts.ending)
    "suspend": """
    OPTIONAL MATCH (t:User {id: $owner_id})
    WHERE t.status = 'active'
    FOREACH (x IN CASE WHEN t IS NULL THEN [] ELSE [t] END |
      SET x.status = 'suspended', x.suspended_at = $now, x.suspended_reason = $reason, """
    + mark("x")
    + """)
    WITH count(t) AS applied
    """,
}
DECIDE = {k: statement(f"moderation.{k}", v + _CLOSE, write=True) for k, v in _APPLY.items()}

REINSTATE = statement(
    "moderation.reinstate",
    """
    MATCH (u:User {id: $user_id})
    WHERE u.status = 'suspended'
    SET u.status = 'active', u.suspended_at = null, u.suspended_reason = null,
        u.reinstated_at = $now, u.reinstated_reason = $reason
    CREATE (e:Event {id: $event_id, type: 'moderation.reinstate', at: $now,
                     actor_id: 'admin:' + $admin, subject_id: u.id, data: $event_data})
    RETURN u.id AS id
    """,
    write=True,
)

MARK_TRUSTED = statement(
    "moderation.mark_trusted",
    """
    MATCH (u:User {id: $user_id})
    WHERE u.status = 'active'
    SET u.trusted = $trusted, u.trusted_reason = $reason
    CREATE (e:Event {id: $event_id, type: 'moderation.trusted', at: $now,
                     actor_id: 'admin:' + $admin, subject_id: u.id, data: $event_data})
    RETURN u.id AS id
    """,
    write=True,
)

# the room a hidden message was in: the pages of it that workers hold are forgotten
MESSAGE_ROOM = statement(
    "moderation.message_room",
    "MATCH (:Message {id: $id})-[:IN]->(r:Room) RETURN r.id AS id",
)

USER_BY_HANDLE = statement(
    "moderation.user_by_handle",
    "MATCH (u:User) WHERE u.handle = $ref OR u.id = $ref RETURN u.id AS id, u.status AS status",
)


def _report(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if out.get("evidence"):
        try:
            out["evidence"] = json.loads(out["evidence"])
        except ValueError:
            out["evidence"] = None
    return out


class Reports:
    """`POST /v1/reports`."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store

    async def file(
        self, user_id: str, target: str, target_id: str, reason: str, note: str | None
    ) -> dict[str, Any]:
        if target not in TARGETS:
            raise Invalid("unknown report target", errors={"target": "unknown"})
        params = {"user_id": user_id, "target": target, "target_id": target_id}
        found = await self._store.run(CHECK[target], params)
        if not found:
            raise NotFound(f"no such {target}", errors={"id": "not found"})
        if found[0]["owner_id"] == user_id:
            raise Invalid("you cannot report yourself", errors={"id": "your own"})
        if found[0]["open_report"]:
            raise Conflict(
                "you already reported this and the report is open",
                errors={"id": "reported"},
                extra={"report_id": found[0]["open_report"]},
            )
        report_id = new_id()
        rows = await self._store.run(
            FILE[target],
            params | {"id": report_id, "reason": reason, "note": note} | event(),
        )
        if not rows:
            raise NotFound(f"no such {target}", errors={"id": "not found"})
        if not rows[0]["created"]:
            raise Conflict("you already reported this and the report is open")
        return {"id": rows[0]["id"], "status": "open", "created_at": rows[0]["created_at"]}


class Moderation:
    """The admins' side. A suspension marks the account off in `sessions` (no token of it
    resolves again), revokes its tokens and closes its sockets through `notifier`, and ends
    its open deals through `ending`; `changed` is the catalog's (browse caches dropped,
    listings re-read into the feed's pools)."""

    def __init__(
        self,
        store: GraphStore,
        cache: QueryCache,
        sessions: Sessions,
        notifier: Notifier,
        changed: Callable[[Iterable[str]], Awaitable[None]],
        ending: Ending,
    ) -> None:
        self._store = store
        self._cache = cache
        self._sessions = sessions
        self._notifier = notifier
        self._changed = changed
        self._ending = ending

    async def queue(self, status: str | None = "open", limit: int = 50) -> list[dict[str, Any]]:
        rows = await self._store.run(QUEUE, {"status": status, "limit": limit})
        return [_report(r) for r in rows]

    async def show(self, report_id: str) -> dict[str, Any]:
        rows = await self._store.run(SHOW, {"id": report_id})
        if not rows:
            raise NotFound("no such report")
        return _report(rows[0])

    async def resolve(self, report_id: str, action: str, admin: str, reason: str) -> dict[str, Any]:
        """Decide an open report (and every open report on the same target)."""
        if not reason.strip():
            raise Invalid("say why: the reason is kept with the decision")
        report = await self.show(report_id)
        if report["status"] != "open":
            raise Conflict(f"report {report_id} is already {report['status']}")
        target = report["target"]
        if action == "hide":
            if target == "user":
                raise Invalid("an account is not hidden but suspended: use --action suspend")
            key = f"hide_{target}"
        elif action in ("suspend", "dismiss"):
            key = action
        else:
            raise Invalid(f"unknown action {action!r}: hide, suspend or dismiss")
        params = {
            "target": target,
            "target_id": report["target_id"],
            "owner_id": report["owner_id"],
            "admin": admin,
            "reason": reason,
            "action": action,
            "outcome": "dismissed" if action == "dismiss" else "resolved",
            **(mark_params("suspended") if key == "suspend" else {}),
            **event(),
        }
        row = (await self._store.run(DECIDE[key], params))[0]
        if action == "suspend" and row["applied"]:
            await self.after_suspension(report["owner_id"])
        elif action == "hide" and target == "product":
            await self._changed([report["target_id"]])
        elif action == "hide" and target == "message" and row["applied"]:
            rooms = await self._store.run(MESSAGE_ROOM, {"id": report["target_id"]})
            await self._sessions.rooms_changed(r["id"] for r in rooms)
        return {"action": action, "applied": int(row["applied"]), "closed": row["closed"]}

    async def after_suspension(self, user_id: str) -> None:
        """Everywhere the account showed: sessions, sockets, cached pages, the feed's pools;
        then its open deals end (cancelled, withdrawn, refunded), its listings' units back."""
        await end_sessions(self._sessions, self._notifier, user_id, disable=True)
        await self._cache.forget(f"hidden:{user_id}")
        await self._changed(await self._listings(user_id))
        await self._ending.after(user_id)

    async def _listings(self, user_id: str) -> list[str]:
        return [r["id"] for r in await self._store.run(LISTINGS_OF, {"user_id": user_id})]

    async def user_id(self, ref: str) -> str:
        rows = await self._store.run(USER_BY_HANDLE, {"ref": ref})
        if not rows:
            raise NotFound(f"no account {ref!r}")
        return str(rows[0]["id"])

    async def reinstate(self, ref: str, admin: str, reason: str) -> None:
        """The account is active again: its listings show again as they are (their units
        given back by the deals the suspension cancelled); those deals stay cancelled."""
        user_id = await self.user_id(ref)
        params = {"user_id": user_id, "admin": admin, "reason": reason, **event()}
        if not await self._store.run(REINSTATE, params):
            raise Conflict(f"{ref} is not suspended")
        await self._sessions.enable(user_id)
        await self._sessions.profile_changed(user_id)  # `me` answers for it again
        await self._sessions.members_changed(user_id)  # and their rooms show again
        await self._changed(await self._listings(user_id))

    async def mark_trusted(self, ref: str, admin: str, reason: str, trusted: bool) -> None:
        user_id = await self.user_id(ref)
        params = {"user_id": user_id, "admin": admin, "trusted": trusted, "reason": reason}
        params |= event()
        if not await self._store.run(MARK_TRUSTED, params):
            raise Conflict(f"{ref} is not an active account")
