"""Why a card is in the deck: each reason a checkable fact about the data, strongest first."""

from __future__ import annotations

import math
from typing import Any

from graph.feed.scoring import DAY_MS, NEW_DAYS, POPULAR_HYPE, Candidate, promoted
from graph.infra.geo import shown_distance_km
from graph.infra.money import money_text


def reasons(
    cand: Candidate,
    parts: dict[str, float],
    weights: dict[str, float],
    liked_tags: dict[str, str | None],
    now: int,
    pickup_m: float = math.inf,
) -> list[dict[str, Any]]:
    """Why this card: each reason is a checkable fact about the data, strongest first. The
    distance is a reason only where the item can be picked up; further away, that it ships."""
    p = cand.row
    tags = sorted(p.get("tags") or [], key=lambda t: -weights.get(t, 0.0))
    out: list[dict[str, Any]] = []
    boost = 0.0
    paid = promoted(p, now)
    if paid:  # said first: a paid placement is never passed off as a match
        out.append({"kind": "promoted", "text": "promoted by the seller"})
        boost = float(p.get("boost") or 0.0)
    if cand.colike_seed:
        seed_id, title = cand.colike_seed
        out.append({"kind": "liked", "product_id": seed_id, "text": f"because you liked {title}"})
    liked = [t for t in tags if t in liked_tags]
    if liked:
        out.append(
            {"kind": "interest", "tag": liked[0], "text": f"matches your interest in #{liked[0]}"}
        )
    distance = p.get("distance_m")
    # said from the listing's public place, as the card's distance_km is (graph.infra.geo)
    km = shown_distance_km(p.get("place"), p.get("viewer"))
    if (
        distance is not None
        and km is not None
        and p.get("local_pickup", True)
        and distance <= pickup_m
    ):
        out.append({"kind": "distance", "km": km, "text": f"{km:.1f} km away"})
    elif p.get("ships"):
        price = p.get("shipping_price")
        if price is None:
            text = "ships to you"
        else:
            text = (
                f"ships for {money_text(int(price), p['currency'])}" if price else "free shipping"
            )
        out.append({"kind": "ships", "text": text})
    hype = float(p.get("hype") or 0.0) - boost  # popular by engagement, not by the boost
    if hype >= POPULAR_HYPE and tags:
        out.append({"kind": "popular", "tag": tags[0], "text": f"popular in #{tags[0]}"})
    if (now - p["created_at"]) < NEW_DAYS * DAY_MS and tags:
        out.append({"kind": "new", "tag": tags[0], "text": f"new in #{tags[0]}"})
    if len(out) == int(paid):
        out.append(
            {
                "kind": "fresh",
                "text": "listed recently"
                if now - p["created_at"] < 14 * DAY_MS
                else "still available",
            }
        )
    return out
