"""The graph's indexes and uniqueness rules, as data. Each adapter turns them into its own DDL.

Names here are the only labels and properties ever spliced into DDL: a fixed allow-list.
"""

from __future__ import annotations

from collections.abc import Iterator

# (label, property) pairs that must be unique; each is indexed too
UNIQUE: tuple[tuple[str, str], ...] = (
    ("User", "id"),
    ("User", "handle"),
    ("Credential", "email"),
    ("Credential", "phone"),
    ("Shop", "id"),
    ("Image", "id"),
    ("Event", "id"),
    ("Product", "id"),
    ("Tag", "name"),
    ("Room", "id"),
    ("Room", "key"),
    ("Message", "id"),
    ("Offer", "id"),
    ("Order", "id"),
    ("Collection", "id"),
    ("Outbox", "key"),
    ("Notification", "key"),
    ("Notification", "id"),
    ("Search", "id"),
    ("Cell", "id"),
    ("Word", "text"),
    ("Payment", "id"),
    ("Payment", "key"),  # one payment per purpose: `order:ID`, `promotion:ID`
    ("WebhookEvent", "id"),  # each provider event applied once
    ("Account", "key"),  # `OWNER/BUCKET/CURRENCY`: one balance each
    ("LedgerEntry", "id"),  # derived from its cause: a movement is booked once
    ("Payout", "id"),
    ("Promotion", "id"),
    ("Review", "id"),
    ("Report", "id"),
    ("Report", "key"),  # `open:REPORTER:TARGET:ID` while open: one open report per pair
)

# (label, property) range indexes for lookups and sorts
INDEXED: tuple[tuple[str, str], ...] = (
    ("User", "created_at"),
    ("User", "deals_end_due_at"),  # set while a deleted or suspended account's deals end
    ("Event", "at"),
    ("Event", "actor_id"),  # an account's audit trail (cypher/user_audit_trail.cypher)
    ("Event", "subject_id"),
    ("Product", "status"),
    ("Product", "created_at"),
    ("Product", "price"),
    ("Product", "expires_at"),
    ("Product", "hype"),
    ("Product", "seller_id"),
    ("Offer", "buyer_id"),
    ("Offer", "seller_id"),
    ("Offer", "thread_id"),
    ("Offer", "due_at"),
    ("Order", "buyer_id"),
    ("Order", "seller_id"),
    ("Order", "due_at"),
    ("Room", "last_chat_at"),  # quiet unread conversations, for their one email
    ("Outbox", "pending_at"),  # set while a record waits to be fanned out
    ("Outbox", "fanned_at"),
    ("Notification", "user_id"),
    ("Notification", "next_at"),  # set while a notification waits to be delivered
    ("Notification", "created_at"),
    ("Payment", "intent_id"),
    ("Payment", "owed_at"),  # set while a provider call (void, refund) is owed
    ("Payment", "release_at"),  # a completed order's seller share, released after a hold
    ("Payment", "dispute_id"),
    ("LedgerEntry", "payment_id"),
    ("Account", "owner"),
    ("Account", "bucket"),
    ("Payout", "owed_at"),  # set while a transfer is owed
    ("User", "payout_account_id"),
    ("Promotion", "due_at"),
    ("Product", "promoted_until"),
    ("Review", "due_at"),  # set while a blind review waits for its window to close
    ("Report", "status"),
    ("Report", "target_id"),
    ("Report", "owner_id"),
)

# point properties queried by distance
# (a listing is found by its public place; its exact point is its owner's)
POINTS: tuple[tuple[str, str], ...] = (("Product", "place"), ("User", "location"))

# full-text indexes: (index name for Neo4j, label, properties)
FULLTEXT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("product_text", "Product", ("title", "description")),
)


def neo4j_ddl() -> Iterator[str]:
    for label, prop in UNIQUE:
        name = f"{label.lower()}_{prop}_unique"
        yield f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
    for label, prop in INDEXED:
        name = f"{label.lower()}_{prop}"
        yield f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
    for label, prop in POINTS:
        name = f"{label.lower()}_{prop}_point"
        yield f"CREATE POINT INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
    for name, label, props in FULLTEXT:
        fields = ", ".join(f"n.{p}" for p in props)
        yield f"CREATE FULLTEXT INDEX {name} IF NOT EXISTS FOR (n:{label}) ON EACH [{fields}]"


def falkordb_indexes() -> Iterator[str]:
    """Range indexes (FalkorDB indexes points with the same statement)."""
    for label, prop in (*UNIQUE, *INDEXED, *POINTS):
        yield f"CREATE INDEX FOR (n:{label}) ON (n.{prop})"
    for _, label, props in FULLTEXT:
        args = ", ".join(f"'{p}'" for p in props)
        yield f"CALL db.idx.fulltext.createNodeIndex('{label}', {args})"
