"""The deck's blend: how a candidate's features make its score. The hand-set score
(`scoring.score`) is one feature; the rest are the raw signals it blends by hand (fit to your
tags, popularity, age, distance, co-likes, trust) and one it does not (every like a listing
has had, where hype is recent engagement). A blend is a weight per feature and a candidate
scores `weights . features`: the hand-set blend weighs its own score alone, so ranks exactly
as `scoring` does, and a fitted one (`graph.feed.learning`) may weigh anything the platform's
own log says counts. Pure functions over the rows `scoring` ranks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from graph.feed.scoring import DAY_MS, FLOOR, Candidate, score

# (name, what it measures) in the order of a blend's weights
FEATURES: tuple[tuple[str, str], ...] = (
    ("handset", "log of the hand-set score (fit x wanted x new x close x trusted + co-likes)"),
    ("affinity", "log(0.05 + share of your tag weight the listing's tags carry)"),
    ("top_tag", "the listing's best tag's weight over your best tag's"),
    ("share", "log(0.001 + the share of all your tag weight the listing's tags carry)"),
    ("hype", "log(1 + hype): decayed engagement, unsaturated"),
    ("likes", "log(1 + likes): every like the listing has had, undecayed"),
    ("fresh", "e^(-age / 3 days)"),
    ("age", "log(1 + age in days)"),
    ("days", "age in days / 10 (a weight of -2: e^(-age / 5 days))"),
    ("near", "1 when within the session's radius, else 0 (no place: 0)"),
    ("distance", "log(1 + distance in km) (no place: 0)"),
    ("colike", "log(1 + co-like paths from what you liked)"),
    ("trust", "the seller's trust score / 100"),
)
NAMES = tuple(name for name, _ in FEATURES)
HANDSET_WEIGHTS = (1.0,) + (0.0,) * (len(FEATURES) - 1)


@dataclass(frozen=True)
class Blend:
    """A weight per feature (`FEATURES`' order); `version` names it in sessions, impressions
    and experiments ('handset' for the hand-set one)."""

    version: str
    weights: tuple[float, ...] = HANDSET_WEIGHTS
    fitted_at: int | None = None
    figures: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"a blend has {len(FEATURES)} weights, not {len(self.weights)}")

    @property
    def handset(self) -> bool:
        return self.weights == HANDSET_WEIGHTS

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "weights": dict(zip(NAMES, self.weights, strict=True)),
            "fitted_at": self.fitted_at,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Blend:
        weights = raw["weights"]
        return cls(
            str(raw["version"]),
            tuple(float(weights.get(n, 0.0)) for n in NAMES),
            raw.get("fitted_at"),
        )


HANDSET = Blend("handset")


def weights_of(**named: float) -> tuple[float, ...]:
    """A blend's weights by feature name (the rest 0)."""
    unknown = set(named) - set(NAMES)
    if unknown:
        raise ValueError(f"no such features: {sorted(unknown)}")
    return tuple(float(named.get(name, 0.0)) for name in NAMES)


def features(
    cand: Candidate,
    weights: dict[str, float],
    top: float,
    now: int,
    far: float,
    radius_m: float,
) -> tuple[list[float], dict[str, float]]:
    """The candidate's features (`FEATURES`' order) and the hand-set score's parts (what the
    card's reasons read)."""
    p = cand.row
    handset, parts = score(cand, weights, top, now, far)
    tags = p.get("tags") or []
    best = max((weights.get(t, 0.0) for t in tags), default=0.0)
    total = sum(weights.values())
    share = sum(weights.get(t, 0.0) for t in tags) / total if total else 0.0
    age_days = max(0.0, (now - p["created_at"]) / DAY_MS)
    distance = p.get("distance_m")
    values = [
        math.log(max(handset, 1e-12)),
        math.log(FLOOR["affinity"] + parts["affinity"]),
        best / top if top else 0.0,
        math.log(0.001 + share),
        math.log1p(max(0.0, float(p.get("hype") or 0.0))),
        math.log1p(max(0.0, float(p.get("likes") or 0.0))),
        parts["fresh"],
        math.log1p(age_days),
        age_days / 10.0,
        1.0 if distance is not None and distance <= radius_m else 0.0,
        math.log1p(distance / 1000.0) if distance is not None else 0.0,
        math.log1p(cand.colike_paths),
        parts["trust"],
    ]
    return values, parts


def blended(
    blend: Blend,
    cand: Candidate,
    weights: dict[str, float],
    top: float,
    now: int,
    far: float,
    radius_m: float,
) -> tuple[float, dict[str, float]]:
    """The candidate's score under `blend` (the hand-set blend: exactly `scoring.score`'s) and
    the hand-set parts, for the card's reasons."""
    if blend.handset:
        return score(cand, weights, top, now, far)
    values, parts = features(cand, weights, top, now, far, radius_m)
    logit = sum(w * v for w, v in zip(blend.weights, values, strict=True))
    return math.exp(max(-50.0, min(50.0, logit))), parts
