"""Reviews after a deal: blind, two-sided, one per side, within a window; one reply each.

A review exists only tied (`FOR`) to a completed order whose buyer or seller wrote it. Neither
side sees the other's review until both have written theirs or the window (a setting, 14 days
by default) closes: then the sweeper publishes what was written. The reviewed person may answer
a published review once. Reviews hidden by moderation, and those by suspended accounts, are not
shown and do not count.
"""

from __future__ import annotations

from typing import Any

from graph.infra.errors import Conflict, Forbidden, NotFound
from graph.infra.ids import event, new_id, now_ms
from graph.infra.store import GraphStore, statement
from graph.notify import OUTBOX_NODE, record

DAY_MS = 86_400_000
BATCH = 500

# one review as anyone may see it; expects `rv` and its `author` bound
REVIEW_VIEW = """
RETURN rv.id AS id, rv.rating AS rating, rv.comment AS comment, rv.role AS role,
       rv.order_id AS order_id, rv.subject_id AS subject_id, rv.created_at AS created_at,
       rv.published_at AS published_at, rv.reply AS reply, rv.replied_at AS replied_at,
       author.id AS author_id, author.handle AS author_handle,
       author.display_name AS author_name, author.status AS author_status,
       [(rv)-[:FOR]->(:Order)-[:OF]->(rp:Product) | {id: rp.id, title: rp.title}] AS products
"""

# a review that is shown and counts: published, not hidden by a moderator, its author not
# suspended; expects `rv` and its `author` bound
SHOWN = "rv.published_at IS NOT NULL AND rv.hidden_at IS NULL AND author.status <> 'suspended'"

ORDER_STATE = statement(
    "reviews.order_state",
    """
    MATCH (o:Order {id: $order_id})
    WHERE o.buyer_id = $user_id OR o.seller_id = $user_id
    OPTIONAL MATCH (o)<-[:FOR]-(rv:Review)
    WITH o, collect({id: rv.id, author_id: rv.author_id}) AS written
    RETURN o.id AS id, o.status AS status, o.buyer_id AS buyer_id, o.seller_id AS seller_id,
           o.completed_at AS completed_at, o.room_id AS room_id,
           [w IN written WHERE w.id IS NOT NULL] AS written
    """,
)

WRITE = statement(
    "reviews.write",
    """
    MATCH (o:Order {id: $order_id})
    // write before reading: on Neo4j this takes the order's lock, so of two reviews racing
    // from the same side one sees the other's mark (FalkorDB runs one write at a time anyway)
    SET o.review_checked_at = $now
    WITH o
    WHERE o.status = 'completed' AND o.completed_at > $now - $window_ms
      AND ((o.buyer_id = $user_id AND o.buyer_review_id IS NULL AND $role = 'buyer')
           OR (o.seller_id = $user_id AND o.seller_review_id IS NULL AND $role = 'seller'))
    MATCH (author:User {id: $user_id})
    WHERE author.status = 'active'
    MATCH (them:User {id: $subject_id})
    WHERE them.id IN [o.buyer_id, o.seller_id] AND them.id <> author.id
    SET o.buyer_review_id = CASE WHEN $role = 'buyer' THEN $id ELSE o.buyer_review_id END,
        o.seller_review_id = CASE WHEN $role = 'seller' THEN $id ELSE o.seller_review_id END
    CREATE (author)-[:WROTE]->(rv:Review {id: $id, rating: $rating, comment: $comment,
                                          role: $role, order_id: o.id, author_id: author.id,
                                          subject_id: them.id, created_at: $now,
                                          due_at: o.completed_at + $window_ms})-[:ABOUT]->(them)
    CREATE (rv)-[:FOR]->(o)
    CREATE (e:Event {id: $event_id, type: 'review.written', at: $now, actor_id: author.id,
                     subject_id: $id, data: $event_data})
    WITH o, rv, author
    OPTIONAL MATCH (o)<-[:FOR]-(other:Review)
    WHERE other.id <> rv.id
    // the second review publishes both
    FOREACH (x IN CASE WHEN other IS NULL THEN [] ELSE [rv, other] END |
      SET x.published_at = $now, x.due_at = null)
    WITH o, rv, author, other
    """
    + OUTBOX_NODE
    + """
    SET ob.type = CASE WHEN other IS NULL THEN 'review.received' ELSE 'review.published' END,
        ob.room_id = o.room_id
    WITH rv, author
    """
    + REVIEW_VIEW,
    write=True,
)

