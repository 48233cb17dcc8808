"""Shop collections: named, ordered groups of a shop's own listings ("Summer bikes").

`(:Shop)-[:HAS_COLLECTION]->(:Collection)-[:INCLUDES {pos}]->(:Product)`. Writing the listing
ids replaces the whole order at once: adding, removing and reordering are one request.
"""

from __future__ import annotations

from typing import Any

from graph.catalog import PRODUCT_VIEW
from graph.infra.errors import Conflict, Forbidden, Invalid, NotFound
from graph.infra.ids import event, new_id, now_ms
from graph.infra.store import GraphStore, statement

MAX_ITEMS = 200
MAX_COLLECTIONS = 50

# the shop's own listings among $product_ids (not deleted), and how many collections it has
CONTEXT = statement(
    "collections.context",
    """
    MATCH (u:User {id: $user_id})
    OPTIONAL MATCH (u)-[:OWNS]->(shop:Shop)
    OPTIONAL MATCH (shop)-[:HAS_COLLECTION]->(c:Collection {id: $collection_id})
    RETURN shop.id AS shop_id, c.id AS collection_id,
           size([(shop)-[:HAS_COLLECTION]->(any:Collection) | any]) AS collections,
           [(u)-[:LISTED]->(p:Product) WHERE p.id IN $product_ids AND p.status <> 'deleted'
            | p.id] AS owned
    """,
)

_CREATE = """
MATCH (u:User {id: $user_id})-[:OWNS]->(shop:Shop)
WHERE u.status = 'active'
WITH u, shop, size([(shop)-[:HAS_COLLECTION]->(any:Collection) | any]) AS collections
WHERE collections < $max
CREATE (shop)-[:HAS_COLLECTION]->(c:Collection {id: $id, name: $name, created_at: $now,
                                                updated_at: $now})
CREATE (:Event {id: $event_id, type: 'collection.created', at: $now, actor_id: u.id,
                subject_id: c.id, data: $event_data})
"""

CREATE = statement(
    "collections.create",
    _CREATE
    + """
    WITH u, c
    UNWIND range(0, size($product_ids) - 1) AS pos
    MATCH (u)-[:LISTED]->(p:Product {id: $product_ids[pos]})
    CREATE (c)-[:INCLUDES {pos: pos}]->(p)
    RETURN DISTINCT c.id AS id
    """,
    write=True,
)

# an empty list of listings leaves no row after the UNWIND above: its own statement
CREATE_EMPTY = statement("collections.create_empty", _CREATE + "RETURN c.id AS id", write=True)

UPDATE = statement(
    "collections.update",
    """
    MATCH (u:User {id: $user_id})-[:OWNS]->(:Shop)-[:HAS_COLLECTION]->(c:Collection {id: $id})
    SET c.name = coalesce($name, c.name), c.updated_at = $now
    WITH u, c
    OPTIONAL MATCH (c)-[old:INCLUDES]->(:Product)
    WHERE $product_ids IS NOT NULL
    DELETE old
    WITH DISTINCT u, c
    CREATE (:Event {id: $event_id, type: 'collection.updated', at: $now, actor_id: u.id,
                    subject_id: c.id, data: $event_data})
    WITH u, c
    UNWIND range(0, size(coalesce($product_ids, [])) - 1) AS pos
    MATCH (u)-[:LISTED]->(p:Product {id: $product_ids[pos]})
    CREATE (c)-[:INCLUDES {pos: pos}]->(p)
    RETURN count(p) AS included
    """,
    write=True,
)

DELETE = statement(
    "collections.delete",
    """
    MATCH (u:User {id: $user_id})-[:OWNS]->(:Shop)-[:HAS_COLLECTION]->(c:Collection {id: $id})
    CREATE (:Event {id: $event_id, type: 'collection.deleted', at: $now, actor_id: u.id,
                    subject_id: c.id, data: $event_data})
    DETACH DELETE c
    RETURN $id AS id
    """,
    write=True,
)

HEAD = statement(
    "collections.head",
    """
    MATCH (owner:User)-[:OWNS]->(shop:Shop)-[:HAS_COLLECTION]->(c:Collection {id: $id})
    WHERE owner.status = 'active'
      AND ($viewer_id IS NULL OR NOT (owner)-[:BLOCKED]-(:User {id: $viewer_id}))
    RETURN c.id AS id, c.name AS name, c.created_at AS created_at, c.updated_at AS updated_at,
           owner.id AS owner_id, shop.id AS shop_id, shop.name AS shop_name
    """,
)

