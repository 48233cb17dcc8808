"""A deterministic synthetic marketplace: cities, people clustered around them, shops, a tag
taxonomy with category price ranges, listings, and interactions driven by hidden tastes.

Everything is a pure function of (sizes, seed, now): the same call gives the same rows, and
`tastes(seed, users)` gives back the hidden preferences a recommender can be evaluated against.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from seeds.deals import Deals, generate_deals
from seeds.trust import plant_rings, review_deals, verify

DAY_MS = 86_400_000

# name, latitude, longitude, relative population
CITIES: tuple[tuple[str, float, float, float], ...] = (
    ("Amsterdam", 52.3676, 4.9041, 9),
    ("Rotterdam", 51.9244, 4.4777, 6),
    ("Utrecht", 52.0907, 5.1214, 4),
    ("The Hague", 52.0705, 4.3007, 5),
    ("Eindhoven", 51.4416, 5.4697, 3),
    ("Antwerp", 51.2194, 4.4025, 5),
    ("Brussels", 50.8503, 4.3517, 7),
    ("Cologne", 50.9375, 6.9603, 6),
    ("Berlin", 52.5200, 13.4050, 12),
    ("Hamburg", 53.5511, 9.9937, 8),
    ("Paris", 48.8566, 2.3522, 14),
    ("Lyon", 45.7640, 4.8357, 5),
    ("Copenhagen", 55.6761, 12.5683, 6),
)


@dataclass(frozen=True)
class Category:
    name: str
    price_range: tuple[int, int]  # minor units (cents)
    items: tuple[str, ...]
    tags: tuple[str, ...]
    colour: tuple[int, int, int]


TAXONOMY: tuple[Category, ...] = (
    Category(
        "clothing",
        (500, 12_000),
        (
            "denim jacket",
            "wool coat",
            "summer dress",
            "hoodie",
            "leather boots",
            "sneakers",
            "silk scarf",
        ),
        ("vintage", "denim", "streetwear", "designer", "shoes"),
        (176, 58, 46),
    ),
    Category(
        "electronics",
        (1_500, 90_000),
        ("smartphone", "laptop", "headphones", "camera", "game console", "tablet", "smartwatch"),
        ("refurbished", "apple", "gaming", "audio", "photography"),
        (52, 73, 94),
    ),
    Category(
        "furniture",
        (2_000, 60_000),
        ("armchair", "oak table", "bookshelf", "desk lamp", "sofa", "dining chairs", "wardrobe"),
        ("mid-century", "scandinavian", "vintage", "oak", "lighting"),
        (160, 110, 60),
    ),
    Category(
        "books",
        (200, 4_000),
        ("novel", "cookbook", "comic", "art book", "textbook", "poetry collection"),
        ("fiction", "cooking", "comics", "art", "study"),
        (120, 90, 160),
    ),
    Category(
        "bikes",
        (3_000, 150_000),
        ("city bike", "road bike", "cargo bike", "mountain bike", "kids bike", "e-bike"),
        ("cycling", "commuter", "electric", "vintage", "kids"),
        (39, 174, 96),
    ),
    Category(
        "kids",
        (300, 15_000),
        ("stroller", "lego set", "baby carrier", "wooden toys", "kids jacket", "high chair"),
        ("kids", "toys", "lego", "baby", "wooden"),
        (241, 196, 15),
    ),
    Category(
        "music",
        (500, 80_000),
        ("vinyl record", "acoustic guitar", "keyboard", "amplifier", "turntable", "drum kit"),
        ("vinyl", "instruments", "audio", "vintage", "guitar"),
        (142, 68, 173),
    ),
    Category(
        "sports",
        (500, 40_000),
        ("tennis racket", "yoga mat", "skis", "running shoes", "dumbbells", "snowboard"),
        ("fitness", "outdoor", "winter", "running", "shoes"),
        (230, 126, 34),
    ),
    Category(
        "home",
        (300, 25_000),
        ("coffee machine", "ceramic vase", "rug", "plant pot", "kitchen mixer", "mirror"),
        ("kitchen", "ceramics", "decor", "plants", "scandinavian"),
        (26, 188, 156),
    ),
)

ADJECTIVES = (
    "lovely",
    "barely used",
    "classic",
    "retro",
    "sturdy",
    "compact",
    "rare",
    "cosy",
    "handmade",
    "well kept",
)
FIRST_NAMES = (
    "anna",
    "bram",
    "chloe",
    "daan",
    "emma",
    "finn",
    "greta",
    "hugo",
    "iris",
    "jonas",
    "kim",
    "lars",
    "mila",
    "noah",
    "olga",
    "pieter",
    "quinn",
    "ruth",
    "sam",
    "tess",
    "umar",
    "vera",
    "wim",
    "xena",
    "yara",
    "zoe",
)
SHOP_WORDS = (
    "Second Spin",
    "Attic Finds",
    "Velo Vintage",
    "Re:Wear",
    "Kid & Co",
    "Loop",
    "Good Old",
    "Tweedehands",
    "Fundgrube",
    "Brocante",
)
CONDITIONS = ("new", "used", "used", "used", "not_specified")
LOCAL_SHARE = 0.7  # of what people look at is in their own city
LIKE_RATE = 0.12  # chance that a person likes a listing they look at, at average interest
LIKE_CAP = 0.8  # ...and at most this, however interested
LISTED_DAYS = (0.0, 25.0)  # listings were listed between this many days ago


@dataclass
class Dataset:
    users: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    interactions: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"VIEWED": [], "LIKED": [], "PASSED": [], "SAVED": []}
    )
    tastes: list[list[float]] = field(default_factory=list)
    deals: Deals = field(default_factory=Deals)
    rings: list[list[str]] = field(default_factory=list)  # planted sybil rings' member ids


def _jitter(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    """A point around (lat, lon), normally spread by `km` north-south and east-west."""
    dlat = rng.gauss(0, km) / 111.32
    dlon = rng.gauss(0, km) / (111.32 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def tastes(seed: int, users: int) -> list[list[float]]:
    """Each user's hidden preference over TAXONOMY: two or three favourite categories."""
    rng = random.Random(f"tastes-{seed}")
    out = []
    for _ in range(users):
        weights = [rng.random() * 0.15 for _ in TAXONOMY]
        for fav in rng.sample(range(len(TAXONOMY)), rng.choice((2, 2, 3))):
            weights[fav] += rng.uniform(1.0, 3.0)
        total = sum(weights)
        out.append([w / total for w in weights])
    return out


