"""Outbox records: every notification starts as an `Outbox` node written by the statement that
causes it (an order confirmed, a price dropped, a code requested), so a change and its
notification are one write or none. These are the fragments and parameters such statements
embed; the background worker fans the records out and delivers them (`outbox`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from graph.infra.ids import new_id

# An outbox record for a deal's move, inside a deal statement with `o` (the offer or order),
# `r` (its room) bound and the room line's parameters (`$sys_*`): the other party hears of it,
# both parties when a timer moved the deal.
DEAL_OUTBOX = """
CREATE (:Outbox {id: $sys_id, key: 'deal:' + $sys_id, kind: $ob_kind, type: $ob_type,
                 recipients: [x IN [o.buyer_id, o.seller_id] WHERE x <> $actor_id],
                 actor_id: $actor_id, subject_id: o.id, room_id: r.id, text: $sys_text,
                 data: $sys_data, created_at: $now, pending_at: $now})
"""


# `CREATE` of one outbox record, bound as `ob`, from `$ob_*` parameters (see `record`).
OUTBOX_NODE = """
CREATE (ob:Outbox {id: $ob_id, key: $ob_key, kind: $ob_kind, type: $ob_type,
                   recipients: $ob_recipients, audience: $ob_audience, channels: $ob_channels,
                   actor_id: $ob_actor_id, subject_id: $ob_subject_id, room_id: null, text: null,
                   data: $ob_data, secret: $ob_secret, to: $ob_to, created_at: $now,
                   pending_at: $now})
"""

# An outbox record telling the people who saved listing `p` (found when it is fanned out)
# that it sold or expired; used inside a FOREACH that binds `p`, with the parameters of
# `savers`. Keyed by listing and time, so a redo of the statement writes it once.
SAVERS_OUTBOX = """
MERGE (note:Outbox {key: $savers_type + ':' + p.id + ':' + toString($now)})
  ON CREATE SET note.id = $savers_type + ':' + p.id + ':' + toString($now),
                note.kind = 'saved', note.type = $savers_type, note.audience = 'savers',
                note.actor_id = $savers_actor, note.subject_id = p.id, note.data = '{}',
                note.created_at = $now, note.pending_at = $now
"""


def savers(type_: Literal["saved.sold", "saved.expired"], actor_id: str) -> dict[str, str]:
    """Parameters for SAVERS_OUTBOX."""
    return {"savers_type": type_, "savers_actor": actor_id}


def record(
    kind: str,
    type_: str,
    *,
    subject_id: str,
    actor_id: str = "system",
    recipients: list[str] | None = None,
    audience: str | None = None,
    channels: list[str] | None = None,
    data: dict[str, Any] | None = None,
    secret: str | None = None,
    to: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Parameters for OUTBOX_NODE: who hears (`recipients`, or an `audience`: the listing's
    `savers`, or the `searches` it matches), and for account notices the fixed `channels`, the
    address `to` and the `secret` (a code) that lives only until it is sent."""
    ob_id = new_id()
    return {
        "ob_id": ob_id,
        "ob_key": key or f"{type_}:{ob_id}",
        "ob_kind": kind,
        "ob_type": type_,
        "ob_recipients": recipients,
        "ob_audience": audience,
        "ob_channels": channels,
        "ob_actor_id": actor_id,
        "ob_subject_id": subject_id,
        "ob_data": json.dumps(data or {}, separators=(",", ":")),
        "ob_secret": secret,
        "ob_to": to,
    }
