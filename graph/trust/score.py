"""The trust score (0 to 100) from its five components, each with the sentence that explains it.

Pure functions over what `graph.trust.rank` reads from the graph. Each component is capped, so
no single signal carries an account; the two that others can fake (completed deals, ratings)
count each counterpart or reviewer in proportion to that person's own propagated trust, so a
ring of fresh accounts buying from and rating each other adds next to nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

DAY_MS = 86_400_000

# component -> points at full strength; they add up to 100
POINTS: dict[str, int] = {
    "verification": 20,
    "account_age": 10,
    "deals": 15,
    "ratings": 20,
    "network": 35,
}
ORDER = tuple(POINTS)

DEALS_FULL = 20.0  # weighted completed deals at which the deals component is full
DEALS_PER_PARTNER = 3  # repeat deals with one person count up to this many times
RATING_CONFIDENCE = 5.0  # trust-weighted reviews at which a rating counts fully
AGE_FULL_DAYS = 365.0


@dataclass
class Person:
    """One account's inputs: its own facts and what others did with it."""

    id: str
    created_at: int
    email_verified: bool = False
    phone_verified: bool = False
    socials: int = 0
    trusted: bool = False  # marked trusted by an admin: a seed of the walk
    # counterparts of completed deals (one entry per deal) and received reviews (by, rating)
    partners: list[str] = field(default_factory=list)
    reviews: list[tuple[str, int]] = field(default_factory=list)

    @property
    def seed(self) -> bool:
        return self.trusted or (self.email_verified and self.phone_verified)


def verification(p: Person) -> tuple[float, str]:
    points = 6.0 * p.email_verified + 8.0 * p.phone_verified + 2.0 * min(p.socials, 3)
    done = [
        *(["email"] if p.email_verified else []),
        *(["phone"] if p.phone_verified else []),
        *([f"{p.socials} linked account{'s' if p.socials != 1 else ''}"] if p.socials else []),
    ]
    if p.trusted and not (p.email_verified and p.phone_verified):
        points = max(points, 14.0)
        done.append("vouched for by Vendr")
    why = ("Verified: " + ", ".join(done) + ".") if done else "Nothing verified yet."
    return min(points / POINTS["verification"], 1.0), why


def account_age(p: Person, now: int) -> tuple[float, str]:
    days = max(0.0, (now - p.created_at) / DAY_MS)
    if days < 1:
        return 0.0, "Joined today."
    return min(days / AGE_FULL_DAYS, 1.0), f"Member for {int(days)} day{'s' if days >= 2 else ''}."


def deals(p: Person, network: dict[str, float]) -> tuple[float, str]:
    if not p.partners:
        return 0.0, "No completed deals yet."
    seen: dict[str, int] = {}
    weighted = 0.0
    for partner in p.partners:
        seen[partner] = seen.get(partner, 0) + 1
        if seen[partner] <= DEALS_PER_PARTNER:
            weighted += network.get(partner, 0.0)
    strength = min(math.log1p(weighted) / math.log1p(DEALS_FULL), 1.0)
    n, people = len(p.partners), len(seen)
    return strength, (
        f"{n} completed deal{'s' if n != 1 else ''} with {people} "
        f"{'person' if people == 1 else 'people'}, worth {weighted:.1f} once weighted by how "
        "trusted the other side is."
    )


def ratings(p: Person, network: dict[str, float]) -> tuple[float, str]:
    if not p.reviews:
        return 0.0, "No reviews yet."
    weight = sum(network.get(by, 0.0) for by, _ in p.reviews)
    plain = sum(r for _, r in p.reviews) / len(p.reviews)
    n = len(p.reviews)
    head = f"{n} review{'s' if n != 1 else ''} averaging {plain:.1f}"
    if weight <= 0:
        return 0.0, f"{head}, none yet from reviewers Vendr trusts."
    mean = sum(network.get(by, 0.0) * (r - 1) / 4 for by, r in p.reviews) / weight
    confidence = min(weight / RATING_CONFIDENCE, 1.0)
    return mean * confidence, (
        f"{head}; weighted by the reviewers' own trust they count as {weight:.1f} "
        f"review{'s' if weight != 1 else ''} at {1 + 4 * mean:.1f} stars."
    )


def network_why(p: Person, value: float) -> str:
    if p.seed:
        return "A trust anchor: " + (
            "vouched for by Vendr." if p.trusted else "verified email and phone."
        )
    if value <= 0:
        return "Not yet connected by deals or good reviews to accounts Vendr trusts."
    if value >= 0.75:
        return "Closely connected by deals and good reviews to accounts Vendr trusts."
    if value >= 0.35:
        return "Connected by deals and good reviews to accounts Vendr trusts."
    return "Only distantly connected by deals and reviews to accounts Vendr trusts."


def _apportion(values: dict[str, float], total: int) -> dict[str, int]:
    """Whole points per component that add up to `total` (largest remainder)."""
    floors = {k: math.floor(v) for k, v in values.items()}
    left = total - sum(floors.values())
    by_remainder = sorted(values, key=lambda k: (floors[k] - values[k], ORDER.index(k)))
    for k in by_remainder[: max(left, 0)]:
        floors[k] += 1
    return floors


def score(p: Person, network: dict[str, float], now: int) -> dict[str, object]:
    """`{score, components: {name: {points, max, why}}}`; the points add up to the score.
    `network` maps account ids to their propagated trust in [0, 1]."""
    parts = {
        "verification": verification(p),
        "account_age": account_age(p, now),
        "deals": deals(p, network),
        "ratings": ratings(p, network),
    }
    own = network.get(p.id, 0.0)
    parts["network"] = (own, network_why(p, own))
    exact = {
        name: POINTS[name] * max(0.0, min(strength, 1.0)) for name, (strength, _) in parts.items()
    }
    total = round(sum(exact.values()))
    points = _apportion(exact, total)
    return {
        "score": total,
        "components": {
            name: {"points": points[name], "max": POINTS[name], "why": parts[name][1]}
            for name in ORDER
        },
    }


def stored(row: dict[str, object]) -> dict[str, object]:
    """The score the worker last wrote (`trust_score`, `trust_components`, `trust_at`), as the
    API shows it; an account it has not reached yet shows 0 and says so."""
    raw = row.get("trust_components")
    components = json.loads(raw) if isinstance(raw, str) and raw else None
    if not isinstance(components, dict):
        components = {
            name: {"points": 0, "max": POINTS[name], "why": "Not computed yet."} for name in ORDER
        }
    score_ = row.get("trust_score")
    return {
        "score": int(score_) if isinstance(score_, int | float) else 0,
        "components": components,
        "computed_at": row.get("trust_at"),
    }