def _user_id(i: int) -> str:
    return f"seed-u{i:07d}"


def _product_id(i: int) -> str:
    return f"seed-p{i:08d}"


def generate(
    users: int,
    products: int,
    interactions: int,
    seed: int,
    now: int,
    images_per_category: int = 4,
    deals: bool = True,
    rings: int = 0,
    ring_size: int = 8,
    ring_phone_share: float = 0.0,
    local_share: float = LOCAL_SHARE,
    quality: float = 0.0,
    style: float = 0.0,
    listed_days: tuple[float, float] = LISTED_DAYS,
    likes_per_user: tuple[int, int] | None = None,
) -> Dataset:
    """A marketplace whose people like by hidden tastes. `local_share` of what they look at is
    in their own city (the rest is what ships). With `quality` > 0 listings differ in appeal
    (log-normal spread: better ones are seen and liked more); with `style` in (0, 1] people
    prefer two of each category's tags (how strongly their likes follow them).

    Listings are listed uniformly between `listed_days` days ago (the default spreads them over
    25 days, so what people like next is mostly new; a narrow window, such as an hour 20 days
    ago, lists everything at once: a listing's age tells nothing). With `likes_per_user`
    (low, high) each person stops looking once they liked a number drawn in that range (or
    after their share of `interactions`): a marketplace of people with few likes."""
    rng = random.Random(seed)
    data = Dataset(tastes=tastes(seed, users))
    city_weights = [c[3] for c in CITIES]
    homes = []
    for i in range(users):
        city = rng.choices(CITIES, weights=city_weights)[0]
        lat, lon = _jitter(rng, city[1], city[2], 5.0)
        homes.append((city, lat, lon))
        business = rng.random() < 0.05
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        handle = first if i < len(FIRST_NAMES) else f"{first}{i}"
        data.users.append(
            {
                "id": _user_id(i),
                "handle": handle,
                "display_name": first.capitalize()
                if not business
                else f"{rng.choice(SHOP_WORDS)} {i}",
                "kind": "business" if business else "person",
                "email": f"{handle}@demo.vendr.test",
                "shop_name": f"{rng.choice(SHOP_WORDS)} {city[0]}" if business else None,
                "shop_id": f"seed-s{i:07d}" if business else None,
                "city": city[0],
                "lat": lat,
                "lon": lon,
                "created_at": now - rng.randint(30, 900) * DAY_MS,
            }
        )
    sellers = list(range(users))
    by_category: list[list[int]] = [[] for _ in TAXONOMY]
    for j in range(products):
        owner = rng.choice(sellers)
        # people sell what they like, mostly
        cat_index = rng.choices(range(len(TAXONOMY)), weights=data.tastes[owner])[0]
        cat = TAXONOMY[cat_index]
        item = rng.choice(cat.items)
        low, high = cat.price_range
        price = int(round(math.exp(rng.uniform(math.log(low), math.log(high))) / 50) * 50)
        _, lat, lon = homes[owner]
        created = now - int(rng.uniform(*listed_days) * DAY_MS)
        tags = sorted({cat.name, *rng.sample(cat.tags, rng.randint(1, 3))})
        business = data.users[owner]["kind"] == "business"
        data.products.append(
            {
                "id": _product_id(j),
                "owner": _user_id(owner),
                "category": cat_index,
                "title": f"{rng.choice(ADJECTIVES).capitalize()} {item}",
                "description": f"{item.capitalize()} in {rng.choice(('good', 'great', 'fair'))} "
                f"condition, pick up in {homes[owner][0][0]}.",
                "price": max(price, 100),
                "currency": "EUR",
                "condition": "new" if business else rng.choice(CONDITIONS),
                "local_pickup": rng.random() < 0.8,
                "lat": lat,
                "lon": lon,
                "quantity": rng.randint(1, 20) if business else 1,
                "status": "active",
                "created_at": created,
                "expires_at": created + 30 * DAY_MS,
                "tags": tags,
                "images": [
                    f"{cat_index}:{k}"
                    for k in rng.sample(range(images_per_category), rng.randint(1, 3))
                ],
            }
        )
        by_category[cat_index].append(j)
    _shipping(data.products, data.users, seed)
    structure = Structure.draw(data, seed, quality, style)
    quotas = None
    if likes_per_user is not None:  # a stream of its own: the rest does not change with it
        quota_rng = random.Random(f"likes-{seed}")
        quotas = [quota_rng.randint(*likes_per_user) for _ in data.users]
    _interactions(rng, data, homes, by_category, interactions, now, local_share, structure, quotas)
    verify(data.users, seed)
    if deals:  # some likes became offers and orders (they change stock and statuses)
        data.deals = generate_deals(data.products, data.interactions["LIKED"], seed=seed, now=now)
        data.deals.reviews = review_deals(data.deals.orders, seed, now)
    if rings:
        data.deals.reviews += plant_rings(
            data,
            rings=rings,
            size=ring_size,
            seed=seed,
            now=now,
            cities=CITIES,
            user_id=_user_id,
            product_id=_product_id,
            phone_share=ring_phone_share,
        )
    return data