# the window closed: what was written is published, and its subject hears of it. The reviews
# a batch takes are ordered fully (due_at, id), so a replay takes the same ones; its Event is
# appended only when there were some.
PUBLISH_DUE = statement(
    "reviews.publish_due",
    """
    MATCH (rv:Review)
    WHERE rv.due_at <= $now
    WITH rv ORDER BY rv.due_at, rv.id LIMIT $batch
    SET rv.published_at = rv.due_at, rv.due_at = null
    WITH rv
    MATCH (rv)-[:FOR]->(o:Order)
    MERGE (note:Outbox {key: 'review.published:' + rv.id})
      ON CREATE SET note.id = 'review.published:' + rv.id, note.kind = 'review',
                    note.type = 'review.published', note.recipients = [rv.subject_id],
                    note.actor_id = 'system', note.subject_id = rv.id, note.room_id = o.room_id,
                    note.data = '{"order_id":"' + o.id + '"}', note.created_at = $now,
                    note.pending_at = $now
    WITH count(rv) AS n
    FOREACH (_ IN CASE WHEN n > 0 THEN [1] ELSE [] END |
      CREATE (:Event {id: $event_id, type: 'reviews.published', at: $now, actor_id: 'system',
                      subject_id: 'reviews', data: $event_data}))
    RETURN n
    """,
    write=True,
)

# reviews as their order's parties and the reviewed person see them, hidden or not
_WITH_HIDDEN = REVIEW_VIEW + ", rv.hidden_at IS NOT NULL AS hidden"

ONE = statement(
    "reviews.one", "MATCH (author:User)-[:WROTE]->(rv:Review {id: $id})\n" + _WITH_HIDDEN
)

OF_ORDER = statement(
    "reviews.of_order",
    "MATCH (author:User)-[:WROTE]->(rv:Review)-[:FOR]->(:Order {id: $order_id})\n" + _WITH_HIDDEN,
)

REPLY = statement(
    "reviews.reply",
    """
    MATCH (rv:Review {id: $id})-[:ABOUT]->(me:User {id: $user_id})
    SET rv.reply_checked_at = $now
    WITH rv, me
    WHERE rv.published_at IS NOT NULL AND rv.reply IS NULL AND rv.hidden_at IS NULL
      AND me.status = 'active'
    SET rv.reply = $body, rv.replied_at = $now
    CREATE (e:Event {id: $event_id, type: 'review.replied', at: $now, actor_id: me.id,
                     subject_id: rv.id, data: $event_data})
    WITH rv
    MATCH (author:User)-[:WROTE]->(rv)
    """
    + REVIEW_VIEW,
    write=True,
)

LIST = statement(
    "reviews.list",
    """
    MATCH (u:User {id: $user_id})
    WHERE u.status = 'active'
      AND ($viewer_id IS NULL OR NOT (u)-[:BLOCKED]-(:User {id: $viewer_id}))
    MATCH (author:User)-[:WROTE]->(rv:Review)-[:ABOUT]->(u)
    WHERE """
    + SHOWN
    + """
      AND ($role IS NULL OR rv.role = $role)
      AND ($after_id IS NULL OR rv.published_at < $after
           OR (rv.published_at = $after AND rv.id < $after_id))
    WITH rv, author
    ORDER BY rv.published_at DESC, rv.id DESC
    LIMIT $limit
    """
    + REVIEW_VIEW
    + "ORDER BY published_at DESC, id DESC",
)


def shape(row: dict[str, Any], *, viewer_id: str | None = None) -> dict[str, Any]:
    """A review for the API; the author shows as gone when the account was deleted."""
    gone = row.get("author_status") == "deleted"
    return {
        "id": row["id"],
        "order_id": row["order_id"],
        "rating": row["rating"],
        "comment": row["comment"],
        "role": row["role"],
        "author": None
        if gone
        else {"id": row["author_id"], "handle": row["author_handle"], "name": row["author_name"]},
        "subject_id": row["subject_id"],
        "products": row.get("products") or [],
        "created_at": row["created_at"],
        "published": row.get("published_at") is not None,
        "published_at": row.get("published_at"),
        "reply": {"body": row["reply"], "at": row["replied_at"]} if row.get("reply") else None,
        "mine": viewer_id is not None and viewer_id == row["author_id"],
    }


