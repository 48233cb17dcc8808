"""The one score of the swipe deck, and the ranking it makes: a product of how well a listing
fits your tastes, how much people want it, how new and how close it is, and the seller's
trust, plus co-likes (see `FLOOR`); at most a few cards per seller and promoted listings.
Pure functions: what `sessions` ranks a deck with and `explanations` reads the parts of.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from graph.infra.geo import Place, haversine_m

DAY_MS = 86_400_000
MAX_PER_SELLER = 2
POPULAR_HYPE = 5.0
NEW_DAYS = 3

# The score (see `score`): a product of how well a listing fits your tastes, how much people
# want it, how new and how close it is, plus co-likes. Recency and the per-person distance
# weight were chosen on marketplaces generated with other seeds than the one `make eval`
# reports on (4 and 5, every eligible person's latest like held out; the score computed over
# every listing offline): HR@10 0.16 -> 0.21 (local, sparse), 0.25 -> 0.36 (local, dense),
# 0.12 -> 0.20 (national). The rest were chosen earlier on `make eval`'s default validation
# likes. Trust is a product choice, not learnt: the generator gives trust no effect on likes.
FLOOR = {"affinity": 0.05, "hype": 0.05}
FRESH_HYPE = 0.1  # a new listing's head start on hype while it is fresh (exploration)
FRESH_DAYS = 3.0  # what people like next is mostly new: a listing's weight halves in ~2 days
FRESH_FLOOR = 0.1  # ...down to this share of a new one's, so an old close match still shows
COLIKE = 0.15
VIEW_WEIGHT = 0.3  # a look at a listing says this much about your tastes, against a like
TRUST = 0.1  # share of the score that rides on the seller's trust
# How much closeness counts is each person's own: a listing however far away keeps FAR_ODDS x
# (the odds that what they liked and looked at lay beyond the radius) of a close one's weight,
# at most FAR_MAX. Someone who only ever looks around the corner is shown little from across
# the country; someone who buys shipped goods anywhere, much. A short history leans on
# FAR_PRIOR as if it were FAR_PRIOR_WEIGHT listings.
FAR_ODDS = 0.5
FAR_PRIOR, FAR_PRIOR_WEIGHT = 0.3, 2.0
FAR_MAX = 1.0


@dataclass
class Candidate:
    row: dict[str, Any]
    colike_paths: int = 0
    colike_seed: tuple[str, str] | None = None  # (product id, title) you liked


# a candidate and the top tag weight -> its score and the parts the card's reasons read
Scorer = Callable[[Candidate, float], tuple[float, dict[str, float]]]


@dataclass
class Card:
    product: dict[str, Any]
    score: float
    reasons: list[dict[str, Any]]


def tag_weights(
    liked: Sequence[dict[str, Any]],
    interests: list[dict[str, Any]],
    viewed: Sequence[dict[str, Any]] = (),
) -> dict[str, float]:
    """Tags of what you liked and saved, and less of what you looked at (each newest first:
    recent ones count more), plus stated interests."""
    weights: defaultdict[str, float] = defaultdict(float)
    for rows, weight in ((liked, 1.0), (viewed, VIEW_WEIGHT)):
        for rank, row in enumerate(rows):
            for tag in row["tags"]:
                weights[tag] += weight / (1 + 0.1 * rank)
    for item in interests:
        if item.get("tag"):
            weights[item["tag"]] += float(item.get("weight") or 1.0)
    return dict(weights)


def distance_floor(profile: Sequence[dict[str, Any]], near: Place | None, radius_m: float) -> float:
    """What a listing far away keeps of a close one's weight for this person (see FAR_ODDS),
    from the places of what they liked and looked at (`PROFILE` rows)."""
    far = n = 0
    if near is not None:
        for row in {r["id"]: r for r in profile}.values():
            if row.get("lat") is None or row.get("lon") is None:
                continue
            n += 1
            far += haversine_m(row["lat"], row["lon"], near.lat, near.lon) > radius_m
    share = (far + FAR_PRIOR_WEIGHT * FAR_PRIOR) / (n + FAR_PRIOR_WEIGHT)  # below 1: the prior
    return min(FAR_MAX, FAR_ODDS * share / (1 - share))


def score(
    cand: Candidate, weights: dict[str, float], top: float, now: int, far: float
) -> tuple[float, dict[str, float]]:
    p = cand.row
    tags = p.get("tags") or []
    # (map, not a generator: the same sum in the same order, without a frame per tag; this
    # runs for every candidate of every session)
    affinity = sum(map(weights.get, tags, repeat(0.0))) / (top * 2) if top else 0.0
    distance = p.get("distance_m")
    age_days = max(0.0, (now - p["created_at"]) / DAY_MS)
    hype = float(p.get("hype") or 0.0)
    parts = {
        "affinity": min(1.0, affinity),
        "colike": min(1.0, cand.colike_paths / 3),
        "distance": math.exp(-distance / 15_000) if distance is not None else 0.0,
        "fresh": math.exp(-age_days / FRESH_DAYS),
        "hype": hype / (hype + POPULAR_HYPE),
        "trust": float(p.get("seller_trust") or 0) / 100,
    }
    fit = FLOOR["affinity"] + parts["affinity"]
    wanted = FLOOR["hype"] + parts["hype"] + FRESH_HYPE * parts["fresh"]
    recent = FRESH_FLOOR + parts["fresh"]
    close = far + parts["distance"]
    trusted = 1 - TRUST + TRUST * parts["trust"]
    return fit * wanted * recent * close * trusted + COLIKE * parts["colike"], parts


def promoted(row: dict[str, Any], now: int) -> bool:
    until = row.get("promoted_until")
    return until is not None and int(until) > now


def ranked(
    candidates: dict[str, Candidate],
    weights: dict[str, float],
    now: int,
    limit: int,
    promoted_cap: int | None = None,
    per_seller: int = MAX_PER_SELLER,
    *,
    far: float,
    scorer: Scorer | None = None,
) -> list[tuple[float, Candidate, dict[str, float]]]:
    """Best first, at most `per_seller` per seller and `promoted_cap` promoted, at most
    `limit`; `far` as `score` takes it; `scorer` in place of `score` (a blend's)."""
    top = max(weights.values(), default=0.0)
    scored = []
    for cand in candidates.values():
        if scorer is None:
            value, parts = score(cand, weights, top, now, far)
        else:
            value, parts = scorer(cand, top)
        scored.append((value, cand.row["id"], cand, parts))
    scored.sort(key=lambda s: (-s[0], s[1]))
    out = []
    sellers: Counter[str] = Counter()
    promotions = 0
    for value, _, cand, parts in scored:
        seller = cand.row["seller_id"]
        if sellers[seller] >= per_seller:
            continue
        if promoted_cap is not None and promoted(cand.row, now):
            if promotions >= promoted_cap:
                continue  # paid boosts do not crowd out the rest of the deck
            promotions += 1
        sellers[seller] += 1
        out.append((value, cand, parts))
        if len(out) == limit:
            break
    return out
