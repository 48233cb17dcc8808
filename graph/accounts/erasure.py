"""Erasing a deleted person from the event log: the personal facts (graph.infra.events
`personal=`) of every source Event they made or that is about their account are replaced by
None, the rest of each Event (its type, time, ids, the other facts) stays.

It runs after the account's deals have ended, from the same mark (graph.accounts.ending): a
crash leaves the mark, and the worker runs it again. Erasing is idempotent (an erased Event has
nothing left to erase, so it is not written again), so running it again from the start only
reads what the first run already did.
"""

from __future__ import annotations

from typing import Literal

from graph.infra.events import erase
from graph.infra.store import GraphStore, Statement, statement

BATCH = 500

By = Literal["actor_id", "subject_id"]


def _page(by: By) -> Statement:
    # keyset over (at, id), each side on its own index (field from this fixed pair only)
    return statement(
        f"lifecycle.events_by_{by}",
        "MATCH (e:Event {"
        + by
        + """: $user_id})
        WHERE e.at > $after_at OR (e.at = $after_at AND e.id > $after_id)
        RETURN e.id AS id, e.at AS at, e.data AS data
        ORDER BY at, id
        LIMIT $batch
        """,
    )


PAGES: dict[By, Statement] = {by: _page(by) for by in ("actor_id", "subject_id")}

ERASE = statement(
    "lifecycle.erase_events",
    """
    UNWIND $rows AS r
    MATCH (e:Event {id: r.id})
    SET e.data = r.data
    RETURN count(e) AS n
    """,
    write=True,
)


# what the feed dealt a person (graph.feed.impressions): operational records of what they were
# shown, no fact a replay needs: gone with the account, a batch at a time
FORGET_DEALT = statement(
    "lifecycle.forget_dealt",
    """
    MATCH (e:Event {actor_id: $user_id})
    WHERE e.type = 'feed.dealt'
    WITH e LIMIT $batch
    DELETE e
    RETURN count(*) AS n
    """,
    write=True,
)


async def erase_events(store: GraphStore, user_id: str) -> int:
    """Erase the personal facts from the Events by and about `user_id`, and the decks they
    were dealt; how many changed."""
    erased = 0
    while True:
        rows = await store.run(FORGET_DEALT, {"user_id": user_id, "batch": BATCH})
        gone = int(rows[0]["n"]) if rows else 0
        erased += gone
        if gone < BATCH:
            break
    for by in PAGES:
        after_at, after_id = -1, ""
        while True:
            params = {"user_id": user_id, "after_at": after_at, "after_id": after_id}
            page = await store.run(PAGES[by], params | {"batch": BATCH})
            rows = [
                {"id": row["id"], "data": data}
                for row in page
                if (data := erase(row["data"])) is not None
            ]
            if rows:
                await store.run(ERASE, {"rows": rows})
                erased += len(rows)
            if len(page) < BATCH:
                break
            after_at, after_id = page[-1]["at"], page[-1]["id"]
    return erased
