"""Bulk-load a generated marketplace with batched UNWIND statements, photos made with Pillow."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from graph.bootstrap import Services
from graph.catalog.images import process
from graph.infra.geo import cell_size_m, public_point
from graph.infra.ids import event
from graph.infra.store import Statement, statement
from seeds.generator import TAXONOMY, Dataset, batches, generate

log = logging.getLogger("vendr.seeds")

DEMO_PASSWORD = "vendr-demo-pass"  # noqa: S105 - published demo accounts, local data only
BATCH = 5000
# batches of one statement in flight at once: FalkorDB runs a graph's writes one at a time, so a
# second batch only lets the next one's parameters be built and sent while the server works;
# on Neo4j, concurrent batches touching the same nodes would wait for each other's locks
IN_FLIGHT = {"falkordb": 2, "neo4j": 1}

LOAD_USERS = statement(
    "seeds.users",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    CREATE (u:User {id: r.id, handle: r.handle, display_name: r.display_name, kind: r.kind,
                    bio: '', city: r.city, created_at: r.created_at, status: 'active',
                    show_city: true, email_verified: coalesce(r.email_verified, false),
                    phone_verified: coalesce(r.phone_verified, false), trust_score: 0})
    SET u.location = point({latitude: r.lat, longitude: r.lon})
    CREATE (u)-[:HAS_CREDENTIAL]->(:Credential {email: r.email, password_hash: $password_hash})
    FOREACH (_ IN CASE WHEN r.shop_id IS NULL THEN [] ELSE [1] END |
      CREATE (u)-[:OWNS]->(:Shop {id: r.shop_id, name: r.shop_name, verified: false,
                                  created_at: r.created_at}))
    RETURN count(u) AS n
    """,
    write=True,
)

LOAD_IMAGES = statement(
    "seeds.images",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    MERGE (i:Image {id: r.id})
      ON CREATE SET i.sha256 = r.id, i.w = r.w, i.h = r.h, i.bytes = r.bytes, i.created_at = $now
    RETURN count(i) AS n
    """,
    write=True,
)

# the points in the node's map, not SET after it: FalkorDB then indexes each listing once
# (a fifth less server time a batch)
LOAD_PRODUCTS = statement(
    "seeds.products",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    MATCH (u:User {id: r.owner})
    CREATE (p:Product {id: r.id, title: r.title, description: r.description, price: r.price,
                       currency: r.currency, condition: r.condition,
                       local_pickup: r.local_pickup, ships: r.ships,
                       shipping_price: r.shipping_price, status: r.status, quantity: r.quantity,
                       created_at: r.created_at, updated_at: r.created_at,
                       expires_at: r.expires_at, hype: 0.0, seller_id: r.owner,
                       location: point({latitude: r.lat, longitude: r.lon}),
                       place: point(r.place), place_cell: $place_cell})
    CREATE (u)-[:LISTED]->(p)
    FOREACH (pos IN range(0, size(r.images) - 1) |
      MERGE (i:Image {id: r.images[pos]})
      CREATE (p)-[:HAS_IMAGE {pos: pos}]->(i))
    FOREACH (name IN r.tags |
      MERGE (t:Tag {name: name})
      CREATE (p)-[:TAGGED]->(t))
    RETURN count(p) AS n
    """,
    write=True,
)

LOAD_ROOMS = statement(
    "seeds.rooms",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    MATCH (buyer:User {id: r.buyer})
    MATCH (seller:User {id: r.seller})
    MATCH (p:Product {id: r.product})
    CREATE (room:Room {id: r.id, key: r.key, created_at: r.at, last_message_at: r.at,
                       product_id: p.id, buyer_id: buyer.id, seller_id: seller.id,
                       open_offer_id: r.open_offer_id})
    CREATE (buyer)-[:MEMBER {role: 'buyer', last_read_at: r.at, unread: 0}]->(room)
    CREATE (seller)-[:MEMBER {role: 'seller', last_read_at: r.at, unread: 0}]->(room)
    CREATE (room)-[:ABOUT]->(p)
    RETURN count(room) AS n
    """,
    write=True,
)

LOAD_OFFERS = statement(
    "seeds.offers",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    MATCH (maker:User {id: r.maker})
    MATCH (p:Product {id: r.product})
    CREATE (maker)-[:MADE]->(o:Offer {id: r.id, amount: r.amount, currency: r.currency,
                                      quantity: r.quantity, status: r.status, by: r.by,
                                      buyer_id: r.buyer_id, seller_id: r.seller_id,
                                      product_id: p.id, room_id: r.room_id,
                                      thread_id: r.thread_id, round: r.round,
                                      created_at: r.created_at, updated_at: r.updated_at,
                                      closed_at: r.closed_at, due_at: r.due_at,
                                      due_event: r.due_event, order_id: r.order_id})-[:FOR]->(p)
    RETURN count(o) AS n
    """,
    write=True,
)

