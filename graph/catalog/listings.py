"""Listings: create, read, change, delete (soft), renew. Owner-only writes, allowed transitions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict
from typing import Any

from graph.catalog.commands import CreateProduct, Shipping, UpdateProduct
from graph.catalog.places import location_param, place_params
from graph.catalog.pools import Pools
from graph.catalog.tags import normalise_all
from graph.infra.cache import QueryCache
from graph.infra.errors import Conflict, Forbidden, Invalid, NotFound
from graph.infra.geo import Place
from graph.infra.ids import event, new_id, now_ms
from graph.infra.money import Money
from graph.infra.store import GraphStore, statement
from graph.notify import OUTBOX_NODE, SAVERS_OUTBOX, Notifier, record, savers

# a listing's stock or status changed: browse caches and feed pools follow (the catalog's
# `changed`, handed to what changes stock: deals, promotions, account deletion)
Changed = Callable[[Iterable[str]], Awaitable[None]]

DAY_MS = 86_400_000
MAX_IMAGES = 5

# status -> the statuses an owner may move a listing to by PATCH (sold is final; expiry and
# deletion have their own routes)
TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"reserved", "sold"}),
    "reserved": frozenset({"active", "sold"}),
    "sold": frozenset(),
    "expired": frozenset(),
    "hidden": frozenset(),  # by a moderator: the owner may still delete it
    "deleted": frozenset(),
}
EDITABLE = ("active", "reserved", "expired")

# The public shape of a listing; expects `p` (product) and `s` (seller) bound. `place` is its
# public place (a cell's centre, graph.infra.geo) and `distance_m` is measured from it; the
# exact `location` is shown to its owner only.
PRODUCT_VIEW = """
OPTIONAL MATCH (s)-[:OWNS]->(shop:Shop)
OPTIONAL MATCH (s)-[:HAS_AVATAR]->(avatar:Image)
RETURN p.id AS id, p.title AS title, p.description AS description, p.price AS price,
       p.currency AS currency, p.condition AS condition, p.local_pickup AS local_pickup,
       coalesce(p.ships, false) AS ships, p.shipping_price AS shipping_price,
       p.location AS location, p.place AS place, p.status AS status, p.quantity AS quantity,
       p.created_at AS created_at, p.updated_at AS updated_at, p.expires_at AS expires_at,
       p.hype AS hype, p.boost AS boost, p.promoted_until AS promoted_until,
       [(p)-[:TAGGED]->(t:Tag) | t.name] AS tags,
       [(p)-[r:HAS_IMAGE]->(i:Image) | {id: i.id, pos: r.pos, width: i.w, height: i.h}] AS images,
       s.id AS seller_id, s.handle AS seller_handle, s.display_name AS seller_name,
       s.kind AS seller_kind, s.trust_score AS seller_trust, shop.name AS shop_name,
       avatar.id AS seller_avatar, coalesce(s.show_city, true) AS seller_shows_place,
       $near AS viewer,
       CASE WHEN $near IS NULL THEN null
            ELSE round({{distance}}(p.place, point($near)) * 1000.0) / 1000.0 END AS distance_m
