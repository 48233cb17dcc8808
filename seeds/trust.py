"""Trust for a generated marketplace: who verified what, reviews after completed deals, and
(when asked for) planted sybil rings to evaluate the trust score and the fraud-ring detector.

Each part draws from its own random stream, so adding it leaves the rest of the generated data
as it was. A ring is a handful of fresh accounts in one city, email-verified only, that list
cheap items, buy them from each other and rate each other five stars both ways, with a few
deals with honest people (the attack edges: small purchases from honest sellers, who rate a
prompt buyer well).
"""

from __future__ import annotations

import random
from typing import Any

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WINDOW_MS = 14 * DAY_MS

EMAIL_SHARE = 0.85
PHONE_SHARE = 0.35

# how honest people rate a completed deal
STARS = (5, 4, 3, 2, 1)
STAR_WEIGHTS = (0.58, 0.26, 0.08, 0.04, 0.04)
COMMENTS = {
    5: ("Smooth deal, thanks!", "Exactly as described.", "Friendly and quick.", ""),
    4: ("Good, a little late.", "Fine overall.", ""),
    3: ("It was okay.", "Took a while to arrange.", ""),
    2: ("Not quite as described.", "Hard to reach."),
    1: ("Never again.", "Item was not as shown."),
}


def verify(users: list[dict[str, Any]], seed: int) -> None:
    """Mark who verified their email and phone (in place)."""
    rng = random.Random(f"verify-{seed}")
    for user in users:
        user["email_verified"] = rng.random() < EMAIL_SHARE
        user["phone_verified"] = user["email_verified"] and rng.random() < PHONE_SHARE / EMAIL_SHARE


def _review(
    rng: random.Random,
    order: dict[str, Any],
    author_role: str,
    stars: int,
    now: int,
    review_id: str,
) -> dict[str, Any]:
    done = order["completed_at"]
    author = order["buyer"] if author_role == "buyer" else order["seller"]
    subject = order["seller"] if author_role == "buyer" else order["buyer"]
    return {
        "id": review_id,
        "order_id": order["id"],
        "author": author,
        "subject": subject,
        "role": author_role,
        "rating": stars,
        "comment": rng.choice(COMMENTS[stars]),
        "created_at": min(done + rng.randint(1, 240) * HOUR_MS, now - 1),
        "window_closes": done + WINDOW_MS,
    }


def _publish(reviews: list[dict[str, Any]], now: int) -> None:
    """Blind until both sides wrote or the window closed, as the service does it."""
    by_order: dict[str, list[dict[str, Any]]] = {}
    for review in reviews:
        by_order.setdefault(review["order_id"], []).append(review)
    for pair in by_order.values():
        both = max(r["created_at"] for r in pair) if len(pair) == 2 else None
        for review in pair:
            closes = review.pop("window_closes")
            if both is not None:
                review["published_at"], review["due_at"] = both, None
            elif closes <= now:
                review["published_at"], review["due_at"] = closes, None
            else:
                review["published_at"], review["due_at"] = None, closes


def review_deals(orders: list[dict[str, Any]], seed: int, now: int) -> list[dict[str, Any]]:
    """Reviews of completed orders: most buyers and about half of sellers write one."""
    rng = random.Random(f"reviews-{seed}")
    out: list[dict[str, Any]] = []
    for order in orders:
        if order["status"] != "completed":
            continue
        for role, share in (("buyer", 0.65), ("seller", 0.45)):
            if rng.random() < share:
                stars = rng.choices(STARS, weights=STAR_WEIGHTS)[0]
                out.append(_review(rng, order, role, stars, now, f"seed-v{len(out) + 1:08d}"))
    _publish(out, now)
    return out