LOAD_COUNTERS = statement(
    "seeds.counters",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    MATCH (new:Offer {id: r.new})
    MATCH (old:Offer {id: r.old})
    CREATE (new)-[:COUNTERS]->(old)
    RETURN count(*) AS n
    """,
    write=True,
)

LOAD_ORDERS = statement(
    "seeds.orders",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    MATCH (buyer:User {id: r.buyer})
    MATCH (p:Product {id: r.product})
    CREATE (buyer)-[:PLACED]->(o:Order {id: r.id, status: r.status, quantity: r.quantity,
                                        amount: r.amount, currency: r.currency,
                                        buyer_id: buyer.id, seller_id: r.seller,
                                        room_id: r.room_id, offer_id: r.offer_id,
                                        created_at: r.created_at, updated_at: r.updated_at,
                                        confirmed_at: r.confirmed_at,
                                        completed_at: r.completed_at,
                                        cancelled_at: r.cancelled_at,
                                        cancelled_by: r.cancelled_by, due_at: r.due_at,
                                        due_event: r.due_event})
    CREATE (o)-[:OF {quantity: r.quantity, unit_price: r.unit_price}]->(p)
    RETURN count(o) AS n
    """,
    write=True,
)

LOAD_EVENTS = statement(
    "seeds.events",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    CREATE (e:Event {id: r.id, type: r.type, at: r.at, actor_id: r.actor_id,
                     subject_id: r.subject_id, data: r.data})
    RETURN count(e) AS n
    """,
    write=True,
)

LOAD_REVIEWS = statement(
    "seeds.reviews",
    """
    CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',
                    subject_id: null, data: $event_data})
    WITH 1 AS _
    UNWIND $rows AS r
    MATCH (o:Order {id: r.order_id})
    MATCH (author:User {id: r.author})
    MATCH (them:User {id: r.subject})
    CREATE (author)-[:WROTE]->(rv:Review {id: r.id, rating: r.rating, comment: r.comment,
                                          role: r.role, order_id: o.id, author_id: author.id,
                                          subject_id: them.id, created_at: r.created_at,
                                          published_at: r.published_at,
                                          due_at: r.due_at})-[:ABOUT]->(them)
    CREATE (rv)-[:FOR]->(o)
    SET o.buyer_review_id = CASE WHEN r.role = 'buyer' THEN r.id ELSE o.buyer_review_id END,
        o.seller_review_id = CASE WHEN r.role = 'seller' THEN r.id ELSE o.seller_review_id END
    RETURN count(rv) AS n
    """,
    write=True,
)

COUNT_USERS = statement("seeds.count_users", "MATCH (u:User) RETURN count(u) AS n")


def _edges(kind: str) -> Statement:
    # one statement per relationship type: types cannot be parameters. Rows grouped by person
    # first: each person is looked up once a batch, not once a row (a generated batch holds
    # about a hundred people's rows; about 12% less server time on FalkorDB at 1M rows)
    return statement(
        f"seeds.{kind.lower()}",
        "CREATE (:Event {id: $event_id, type: 'seed.loaded', at: $now, actor_id: 'system',\n"
        "                subject_id: null, data: $event_data})\n"
        "WITH 1 AS _\n"
        "UNWIND $rows AS row\n"
        "WITH row.u AS uid, collect({p: row.p, at: row.at}) AS theirs\n"
        "MATCH (u:User {id: uid})\n"
        "UNWIND theirs AS r\n"
        "MATCH (p:Product {id: r.p})\n"
        "CREATE (u)-[:" + kind + " {at: r.at}]->(p)\n"
        "RETURN count(*) AS n",
        write=True,
    )


LOAD_EDGES: dict[str, Statement] = {k: _edges(k) for k in ("VIEWED", "LIKED", "PASSED", "SAVED")}


def photo(category: int, variant: int, size: int = 480) -> bytes:
    """A small still life for a category: its colour, a few shapes, the category name."""
    cat = TAXONOMY[category]
    img = Image.new("RGB", (size, size), tuple(min(255, c + 60) for c in cat.colour))
    draw = ImageDraw.Draw(img)
    r, g, b = cat.colour
    for k in range(3 + variant):
        angle = 2 * math.pi * (k + variant * 0.37) / (3 + variant)
        cx = size / 2 + math.cos(angle) * size * 0.25
        cy = size / 2 + math.sin(angle) * size * 0.25
        radius = size * (0.08 + 0.03 * ((k + variant) % 3))
        shade = ((r + 40 * k) % 256, (g + 25 * variant) % 256, (b + 15 * k) % 256)
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        (draw.ellipse if (k + variant) % 2 else draw.rectangle)(box, fill=shade)
    draw.text((16, size - 32), f"{cat.name} #{variant + 1}", fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@dataclass
class LoadReport:
    users: int
    products: int
    interactions: int
    images: int
    seconds: float
    offers: int = 0
    orders: int = 0

    @property
    def rows_per_second(self) -> float:
        rows = self.users + self.products + self.interactions
        return rows / self.seconds if self.seconds else 0.0


async def _run_batches(
    services: Services, st: Statement, rows: list[dict[str, Any]], **params: Any
) -> int:
    """Run `st` over `rows` a batch at a time, up to `IN_FLIGHT` batches sent ahead. The
    batches of one statement are independent of each other (what one matches, an earlier
    statement made); each is one source event (graph/infra/events/): a replay loads it as
    one, in the log's order, which is the order they were made in here."""
    depth = IN_FLIGHT.get(services.store.dialect, 1)
    pending: deque[asyncio.Future[list[dict[str, Any]]]] = deque()
    total = 0
    try:
        for chunk in batches(rows, BATCH):
            if len(pending) >= depth:
                total += (await pending.popleft())[0]["n"]
            run = services.store.run(st, {"rows": chunk, **params, **event()})
            pending.append(asyncio.ensure_future(run))
        while pending:
            total += (await pending.popleft())[0]["n"]
    finally:
        for left in pending:  # one failed (or we were cancelled): the others are not waited for
            left.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return total


