"""Trust score (0 to 100) with its components.

This is the account-level baseline: verification, account age, completed deals and the rating
others gave. Each component is capped so no single signal can carry an account.
"""

from __future__ import annotations

from typing import Any

from graph.ids import now_ms

DAY_MS = 86_400_000

# component: (points at full strength, what full strength is)
WEIGHTS: dict[str, tuple[float, float]] = {
    "email_verified": (10, 1),
    "phone_verified": (15, 1),
    "verified_socials": (15, 3),
    "account_age_days": (15, 365),
    "completed_orders": (20, 20),
    "rating": (25, 1),
}


def baseline(row: dict[str, Any], *, now: int | None = None) -> dict[str, Any]:
    now = now if now is not None else now_ms()
    reviews = int(row.get("reviews") or 0)
    avg = float(row.get("rating") or 0.0)
    # a rating counts in proportion to how many reviews back it (10 reviews = full weight)
    rating_strength = (max(avg - 1, 0) / 4) * min(reviews / 10, 1) if reviews else 0.0
    raw = {
        "email_verified": 1.0 if row.get("email_verified") else 0.0,
        "phone_verified": 1.0 if row.get("phone_verified") else 0.0,
        "verified_socials": float(row.get("socials") or 0),
        "account_age_days": max(0.0, (now - int(row.get("created_at") or now)) / DAY_MS),
        "completed_orders": float(row.get("completed_orders") or 0),
        "rating": rating_strength,
    }
    components = {
        name: round(points * min(raw[name] / full, 1.0), 2)
        for name, (points, full) in WEIGHTS.items()
    }
    return {"score": round(sum(components.values())), "components": components}
