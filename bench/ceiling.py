"""How high a ranker could get on a generated marketplace: two ceilings for `make eval`, so a
target can be judged against what the data allows. Neither is a ranker the app could run: both
read the generator's own form (categories, home cities, its local share and style strength).

- The oracle also knows every hidden value: each person's tastes and preferred tags, each
  listing's appeal.
- The generator's model estimates those values from the training data: tastes from what the
  person looked at and liked per category, appeal from how often a listing was seen and liked
  (shrunk toward the mean), preferred tags as a posterior over each category's tag pairs given
  which of the person's views became likes.

Both score a listing by the probability it is the person's next like: P(seen) x P(liked | seen)
x P(that happens after their latest like). The generator times an interaction uniformly between
the listing's creation and now, and the held-out like is the latest, so a listing of age a
counts min(1, g / a), g being the time since the person's latest like in the training data.
Listings' ages are read from the data, so where everything was listed at once (the generator's
`listed_days` a narrow window long ago) that factor is the same for every listing, as it is in
the generator. Where people stop after a quota of likes (`likes_per_user`), neither ceiling
models the stopping: it decides how many listings a person likes, hardly which, so the
ceilings are approximate there.
Neither uses the fact that a held-out like can never be a listing the person viewed without
liking (the generator shows nobody the same listing twice, and the hold-out removes the view):
that is a property of the protocol, not of a marketplace.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from seeds.generator import (
    DAY_MS,
    LIKE_CAP,
    LIKE_RATE,
    TAXONOMY,
    Dataset,
    Structure,
    style_factor,
)

Ranker = Callable[[str], list[str]]

APPEAL_PRIOR = 5.0  # pseudo-interactions of an average listing (chosen on seeds 4 and 5)
LIKE_WEIGHT = 2.0  # a like tells as much about a person's taste as this many views
TASTE_PRIOR = 0.3  # pseudo-views per category
MIN_GAP_DAYS = 1 / 24  # a like this recent still leaves older listings some chance


class Generative:
    """The generator's probability of a like, for any values of its hidden parameters."""

    def __init__(
        self, data: Dataset, matrix: Any, now: int, *, local_share: float, style: float
    ) -> None:
        self.matrix = matrix
        self.local_share = local_share
        products = data.products
        city_of = {u["id"]: u["city"] for u in data.users}
        self.city_of = city_of
        self.cat = np.array([p["category"] for p in products])
        self.city = np.array([city_of[p["owner"]] for p in products])
        self.ships = np.array([bool(p["ships"]) for p in products])
        self.age = np.maximum(1e-3, (now - np.array([p["created_at"] for p in products])) / DAY_MS)
        # each category's tag pairs (the preferred two are one of them) and, per listing, the
        # like factor under each pair
        self.pairs = [[frozenset(p) for p in itertools.combinations(c.tags, 2)] for c in TAXONOMY]
        self.factor = np.array(
            [[style_factor(style, pair, p) for pair in self.pairs[p["category"]]] for p in products]
        )
        self.last_like: dict[str, int] = {}
        for r in data.interactions["LIKED"]:
            self.last_like[r["u"]] = max(self.last_like.get(r["u"], 0), r["at"])
        self.now = now

    def like_given_seen(
        self, taste: np.ndarray, appeal: np.ndarray, items: np.ndarray | slice = slice(None)
    ) -> np.ndarray:
        """P(liked | seen) of these listings (all by default) under each of their category's
        tag pairs."""
        cat = self.cat[items]
        base = LIKE_RATE * len(TAXONOMY) * taste[cat] * appeal[items]
        return np.minimum(LIKE_CAP, base[:, None] * self.factor[items])

    def exposure(self, appeal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(seen | the person looks in its city's pool, or among what ships), per listing: its
        share of its pool's appeal."""
        cat = self.cat
        keys = list(zip(self.city, cat, strict=True))
        local_total: dict[tuple[str, int], float] = {}
        for key, a in zip(keys, appeal, strict=True):
            local_total[key] = local_total.get(key, 0.0) + a
        in_city = appeal / np.array([local_total[k] for k in keys])
        shipped_total = np.bincount(cat[self.ships], appeal[self.ships], len(TAXONOMY))
        return in_city, appeal / np.maximum(shipped_total[cat], 1e-9) * self.ships

    def rank(
        self,
        user: str,
        taste: np.ndarray,
        appeal: np.ndarray,
        exposure: tuple[np.ndarray, np.ndarray],
        pairs: np.ndarray,
    ) -> list[str]:
        """`pairs`: per category, the probability of each tag pair being the preferred one."""
        in_city, shipped = exposure
        local = self.city == self.city_of[user]
        share = self.local_share
        seen = taste[self.cat] * (share * in_city * local + (1 - share) * shipped)
        liked = (self.like_given_seen(taste, appeal) * pairs[self.cat]).sum(axis=1)
        gap = max(MIN_GAP_DAYS, (self.now - self.last_like.get(user, 0)) / DAY_MS)
        return self.matrix.top(user, seen * liked * np.minimum(1.0, gap / self.age))


def oracle(data: Dataset, matrix: Any, now: int, *, seed: int, setting: Any) -> Ranker:
    """Knows the hidden tastes, appeal and preferred tags the generator drew."""
    model = Generative(data, matrix, now, local_share=setting.local_share, style=setting.style)
    hidden = Structure.draw(data, seed, setting.quality, setting.style)
    appeal = np.array(hidden.appeal) if hidden.appeal else np.ones(len(data.products))
    exposure = model.exposure(appeal)
    users = {u["id"]: i for i, u in enumerate(data.users)}

    def rank(user: str) -> list[str]:
        u = users[user]
        pairs = np.zeros((len(TAXONOMY), len(model.pairs[0])))
        for c, options in enumerate(model.pairs):
            if hidden.liked_tags:
                pairs[c, options.index(hidden.liked_tags[u][c])] = 1.0
            else:
                pairs[c] = 1.0 / len(options)
        return model.rank(user, np.array(data.tastes[u]), appeal, exposure, pairs)

    return rank


class Estimated:
    """The generator's model with its hidden values estimated from the training data."""

    def __init__(self, data: Dataset, matrix: Any, now: int, *, setting: Any) -> None:
        self.model = Generative(
            data, matrix, now, local_share=setting.local_share, style=setting.style
        )
        self.matrix = matrix
        # the matrix holds each view, a like on top of it: a listing's viewers are its
        # entries, its likes `matrix.likes`
        engaged = matrix.m.getnnz(axis=0) + matrix.likes
        self.appeal = (engaged + APPEAL_PRIOR) / (engaged.mean() + APPEAL_PRIOR)
        self.exposure = self.model.exposure(self.appeal)

    def tastes(self, user: str) -> tuple[np.ndarray, np.ndarray]:
        """The person's taste per category and, per category, the posterior over which tag pair
        they prefer (from which of their views became likes)."""
        model, n = self.model, len(TAXONOMY)
        row = self.matrix.m[self.matrix.users[user]]
        mine, hits = row.indices, row.data > self.matrix.LIKED_ABOVE  # viewed, and which liked
        taste = (
            np.bincount(model.cat[mine], minlength=n)
            + LIKE_WEIGHT * np.bincount(model.cat[mine[hits]], minlength=n)
            + TASTE_PRIOR
        )
        taste = taste / taste.sum()
        p = model.like_given_seen(taste, self.appeal, mine)
        loglik = np.zeros((n, len(model.pairs[0])))
        np.add.at(
            loglik,
            model.cat[mine],
            np.where(hits[:, None], np.log(np.maximum(p, 1e-12)), np.log1p(-p)),
        )
        pairs = np.exp(loglik - loglik.max(axis=1, keepdims=True))
        return taste, pairs / pairs.sum(axis=1, keepdims=True)

    def __call__(self, user: str) -> list[str]:
        taste, pairs = self.tastes(user)
        return self.model.rank(user, taste, self.appeal, self.exposure, pairs)