"""

CONTEXT = statement(
    "catalog.context",
    """
    MATCH (u:User {id: $user_id})
    OPTIONAL MATCH (owner:User)-[:LISTED]->(p:Product {id: $product_id})
    RETURN u.kind AS kind, u.location AS location,
           [(u)-[:UPLOADED]->(i:Image) WHERE i.id IN $image_ids | i.id] AS owned_images,
           owner.id AS owner_id, p.status AS status, p.quantity AS quantity,
           p.currency AS currency, p.local_pickup AS local_pickup,
           coalesce(p.ships, false) AS ships, p.shipping_price AS shipping_price
    """,
)

CREATE = statement(
    "catalog.create",
    """
    MATCH (s:User {id: $user_id}) WHERE s.status = 'active'
    WITH s, [(s)-[:UPLOADED]->(i:Image) WHERE i.id IN $image_ids | i.id] AS owned
    WHERE size(owned) = size($image_ids)
    CREATE (p:Product {id: $id, title: $title, description: $description, price: $price,
                       currency: $currency, condition: $condition, local_pickup: $local_pickup,
                       ships: $ships, shipping_price: $shipping_price,
                       status: 'active', quantity: $quantity, created_at: $now, updated_at: $now,
                       expires_at: $expires_at, hype: 0.0, seller_id: $user_id})
    // (the exact point, the profile's when none was given, is a fact of its own: an erased
    // one leaves the listing without it, not unlisted)
    SET p.location = CASE WHEN $location IS NULL THEN null ELSE point($location) END,
        p.place = point($place), p.place_cell = $place_cell
    CREATE (s)-[:LISTED]->(p)
    FOREACH (pos IN range(0, size($image_ids) - 1) |
      MERGE (i:Image {id: $image_ids[pos]})
      CREATE (p)-[:HAS_IMAGE {pos: pos}]->(i))
    FOREACH (name IN $tags |
      MERGE (t:Tag {name: name})
      CREATE (p)-[:TAGGED]->(t))
    CREATE (e:Event {id: $event_id, type: 'product.created', at: $now, actor_id: $user_id,
                     subject_id: $id, data: $event_data})
    // the saved searches it matches are found when the outbox fans this out
    """
    + OUTBOX_NODE
    + """
    RETURN p.id AS id
    """,
    write=True,
)

GET = statement(
    "catalog.get",
    """
    MATCH (s:User)-[:LISTED]->(p:Product {id: $id})
    WHERE p.status <> 'deleted'
      AND ((NOT p.status IN ['expired', 'hidden'] AND s.status = 'active')
           OR s.id = $viewer_id)
      AND ($viewer_id IS NULL OR NOT (s)-[:BLOCKED]-(:User {id: $viewer_id}))
    WITH p, s
    """
    + PRODUCT_VIEW,
)

UPDATE = statement(
    "catalog.update",
    """
    MATCH (s:User {id: $user_id})-[:LISTED]->(p:Product {id: $id})
    WHERE p.status IN $editable AND ($status IS NULL OR p.status IN $status_from)
    WITH s, p, [(s)-[:UPLOADED]->(i:Image) WHERE i.id IN coalesce($image_ids, []) | i.id] AS owned
    WHERE size(owned) = size(coalesce($image_ids, []))
    WITH s, p, p.price AS was, p.currency AS was_currency
    SET p += $changes, p.updated_at = $now
    SET p.location = CASE WHEN $location IS NULL THEN p.location ELSE point($location) END,
        p.place = CASE WHEN $place IS NULL THEN p.place ELSE point($place) END,
        p.place_cell = CASE WHEN $place IS NULL THEN p.place_cell ELSE $place_cell END
    WITH s, p, was, was_currency
    OPTIONAL MATCH (p)-[old_tag:TAGGED]->(:Tag)
    WHERE $tags IS NOT NULL
    DELETE old_tag
    WITH DISTINCT s, p, was, was_currency
    OPTIONAL MATCH (p)-[old_image:HAS_IMAGE]->(:Image)
    WHERE $image_ids IS NOT NULL
    DELETE old_image
    WITH DISTINCT s, p, was, was_currency
    // the people who saved it hear of a lower price and of its sale
    FOREACH (_ IN CASE WHEN p.price < was AND p.currency = was_currency
                        AND p.status = 'active' THEN [1] ELSE [] END |
      CREATE (:Outbox {id: $ob_id, key: $ob_id, kind: 'saved', type: 'saved.price_drop',
                       audience: 'savers', actor_id: $user_id, subject_id: p.id,
                       data: '{"price":' + toString(p.price) + ',"was":' + toString(was)
                             + ',"currency":"' + p.currency + '"}',
                       created_at: $now, pending_at: $now}))
    FOREACH (_ IN CASE WHEN $status = 'sold' THEN [1] ELSE [] END |"""
    + SAVERS_OUTBOX
    + """)
    FOREACH (name IN coalesce($tags, []) |
      MERGE (t:Tag {name: name})
      CREATE (p)-[:TAGGED]->(t))
    FOREACH (pos IN range(0, size(coalesce($image_ids, [])) - 1) |
      MERGE (i:Image {id: $image_ids[pos]})
      CREATE (p)-[:HAS_IMAGE {pos: pos}]->(i))
    CREATE (e:Event {id: $event_id, type: 'product.updated', at: $now, actor_id: $user_id,
                     subject_id: $id, data: $event_data})
    RETURN p.id AS id
    """,
    write=True,
)

DELETE = statement(
    "catalog.delete",
    """
    MATCH (s:User {id: $user_id})-[:LISTED]->(p:Product {id: $id})
    WHERE p.status <> 'deleted'
    SET p.status = 'deleted', p.deleted_at = $now, p.updated_at = $now
    CREATE (e:Event {id: $event_id, type: 'product.deleted', at: $now, actor_id: $user_id,
                     subject_id: $id, data: $event_data})
    RETURN p.id AS id
    """,
    write=True,
)

RENEW = statement(
    "catalog.renew",
    """
    MATCH (s:User {id: $user_id})-[:LISTED]->(p:Product {id: $id})
    WHERE p.status IN ['active', 'expired']
    SET p.status = 'active', p.expires_at = $expires_at, p.renewed_at = $now,
        p.updated_at = $now
    CREATE (e:Event {id: $event_id, type: 'product.renewed', at: $now, actor_id: $user_id,
                     subject_id: $id, data: $event_data})
    RETURN p.id AS id
    """,
    write=True,
)


def _point(value: dict[str, Any]) -> dict[str, float]:
    """A stored point as a statement takes it (`point($location)`)."""
    return {"latitude": value["latitude"], "longitude": value["longitude"]}


def _shipping(
    shipping: Shipping | None, local_pickup: bool, currency: str, was: dict[str, Any] | None
) -> dict[str, Any]:
    """The listing's `ships` and `shipping_price` once this change is made (`was`: the stored
    listing, for an edit that leaves shipping as it is). Refuses a listing nobody can get."""
    if shipping is None and was is not None:
        shipping = Shipping(bool(was["ships"]))
        if was["shipping_price"] is not None:
            if currency != was["currency"]:
                raise Invalid(
                    "restate the shipping price in the listing's new currency",
                    errors={"shipping": "price in the old currency"},
                )
            shipping = Shipping(True, Money(int(was["shipping_price"]), currency))
    ships = bool(shipping and shipping.ships)
    if not local_pickup and not ships:
        raise Invalid(
            "offer local pickup, shipping or both",
            errors={"shipping": "neither pickup nor shipping"},
        )
    price = shipping.price if shipping else None
    if price is not None and price.currency != currency:
        raise Invalid(
            f"the shipping price is in the listing's currency ({currency})",
            errors={"shipping": "currency differs from the price's"},
        )
    return {"ships": ships, "shipping_price": price.amount if price else None}


class CatalogService:
    def __init__(
        self,
        store: GraphStore,
        listing_ttl_days: int,
        cache: QueryCache,
        pools: Pools,
        notifier: Notifier,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._ttl_ms = listing_ttl_days * DAY_MS
        self._cache = cache
        self._pools = pools

    async def _changed(self, product_id: str) -> None:
        await self.changed([product_id])

    async def changed(self, product_ids: Iterable[str]) -> None:
        """After listings' writes (here or a deal's stock): browse caches of older versions go,
        their pools follow, and what is cached of each of them is marked stale."""
        ids = list(product_ids)
        await self._cache.bump("catalog", ids)
        await self._pools.refresh(ids)

    async def _context(
        self, user_id: str, product_id: str | None = None, image_ids: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        rows = await self._store.run(
            CONTEXT, {"user_id": user_id, "product_id": product_id, "image_ids": list(image_ids)}
        )
        if not rows:
            raise NotFound("account not found")
        return rows[0]

    @staticmethod
    def _check_images(image_ids: tuple[str, ...], owned: list[str]) -> None:
        if not 1 <= len(image_ids) <= MAX_IMAGES:
            raise Invalid("a listing has 1 to 5 images", errors={"image_ids": "1 to 5 images"})
        if len(set(image_ids)) != len(image_ids):
            raise Invalid("an image is listed twice", errors={"image_ids": "duplicate image"})
        missing = sorted(set(image_ids) - set(owned))
        if missing:
            raise Invalid(
                "images must be ones you uploaded",
                errors={"image_ids": f"not your upload: {', '.join(missing)}"},
            )

    async def create(self, cmd: CreateProduct) -> dict[str, Any]:
        tags = normalise_all(list(cmd.tags))
        ctx = await self._context(cmd.owner_id, image_ids=cmd.image_ids)
        self._check_images(cmd.image_ids, ctx["owned_images"])
        if cmd.location is None and not ctx["location"]:
            raise Invalid(
                "give the listing a location, or set one on your profile",
                errors={"location": "required when your profile has none"},
            )
        if cmd.quantity != 1 and ctx["kind"] != "business":
            raise Invalid("only shops list quantities", errors={"quantity": "shops only"})
        product_id = new_id()
        now = now_ms()
        location = location_param(cmd.location) or _point(ctx["location"])
        params = {
            "user_id": cmd.owner_id,
            "id": product_id,
            "title": cmd.title,
            "description": cmd.description,
            "price": cmd.price.amount,
            "currency": cmd.price.currency,
            "condition": cmd.condition,
            "local_pickup": cmd.local_pickup,
            **_shipping(cmd.shipping, cmd.local_pickup, cmd.price.currency, None),
            "quantity": cmd.quantity,
            "location": location,
            **place_params(location),
            "image_ids": list(cmd.image_ids),
            "tags": tags,
            "expires_at": now + self._ttl_ms,
            **event(),
            **record(
                "search",
                "search.match",
                subject_id=product_id,
                actor_id=cmd.owner_id,
                audience="searches",
                key=f"listed:{product_id}",
            ),
            "now": now,
        }
        rows = await self._store.run(CREATE, params)
        if not rows:  # an image or the location vanished between the checks and the write
            raise Conflict("the listing changed while it was saved; try again")
        await self._changed(product_id)
        await self._notifier.wake_outbox()
        return await self.get(product_id, viewer_id=cmd.owner_id)

    async def get(
        self, product_id: str, *, viewer_id: str | None = None, near: Place | None = None
    ) -> dict[str, Any]:
        rows = await self._store.run(
            GET, {"id": product_id, "viewer_id": viewer_id, "near": location_param(near)}
        )
        if not rows:
            raise NotFound("no such listing")
        return rows[0]

    def _owned(self, ctx: dict[str, Any], user_id: str) -> None:
        if ctx["owner_id"] is None or ctx["status"] == "deleted":
            raise NotFound("no such listing")
        if ctx["owner_id"] != user_id:
            raise Forbidden("only the seller can change this listing")

    async def update(self, cmd: UpdateProduct) -> dict[str, Any]:
        tags = normalise_all(list(cmd.tags)) if cmd.tags is not None else None
        ctx = await self._context(cmd.user_id, cmd.product_id, cmd.image_ids or ())
        self._owned(ctx, cmd.user_id)
        if cmd.image_ids is not None:
            self._check_images(cmd.image_ids, ctx["owned_images"])
        shop = ctx["kind"] == "business"
        # a shop restocking a listing that sold out brings it back
        restock = (
            shop
            and cmd.quantity is not None
            and cmd.status is None
            and ctx["status"] in ("reserved", "sold")
        )
        if ctx["status"] not in EDITABLE and not restock:
            raise Conflict(f"a {ctx['status']} listing cannot be changed")
        if not shop and cmd.status == "active" and ctx["quantity"] == 0:
            raise Conflict(
                "an order holds this listing: it comes back if the order is cancelled",
                errors={"status": "held by an order"},
            )
        status_from = [s for s, targets in TRANSITIONS.items() if cmd.status in targets]
        if cmd.status is not None and cmd.status != ctx["status"]:
            if ctx["status"] not in status_from:
                raise Conflict(
                    f"a listing cannot go from {ctx['status']} to {cmd.status}",
                    errors={"status": f"not allowed from {ctx['status']}"},
                )
        if cmd.quantity is not None and cmd.quantity != 1 and ctx["kind"] != "business":
            raise Invalid("only shops list quantities", errors={"quantity": "shops only"})
        changes = {
            k: v
            for k, v in asdict(cmd).items()
            if v is not None
            and k in ("title", "description", "condition", "local_pickup", "quantity", "status")
        }
        if cmd.price is not None:
            changes |= {"price": cmd.price.amount, "currency": cmd.price.currency}
        if cmd.shipping is not None or cmd.local_pickup is not None or cmd.price is not None:
            changes |= _shipping(
                cmd.shipping,
                ctx["local_pickup"] if cmd.local_pickup is None else cmd.local_pickup,
                changes.get("currency", ctx["currency"]),
                ctx,
            )
        if cmd.status == ctx["status"]:
            changes.pop("status", None)
        if not shop:  # a person's one unit is the deals' to take and give back
            changes.pop("quantity", None)
        if restock:
            changes["status"], status_from = "active", [ctx["status"]]
        params = {
            "user_id": cmd.user_id,
            "id": cmd.product_id,
            "editable": [*EDITABLE, ctx["status"]] if restock else list(EDITABLE),
            "status": changes.get("status"),
            "status_from": status_from,
            "changes": changes,
            "location": location_param(cmd.location),
            **place_params(cmd.location),
            "tags": tags,
            "image_ids": list(cmd.image_ids) if cmd.image_ids is not None else None,
            "ob_id": new_id(),
            **savers("saved.sold", cmd.user_id),
            **event(),
        }
        rows = await self._store.run(UPDATE, params)
        if not rows:
            raise Conflict("the listing changed while it was saved; try again")
        await self._changed(cmd.product_id)
        await self._notifier.wake_outbox()
        return await self.get(cmd.product_id, viewer_id=cmd.user_id)

    async def delete(self, user_id: str, product_id: str) -> None:
        ctx = await self._context(user_id, product_id)
        self._owned(ctx, user_id)
        rows = await self._store.run(DELETE, {"user_id": user_id, "id": product_id, **event()})
        if not rows:
            raise NotFound("no such listing")
        await self._changed(product_id)

    async def renew(self, user_id: str, product_id: str) -> dict[str, Any]:
        ctx = await self._context(user_id, product_id)
        self._owned(ctx, user_id)
        if ctx["status"] not in ("active", "expired"):
            raise Conflict(f"a {ctx['status']} listing cannot be renewed")
        now = now_ms()
        params = {
            "user_id": user_id,
            "id": product_id,
            "expires_at": now + self._ttl_ms,
            **event(),
            "now": now,
        }
        rows = await self._store.run(RENEW, params)
        if not rows:
            raise Conflict("the listing changed while it was renewed; try again")
        await self._changed(product_id)
        return await self.get(product_id, viewer_id=user_id)