class ReviewService:
    def __init__(self, store: GraphStore, window_days: float) -> None:
        self._store = store
        self._window_ms = int(window_days * DAY_MS)

    async def _order(self, user_id: str, order_id: str) -> dict[str, Any]:
        rows = await self._store.run(ORDER_STATE, {"order_id": order_id, "user_id": user_id})
        if not rows:
            raise NotFound("no such order")
        return rows[0]

    async def state(self, user_id: str, order_id: str) -> dict[str, Any]:
        """What the order's party sees: their review, the other's once published, the window."""
        order = await self._order(user_id, order_id)
        reviews = (
            await self._store.run(OF_ORDER, {"order_id": order_id}) if order["written"] else []
        )
        mine = next((r for r in reviews if r["author_id"] == user_id), None)
        theirs = next((r for r in reviews if r["author_id"] != user_id), None)
        done = order["completed_at"]
        closes = done + self._window_ms if done else None
        open_ = order["status"] == "completed" and closes is not None and now_ms() < closes
        return {
            "order_id": order["id"],
            "can_review": open_ and mine is None,
            "window_closes_at": closes,
            "mine": shape(mine, viewer_id=user_id) if mine else None,
            "theirs_written": theirs is not None,
            "theirs": shape(theirs, viewer_id=user_id)
            if theirs and theirs["published_at"] is not None and not theirs["hidden"]
            else None,
        }

    async def _one(self, review_id: str) -> dict[str, Any]:
        rows = await self._store.run(ONE, {"id": review_id})
        if not rows:
            raise NotFound("no such review")
        return rows[0]

    async def write(
        self, user_id: str, order_id: str, rating: int, comment: str
    ) -> tuple[dict[str, Any], bool]:
        """The caller's review of the other side; returns it and whether it is published now."""
        order = await self._order(user_id, order_id)
        role = "buyer" if order["buyer_id"] == user_id else "seller"
        subject = order["seller_id"] if role == "buyer" else order["buyer_id"]
        if order["status"] != "completed":
            raise Conflict(
                f"an order can be reviewed once it is completed (this one is {order['status']})",
                errors={"order": order["status"]},
            )
        if now_ms() >= order["completed_at"] + self._window_ms:
            raise Conflict(
                "the review window for this order has closed", errors={"order": "window closed"}
            )
        if any(w["author_id"] == user_id for w in order["written"]):
            raise Conflict("you have already reviewed this order", errors={"order": "reviewed"})
        review_id = new_id()
        params = {
            "order_id": order_id,
            "user_id": user_id,
            "subject_id": subject,
            "role": role,
            "id": review_id,
            "rating": rating,
            "comment": comment,
            "window_ms": self._window_ms,
            **event(),
            **record(
                "review",
                "review.received",
                subject_id=review_id,
                actor_id=user_id,
                recipients=[subject],
                data={"order_id": order_id},
                key=f"review:{review_id}",
            ),
        }
        rows = await self._store.run(WRITE, params)
        if not rows:  # lost a race with the other tab, or the account went away
            raise Conflict("this order cannot be reviewed now", errors={"order": "not reviewable"})
        row = rows[0]
        return shape(row, viewer_id=user_id), row["published_at"] is not None

    async def reply(self, user_id: str, review_id: str, body: str) -> dict[str, Any]:
        review = await self._one(review_id)
        if review["subject_id"] != user_id:
            if review["published_at"] is None or review["hidden"]:
                raise NotFound("no such review")
            raise Forbidden("only the reviewed person may reply")
        if review["published_at"] is None or review["hidden"]:
            raise Conflict("a review can be answered once it is published")
        if review["reply"] is not None:
            raise Conflict("you have already replied to this review", errors={"body": "replied"})
        rows = await self._store.run(
            REPLY, {"id": review_id, "user_id": user_id, "body": body, **event()}
        )
        if not rows:
            raise Conflict("you have already replied to this review", errors={"body": "replied"})
        return shape(rows[0], viewer_id=user_id)

    async def of_user(
        self,
        user_id: str,
        viewer_id: str | None,
        *,
        role: str | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
        """A page of the reviews about `user_id` after the (published_at, id) position `after`,
        and the position of the last one when there may be more."""
        rows = await self._store.run(
            LIST,
            {
                "user_id": user_id,
                "viewer_id": viewer_id,
                "role": role,
                "after": after[0] if after else None,
                "after_id": after[1] if after else None,
                "limit": limit,
            },
        )
        nxt = (int(rows[-1]["published_at"]), str(rows[-1]["id"])) if len(rows) == limit else None
        return [shape(r, viewer_id=viewer_id) for r in rows], nxt

    async def publish_due(self) -> int:
        total = 0
        while True:
            rows = await self._store.run(PUBLISH_DUE, {"batch": BATCH, **event()})
            n = int(rows[0]["n"])
            total += n
            if n < BATCH:
                return total