def _shipping(products: list[dict[str, Any]], users: list[dict[str, Any]], seed: int) -> None:
    """Shops mostly ship; people sometimes. A listing not offered for pickup always ships.
    Drawn from a stream of its own: the rest of the data does not change with it."""
    rng = random.Random(f"shipping-{seed}")
    kind = {u["id"]: u["kind"] for u in users}
    for p in products:
        share = 0.9 if kind[p["owner"]] == "business" else 0.3
        p["ships"] = not p["local_pickup"] or rng.random() < share
        p["shipping_price"] = (
            (0 if rng.random() < 0.2 else rng.choice((395, 495, 695, 995))) if p["ships"] else None
        )


@dataclass
class Structure:
    """Hidden appeal per listing and preferred tags per person and category (empty when off)."""

    appeal: list[float] = field(default_factory=list)
    style: float = 0.0
    liked_tags: list[list[frozenset[str]]] = field(default_factory=list)  # user -> category -> tags

    @classmethod
    def draw(cls, data: Dataset, seed: int, quality: float, style: float) -> Structure:
        out = cls(style=style)
        if quality > 0:
            rng = random.Random(f"quality-{seed}")
            out.appeal = [math.exp(rng.gauss(0, quality)) for _ in data.products]
        if style > 0:
            rng = random.Random(f"style-{seed}")
            out.liked_tags = [
                [frozenset(rng.sample(cat.tags, min(2, len(cat.tags)))) for cat in TAXONOMY]
                for _ in data.users
            ]
        return out

    def like_factor(self, u: int, j: int, product: dict[str, Any]) -> float:
        factor = self.appeal[j] if self.appeal else 1.0
        if self.liked_tags:
            factor *= style_factor(self.style, self.liked_tags[u][product["category"]], product)
        return factor