def plant_rings(
    data: Any,
    *,
    rings: int,
    size: int,
    seed: int,
    now: int,
    cities: tuple[tuple[str, float, float, float], ...],
    user_id: Any,
    product_id: Any,
    phone_share: float = 0.0,
) -> list[dict[str, Any]]:
    """Add `rings` rings of `size` fake accounts to `data` (users, products, orders); returns
    their reviews. `data.rings` lists the member ids of each ring (the hidden truth)."""
    rng = random.Random(f"rings-{seed}")
    honest = [p for p in data.products if p["status"] == "active" and p["price"] <= 3000]
    reviews: list[dict[str, Any]] = []
    n_order = 0

    def order(buyer: str, product: dict[str, Any], at: int) -> dict[str, Any]:
        nonlocal n_order
        n_order += 1
        done = min(at + rng.randint(24, 96) * HOUR_MS, now - HOUR_MS)
        at = min(at, done - 2 * HOUR_MS)
        row = {
            "id": f"seed-ring-d{n_order:07d}",
            "buyer": buyer,
            "seller": product["owner"],
            "product": product["id"],
            "quantity": 1,
            "unit_price": product["price"],
            "amount": product["price"],
            "currency": product["currency"],
            "room_id": None,
            "offer_id": None,
            "created_at": at,
            "updated_at": done,
            "status": "completed",
            "confirmed_at": at + HOUR_MS,
            "completed_at": done,
            "cancelled_at": None,
            "cancelled_by": None,
            "due_at": None,
            "due_event": None,
        }
        data.deals.orders.append(row)
        return row

    def rate(row: dict[str, Any], role: str, stars: int) -> None:
        review_id = f"seed-ring-v{len(reviews) + 1:07d}"
        reviews.append(_review(rng, row, role, stars, now, review_id))

    for ring in range(rings):
        city = rng.choices(cities, weights=[c[3] for c in cities])[0]
        members: list[str] = []
        joined = now - rng.randint(20, 150) * DAY_MS
        for _ in range(size):
            i = len(data.users)
            uid = user_id(i)
            members.append(uid)
            handle = f"{rng.choice(('deals', 'shop', 'bargain', 'top'))}{i}"
            data.users.append(
                {
                    "id": uid,
                    "handle": handle,
                    "display_name": handle.capitalize(),
                    "kind": "person",
                    "email": f"{handle}@demo.vendr.test",
                    "shop_name": None,
                    "shop_id": None,
                    "city": city[0],
                    "lat": city[1] + rng.uniform(-0.05, 0.05),
                    "lon": city[2] + rng.uniform(-0.05, 0.05),
                    "created_at": joined + rng.randint(0, 5) * DAY_MS,
                    "email_verified": True,
                    "phone_verified": rng.random() < phone_share,
                }
            )
            data.tastes.append([0.0 for _ in data.tastes[0]] if data.tastes else [])
        data.rings.append(members)
        # each member buys a few cheap items the others list, five stars both ways
        for buyer in members:
            for seller in rng.sample([m for m in members if m != buyer], min(4, size - 1)):
                j = len(data.products)
                at = now - rng.randint(2, 18) * DAY_MS
                product = {
                    "id": product_id(j),
                    "owner": seller,
                    "category": 1,
                    "title": "Brand new phone case",
                    "description": "Brand new, never used.",
                    "price": rng.choice((500, 800, 1000)),
                    "currency": "EUR",
                    "condition": "new",
                    "local_pickup": True,
                    "ships": True,
                    "shipping_price": 0,
                    "lat": city[1],
                    "lon": city[2],
                    "quantity": 0,
                    "status": "sold",
                    "created_at": at - DAY_MS,
                    "expires_at": at + 29 * DAY_MS,
                    "tags": ["electronics"],
                    # ring members reuse each other's photos, a pair at a time
                    "images": [f"1:{100 + ring * 10 + members.index(seller) // 2}"],
                }
                data.products.append(product)
                row = order(buyer, product, at)
                rate(row, "buyer", 5)
                rate(row, "seller", 5)
        # attack edges: a few real purchases from honest sellers
        for buyer in members:
            if honest and rng.random() < 0.5:
                product = rng.choice(honest)
                at = now - rng.randint(5, 40) * DAY_MS
                row = order(buyer, product, max(at, product["created_at"] + HOUR_MS))
                product["quantity"] -= 1
                if product["quantity"] <= 0:
                    product["quantity"], product["status"] = 0, "sold"
                    honest.remove(product)
                if rng.random() < 0.6:
                    rate(row, "seller", 5)
                rate(row, "buyer", 5)
    _publish(reviews, now)
    return reviews