async def _load_photos(
    services: Services, per_category: int, used: set[str] | None = None
) -> dict[str, str]:
    """Make each category's photos (and any other `category:variant` the listings use), store
    them like uploads, return variant key -> image id."""
    settings = services.settings
    ids: dict[str, str] = {}
    rows = []
    keys = {f"{cat}:{variant}" for cat in range(len(TAXONOMY)) for variant in range(per_category)}
    for key in sorted(keys | (used or set())):
        cat, variant = (int(x) for x in key.split(":"))
        processed = await asyncio.to_thread(
            process,
            photo(cat, variant),
            max_pixels=settings.max_image_pixels,
            max_side=settings.image_max_side,
            thumb_side=settings.thumb_side,
        )
        await asyncio.to_thread(services.blobs.put, processed.sha256, processed.data)
        await asyncio.to_thread(services.blobs.put, processed.sha256 + ".thumb", processed.thumb)
        ids[f"{cat}:{variant}"] = processed.sha256
        rows.append(
            {
                "id": processed.sha256,
                "w": processed.width,
                "h": processed.height,
                "bytes": len(processed.data),
            }
        )
    await services.store.run(LOAD_IMAGES, {"rows": rows, **event()})
    return ids


async def load(services: Services, data: Dataset, *, per_category: int = 4) -> LoadReport:
    started = time.monotonic()
    used = {k for p in data.products for k in p["images"]}
    photos = await _load_photos(services, per_category, used)
    password_hash = await services.passwords.hash(DEMO_PASSWORD)
    users = await _run_batches(services, LOAD_USERS, data.users, password_hash=password_hash)
    products = [
        {k: v for k, v in p.items() if k != "category"}
        | {"images": [photos[k] for k in p["images"]], "place": public_point(p["lat"], p["lon"])}
        for p in data.products
    ]
    loaded = await _run_batches(services, LOAD_PRODUCTS, products, place_cell=cell_size_m())
    edges = 0
    for kind, rows in data.interactions.items():
        edges += await _run_batches(services, LOAD_EDGES[kind], rows)
    deals = data.deals
    for st, rows in (
        (LOAD_ROOMS, deals.rooms),
        (LOAD_OFFERS, deals.offers),
        (LOAD_COUNTERS, deals.counters),
        (LOAD_ORDERS, deals.orders),
        (LOAD_REVIEWS, deals.reviews),
        (LOAD_EVENTS, deals.events),
    ):
        await _run_batches(services, st, rows)
    # a bulk load goes around the catalog's write-through: hype and trust (independent: hype
    # reads engagement and writes listings, trust reads people, deals and reviews and writes
    # people), then the feed's pools, which read both
    async with asyncio.TaskGroup() as passes:
        passes.create_task(services.jobs.hype())
        passes.create_task(services.trust.recompute())
    await services.cache.bump("catalog")
    await services.pools.rebuild(wait=True)
    await services.learner.request()  # the deck's blend, fitted to what was loaded
    return LoadReport(
        users,
        loaded,
        edges,
        len(photos),
        time.monotonic() - started,
        offers=len(deals.offers),
        orders=len(deals.orders),
    )


async def seed(
    services: Services,
    *,
    users: int,
    products: int,
    interactions: int,
    seed: int,
    now: int | None = None,
) -> LoadReport:
    now = now if now is not None else int(time.time() * 1000)
    data = generate(users, products, interactions, seed, now)
    return await load(services, data)


async def load_demo_if_empty(services: Services, *, seed_value: int = 7) -> bool:
    if (await services.store.run(COUNT_USERS))[0]["n"]:
        return False
    settings = services.settings
    report = await seed(
        services,
        users=settings.demo_users,
        products=settings.demo_products,
        interactions=settings.demo_products * 10,
        seed=seed_value,
    )
    log.info("demo data: %s; log in as anna@demo.vendr.test / %s", report, DEMO_PASSWORD)
    return True