def style_factor(style: float, preferred: frozenset[str], product: dict[str, Any]) -> float:
    """How much more (or less) than average a person who prefers these two of the listing's
    category tags likes it, when likes follow preferred tags with strength `style`."""
    cat = TAXONOMY[product["category"]]
    own = [t for t in product["tags"] if t != cat.name]
    share = sum(t in preferred for t in own) / len(own) if own else 0.0
    # 2 preferred of the category's tags: a random listing's share is about 2/len(tags)
    typical = 2 / len(cat.tags)
    return 1 - style + style * share / typical


def _pick(rng: random.Random, pool: list[int], weights: dict[int, list[float]], key: int) -> int:
    """A listing of the pool, the more appealing ones more often when appeal is drawn."""
    cum = weights.get(key)
    return rng.choices(pool, cum_weights=cum)[0] if cum else rng.choice(pool)


def _interactions(
    rng: random.Random,
    data: Dataset,
    homes: list[tuple[Any, float, float]],
    by_category: list[list[int]],
    total: int,
    now: int,
    local_share: float = LOCAL_SHARE,
    structure: Structure | None = None,
    quotas: list[int] | None = None,
) -> None:
    """Each user looks at listings from categories drawn from their taste, mostly in their own
    city (a local marketplace); they like what fits their taste, pass on the rest, and save some
    of what they like. Views come first in time. With a structure drawn, what they look at
    further away is what ships, appealing listings are seen and liked more, and likes follow
    each person's preferred tags. With `quotas`, each person stops once they liked their
    quota."""
    if not data.users or not data.products:
        return
    structure = structure or Structure()
    structured = bool(structure.appeal or structure.liked_tags)
    city_of = {user["id"]: user["city"] for user in data.users}
    local: dict[tuple[str, int], list[int]] = {}
    for cat, indices in enumerate(by_category):
        for j in indices:
            local.setdefault((city_of[data.products[j]["owner"]], cat), []).append(j)
    far = by_category
    if structured:
        far = [[j for j in indices if data.products[j]["ships"]] for indices in by_category]
    cum: dict[int, list[float]] = {}  # id(pool) -> cumulative appeal
    if structure.appeal:
        for pool in [*local.values(), *far]:
            cum[id(pool)] = list(itertools.accumulate(structure.appeal[j] for j in pool))
    per_user = max(1, int(total / (len(data.users) * 1.6)))
    seen: set[tuple[int, int]] = set()
    emitted = 0
    for u in range(len(data.users)):
        taste = data.tastes[u]
        start = data.users[u]["created_at"]
        liked = 0
        for _ in range(per_user):
            if emitted >= total:
                return
            if quotas is not None and liked >= quotas[u]:
                break
            cat = rng.choices(range(len(TAXONOMY)), weights=taste)[0]
            nearby = local.get((data.users[u]["city"], cat))
            pool = nearby if nearby and rng.random() < local_share else far[cat]
            if not pool:
                continue
            j = _pick(rng, pool, cum, id(pool))
            product = data.products[j]
            if (u, j) in seen or product["owner"] == data.users[u]["id"]:
                continue
            seen.add((u, j))
            at = rng.randint(max(start, product["created_at"]), now)
            data.interactions["VIEWED"].append(
                {"u": data.users[u]["id"], "p": product["id"], "at": at}
            )
            emitted += 1
            affinity = taste[cat] * len(TAXONOMY)  # 1.0 = average interest
            if structured:
                affinity *= structure.like_factor(u, j, product)
            if rng.random() < min(LIKE_CAP, LIKE_RATE * affinity):
                data.interactions["LIKED"].append(
                    {"u": data.users[u]["id"], "p": product["id"], "at": at + 1000}
                )
                emitted += 1
                liked += 1
                if rng.random() < 0.3:
                    data.interactions["SAVED"].append(
                        {"u": data.users[u]["id"], "p": product["id"], "at": at + 2000}
                    )
                    emitted += 1
            elif rng.random() < 0.6:
                data.interactions["PASSED"].append(
                    {"u": data.users[u]["id"], "p": product["id"], "at": at + 1000}
                )
                emitted += 1


def batches(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