# listings in the collection a visitor may see (the owner also sees their inactive ones)
ITEMS = statement(
    "collections.items",
    """
    MATCH (c:Collection {id: $id})-[inc:INCLUDES]->(p:Product)<-[:LISTED]-(s:User)
    WHERE p.status <> 'deleted'
      AND ((p.status IN ['active', 'reserved', 'sold'] AND p.expires_at > $now)
           OR s.id = $viewer_id)
    WITH p, s, inc.pos AS pos
    """
    + PRODUCT_VIEW
    + ", pos ORDER BY pos ASC",
)

OF_USER = statement(
    "collections.of_user",
    """
    MATCH (owner:User {id: $user_id})-[:OWNS]->(shop:Shop)-[:HAS_COLLECTION]->(c:Collection)
    WHERE owner.status = 'active'
      AND ($viewer_id IS NULL OR NOT (owner)-[:BLOCKED]-(:User {id: $viewer_id}))
    WITH owner, shop, c,
         size([(c)-[:INCLUDES]->(p:Product) WHERE p.status = 'active' | p]) AS active
    // the first listing's first photo is the cover
    OPTIONAL MATCH (c)-[:INCLUDES {pos: 0}]->(:Product)-[:HAS_IMAGE {pos: 0}]->(cover:Image)
    RETURN c.id AS id, c.name AS name, c.created_at AS created_at, c.updated_at AS updated_at,
           owner.id AS owner_id, shop.id AS shop_id, shop.name AS shop_name, active,
           cover.id AS cover_id
    ORDER BY created_at ASC, id ASC
    """,
)


class CollectionService:
    def __init__(self, store: GraphStore) -> None:
        self._store = store

    async def _context(
        self, user_id: str, product_ids: list[str], collection_id: str | None = None
    ) -> dict[str, Any]:
        if len(product_ids) > MAX_ITEMS:
            raise Invalid(
                f"a collection holds at most {MAX_ITEMS} listings",
                errors={"product_ids": f"at most {MAX_ITEMS}"},
            )
        if len(set(product_ids)) != len(product_ids):
            raise Invalid("a listing is named twice", errors={"product_ids": "duplicate"})
        rows = await self._store.run(
            CONTEXT,
            {"user_id": user_id, "product_ids": product_ids, "collection_id": collection_id},
        )
        ctx = rows[0] if rows else {}
        if not ctx.get("shop_id"):
            raise Forbidden("collections are for shops (business accounts)")
        missing = sorted(set(product_ids) - set(ctx["owned"]))
        if missing:
            raise Invalid(
                "a collection holds your own listings",
                errors={"product_ids": f"not your listing: {', '.join(missing[:5])}"},
            )
        return ctx

    async def create(self, user_id: str, name: str, product_ids: list[str]) -> dict[str, Any]:
        ctx = await self._context(user_id, product_ids)
        if ctx["collections"] >= MAX_COLLECTIONS:
            raise Conflict(f"a shop has at most {MAX_COLLECTIONS} collections")
        collection_id = new_id()
        params = {"user_id": user_id, "id": collection_id, "name": name, "max": MAX_COLLECTIONS}
        if product_ids:  # a statement's facts are exactly its parameters
            rows = await self._store.run(CREATE, {**params, "product_ids": product_ids, **event()})
        else:
            rows = await self._store.run(CREATE_EMPTY, {**params, **event()})
        if not rows:
            raise Conflict("the shop changed while the collection was saved; try again")
        return await self.get(collection_id, viewer_id=user_id)

    async def update(
        self, user_id: str, collection_id: str, name: str | None, product_ids: list[str] | None
    ) -> dict[str, Any]:
        ctx = await self._context(user_id, product_ids or [], collection_id)
        if not ctx["collection_id"]:
            raise NotFound("no such collection of yours")
        params = {
            "user_id": user_id,
            "id": collection_id,
            "name": name,
            "product_ids": product_ids,
            **event(),
        }
        await self._store.run(UPDATE, params)
        return await self.get(collection_id, viewer_id=user_id)

    async def delete(self, user_id: str, collection_id: str) -> None:
        rows = await self._store.run(DELETE, {"user_id": user_id, "id": collection_id, **event()})
        if not rows:
            raise NotFound("no such collection of yours")

    async def get(self, collection_id: str, *, viewer_id: str | None) -> dict[str, Any]:
        rows = await self._store.run(HEAD, {"id": collection_id, "viewer_id": viewer_id})
        if not rows:
            raise NotFound("no such collection")
        head = rows[0]
        head["items"] = await self._store.run(
            ITEMS,
            {"id": collection_id, "viewer_id": viewer_id, "near": None, "now": now_ms()},
        )
        return head

    async def of_user(self, user_id: str, *, viewer_id: str | None) -> list[dict[str, Any]]:
        return await self._store.run(OF_USER, {"user_id": user_id, "viewer_id": viewer_id})
