"""Offline evaluation of the feed on seeded data with hidden tastes: hold out each user's most
recent like, then ask each ranker for its top 10 and count how often the held-out listing is in
it (HR@10) and how high (nDCG@10), with 95% bootstrap intervals over users.

The baselines get the context the feed gets: the person's place (the same radius and pickup
rule), their liked tags, popularity and listings' age. Most popular near you; most popular in
your liked tags near you; tag affinity x popularity near you, without and with recency;
item-kNN and ALS over every listing. Tunable ones (ALS, the affinity x popularity exponent and
recency) are tuned on a validation like held out of the training data (each user's second most
recent), never on the test like. Several generator settings (local vs national, dense vs
sparse), each its own marketplace. Next to them, two ceilings (bench/ceiling.py): how far a
ranker that knew how the data was made could get."""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse, stats
from threadpoolctl import threadpool_limits

from bench import ceiling
from bench.common import ROOT, machine
from graph.bootstrap import Services, bootstrap, shutdown
from graph.catalog.browse import DEFAULT_RADIUS_KM
from graph.infra import embedded
from graph.infra.geo import EARTH_RADIUS_M
from graph.infra.settings import Settings
from seeds.generator import Dataset, generate
from seeds.loader import load

REPORT = ROOT / "bench" / "eval.md"
K = 10
WEIGHTS = {"VIEWED": 0.3, "LIKED": 1.0, "SAVED": 1.0}
PICKUP_KM = Settings.model_fields["pickup_radius_km"].default
Ranker = Callable[[str], list[str]]


@dataclass(frozen=True)
class Setting:
    name: str
    users: int = 1500
    products: int = 10_000
    interactions: int = 150_000
    local_share: float = 0.85
    quality: float = 0.6  # spread of listings' appeal
    style: float = 0.8  # how strongly likes follow each person's preferred tags


SETTINGS = (
    Setting("local, dense (default)"),
    Setting("national, dense", local_share=0.4),
    Setting("local, sparse", interactions=45_000),
)


def marketplace(setting: Setting, seed: int, now: int) -> Dataset:
    """The setting's generated marketplace. No deals: every listing stays available, so every
    ranker ranks the same ones."""
    return generate(
        setting.users,
        setting.products,
        setting.interactions,
        seed=seed,
        now=now,
        deals=False,
        local_share=setting.local_share,
        quality=setting.quality,
        style=setting.style,
    )


def holdout(data: Any, rng: random.Random, users: int) -> dict[str, str]:
    """Each sampled user's most recent like leaves the training data, with the view and save of
    that listing (a view before the like would give the answer away)."""
    likes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in data.interactions["LIKED"]:
        likes[row["u"]].append(row)
    eligible = sorted(u for u, rows in likes.items() if len(rows) >= 3)
    chosen = rng.sample(eligible, min(users, len(eligible)))
    held = {u: max(likes[u], key=lambda r: r["at"])["p"] for u in chosen}
    _drop(data, held)
    return held


def validation(data: Any, users: list[str]) -> tuple[Any, dict[str, str]]:
    """A copy of the training data without each user's (next) most recent like: what tuning
    may look at."""
    likes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in data.interactions["LIKED"]:
        likes[row["u"]].append(row)
    held = {u: max(likes[u], key=lambda r: r["at"])["p"] for u in users if likes[u]}
    copy = replace(data, interactions={k: list(v) for k, v in data.interactions.items()})
    _drop(copy, held)
    return copy, held


def _drop(data: Any, held: dict[str, str]) -> None:
    for kind in ("VIEWED", "LIKED", "SAVED"):
        data.interactions[kind] = [r for r in data.interactions[kind] if held.get(r["u"]) != r["p"]]


def hit_and_ndcg(ranked: list[str], target: str) -> tuple[float, float]:
    if target in ranked[:K]:
        return 1.0, 1.0 / math.log2(ranked.index(target) + 2)
    return 0.0, 0.0


class Matrix:
    LIKED_ABOVE = 0.5  # an entry above this holds a like (a view alone weighs less)

    def __init__(self, data: Any, now: int) -> None:
        self.users = {u["id"]: i for i, u in enumerate(data.users)}
        self.items = {p["id"]: i for i, p in enumerate(data.products)}
        self.item_ids = [p["id"] for p in data.products]
        rows, cols, vals = [], [], []
        for kind, weight in WEIGHTS.items():
            for r in data.interactions[kind]:
                rows.append(self.users[r["u"]])
                cols.append(self.items[r["p"]])
                vals.append(weight)
        self.m = sparse.csr_matrix((vals, (rows, cols)), shape=(len(self.users), len(self.items)))
        self.m.sum_duplicates()
        seen = defaultdict(set)
        for kind in ("LIKED", "PASSED", "SAVED"):
            for r in data.interactions[kind]:
                seen[r["u"]].add(r["p"])
        self.seen = seen
        self.own = defaultdict(set)
        for p in data.products:
            self.own[p["owner"]].add(p["id"])
        # what a person could get: near enough to pick up, or shipped
        self.lat = np.radians([p["lat"] for p in data.products])
        self.lon = np.radians([p["lon"] for p in data.products])
        self.ships = np.array([bool(p.get("ships")) for p in data.products])
        self.home = {u["id"]: (math.radians(u["lat"]), math.radians(u["lon"])) for u in data.users}
        tag_names = sorted({t for p in data.products for t in p["tags"]})
        index = {t: i for i, t in enumerate(tag_names)}
        t_rows = [i for i, p in enumerate(data.products) for _ in p["tags"]]
        t_cols = [index[t] for p in data.products for t in p["tags"]]
        self.tags = sparse.csr_matrix(
            (np.ones(len(t_rows)), (t_rows, t_cols)), shape=(len(self.item_ids), len(tag_names))
        )
        self.likes = np.asarray((self.m > self.LIKED_ABOVE).sum(axis=0)).ravel().astype(float)
        created = np.array([p["created_at"] for p in data.products], dtype=float)
        self.age_days = np.maximum(0.0, (now - created) / 86_400_000)

    def distance_km(self, user: str) -> np.ndarray:
        lat, lon = self.home[user]
        a = (
            np.sin((self.lat - lat) / 2) ** 2
            + np.cos(lat) * np.cos(self.lat) * np.sin((self.lon - lon) / 2) ** 2
        )
        return 2 * EARTH_RADIUS_M / 1000 * np.arcsin(np.sqrt(np.minimum(1.0, a)))

    def near(self, user: str) -> np.ndarray:
        """Within the feed's default radius (and so within the pickup radius)."""
        return self.distance_km(user) <= DEFAULT_RADIUS_KM

    def tag_weights(self, user: str) -> np.ndarray:
        """The person's weight on each tag: their likes, saves and views of listings in it."""
        return np.asarray((self.m[self.users[user]] @ self.tags).todense()).ravel()

    def affinity(self, user: str) -> np.ndarray:
        """Share of the person's tag weight (likes, saves, views) each listing's tags carry."""
        weights = self.tag_weights(user)
        total = weights.sum()
        return np.asarray(self.tags @ (weights / total)).ravel() if total else weights[:0]

    def top(self, user: str, scores: np.ndarray) -> list[str]:
        scores = scores.astype(float).copy()
        for pid in self.seen[user] | self.own[user]:
            scores[self.items[pid]] = -np.inf
        best = np.argpartition(-scores, K)[:K]
        return [self.item_ids[i] for i in best[np.argsort(-scores[best])]]


RECENCY = "tag affinity x popularity x recency near you"
ORACLE = "oracle: knows the hidden tastes, appeal and preferred tags"
ESTIMATED = "the generator's own model, hidden values estimated"

# Listings outside the context a baseline uses rank after every listing inside it (by the same
# score), so each baseline always fills its ten.
OUTSIDE = 1e6


def popular(matrix: Matrix) -> Ranker:
    return lambda user: matrix.top(user, matrix.likes)


def popular_near(matrix: Matrix) -> Ranker:
    return lambda user: matrix.top(user, matrix.likes + OUTSIDE * matrix.near(user))


def popular_in_tags_near(matrix: Matrix, top_tags: int = 5) -> Ranker:
    def rank(user: str) -> list[str]:
        weights = matrix.tag_weights(user)
        liked = np.argsort(-weights)[:top_tags]
        liked = liked[weights[liked] > 0]
        tagged = np.asarray(matrix.tags[:, liked].sum(axis=1)).ravel() > 0
        near = matrix.near(user)
        return matrix.top(user, matrix.likes + OUTSIDE * near + OUTSIDE * (near & tagged))

    return rank


def affinity_popularity(
    matrix: Matrix, power: float = 1.0, shipped: float = 0.0, fresh_days: float = math.inf
) -> Ranker:
    """Tag affinity x (1 + likes)^power near you, x e^(-age / fresh_days) when recency counts;
    listings further away that ship count `shipped` times as much (0: near only, as the other
    local baselines)."""

    wanted = (1 + matrix.likes) ** power * np.exp(-matrix.age_days / fresh_days)  # anyone's

    def rank(user: str) -> list[str]:
        affinity = matrix.affinity(user)
        if not affinity.size:
            affinity = np.ones(len(matrix.item_ids))
        score = affinity * wanted
        near = matrix.near(user)
        return matrix.top(user, np.where(near, score, shipped * score * matrix.ships))

    return rank


def item_knn(matrix: Matrix) -> Ranker:
    m = matrix.m.tocsc().astype(np.float64)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel()) + 1e-9
    normalised = m @ sparse.diags(1 / norms)
    sims = (normalised.T @ normalised).tocsr()
    sims.setdiag(0)

    def rank(user: str) -> list[str]:
        profile = matrix.m[matrix.users[user]]
        return matrix.top(user, np.asarray((profile @ sims).todense()).ravel())

    return rank


ALS_GRID = [
    {"factors": f, "regularization": r, "iterations": i, "alpha": a}
    for f in (32, 96)
    for r in (0.05, 1.0)
    for i in (15,)
    for a in (5.0, 20.0)
]


def als(
    matrix: Matrix,
    factors: int = 48,
    regularization: float = 0.05,
    iterations: int = 15,
    alpha: float = 20.0,
) -> Ranker:
    from implicit.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS ones fight them
        model = AlternatingLeastSquares(
            factors=factors, regularization=regularization, iterations=iterations, random_state=7
        )
        model.fit((matrix.m * alpha).tocsr(), show_progress=False)

    def rank(user: str) -> list[str]:
        u = matrix.users[user]
        return matrix.top(user, model.item_factors @ model.user_factors[u])

    return rank


def tune(
    make: Callable[..., Ranker], grid: list[dict[str, Any]], matrix: Matrix, held: dict[str, str]
) -> tuple[dict[str, Any], float]:
    """The grid point with the best validation HR@10 (ties: nDCG)."""
    best: tuple[tuple[float, float], dict[str, Any]] | None = None
    for point in grid:
        rank = make(matrix, **point)
        scores = np.array([hit_and_ndcg(rank(u), t) for u, t in held.items()])
        key = (float(scores[:, 0].mean()), float(scores[:, 1].mean()))
        if best is None or key > best[0]:
            best = (key, point)
    assert best is not None
    return best[1], best[0][0]


BOOTSTRAP = {"confidence_level": 0.95, "n_resamples": 2000, "method": "percentile"}


def interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    if values.std() == 0:
        return float(values.mean()), float(values.mean())
    res = stats.bootstrap((values,), np.mean, random_state=seed, **BOOTSTRAP)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def ratio_interval(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% interval of mean(a) / mean(b), resampling users (paired)."""
    if b.sum() == 0:
        return math.inf, math.inf
    res = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(x, axis=axis) / np.maximum(np.mean(y, axis=axis), 1e-9),
        paired=True,
        vectorized=True,
        random_state=seed,
        **BOOTSTRAP,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


async def feed_ranker(services: Services, user: str) -> list[str]:
    cards = await services.feed.deck(user, None, None, K, fresh=True)
    return [c.product["id"] for c in cards]


@dataclass
class Outcome:
    setting: Setting
    evaluated: int
    scores: dict[str, np.ndarray]  # ranker -> (users, 2): hit, ndcg
    tuned: dict[str, str]
    reach: float  # share of held-out likes the feed's session ranking holds at all
    ceilings: dict[str, np.ndarray]  # what the data allows (bench/ceiling.py), not baselines


async def evaluate(setting: Setting, evaluated: int, data_dir: Path, graph: str) -> Outcome:
    now = int(time.time() * 1000)
    seed = 3
    data = marketplace(setting, seed, now)
    held = holdout(data, random.Random(11), evaluated)
    matrix = Matrix(data, now)
    val_data, val_held = validation(data, list(held))
    val_matrix = Matrix(val_data, now)
    als_point, _ = tune(als, ALS_GRID, val_matrix, val_held)
    power_point, _ = tune(
        affinity_popularity,
        [{"power": p, "shipped": w} for p in (0.5, 1.0, 2.0) for w in (0.0, 0.3, 1.0)],
        val_matrix,
        val_held,
    )
    recency_point, _ = tune(
        affinity_popularity,
        [
            {"power": p, "shipped": w, "fresh_days": f}
            for p in (0.5, 1.0, 2.0)
            for w in (0.0, 0.3)
            for f in (1.0, 2.0, 3.0, 5.0, 10.0)
        ],
        val_matrix,
        val_held,
    )
    rankers: dict[str, Ranker] = {
        "most popular (anywhere)": popular(matrix),
        "most popular near you": popular_near(matrix),
        "most popular in your tags near you": popular_in_tags_near(matrix),
        "tag affinity x popularity near you": affinity_popularity(matrix, **power_point),
        RECENCY: affinity_popularity(matrix, **recency_point),
        "item-kNN (cosine)": item_knn(matrix),
        "ALS (implicit, tuned)": als(matrix, **als_point),
    }
    ceilings: dict[str, Ranker] = {
        ORACLE: ceiling.oracle(data, matrix, now, seed=seed, setting=setting),
        ESTIMATED: ceiling.Estimated(data, matrix, now, setting=setting),
    }
    results: dict[str, list[tuple[float, float]]] = defaultdict(list)
    reachable: dict[str, list[float]] = defaultdict(list)
    # a graph and key prefix per setting: bootstrap makes the indexes the load relies on
    settings = Settings(
        data_dir=data_dir, graph_name=graph, redis_prefix=f"{graph}:", rate_limits="off"
    )
    services = await bootstrap(settings)
    reached = 0
    try:
        await load(services, data)
        for user, target in held.items():
            results["Vendr feed"].append(hit_and_ndcg(await feed_ranker(services, user), target))
            session = await services.feed.ranking(user)
            reached += target in session
            for name, rank in rankers.items():
                results[name].append(hit_and_ndcg(rank(user), target))
            for name, rank in ceilings.items():
                reachable[name].append(hit_and_ndcg(rank(user), target)[0])
        await services.store.drop_all()
    finally:
        await shutdown(services)
    return Outcome(
        setting,
        len(held),
        {name: np.array(r) for name, r in results.items()},
        {
            "ALS (implicit, tuned)": ", ".join(f"{k} {v:g}" for k, v in als_point.items()),
            "tag affinity x popularity near you": ", ".join(
                f"{k} {v:g}" for k, v in power_point.items()
            ),
            RECENCY: ", ".join(f"{k} {v:g}" for k, v in recency_point.items()),
        },
        reached / max(1, len(held)),
        {name: np.array(hits) for name, hits in reachable.items()},
    )


def versus(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(a) / mean(b), with its 95% interval."""
    low, high = ratio_interval(a, b)
    return float(a.mean() / max(b.mean(), 1e-9)), low, high


def section(out: Outcome) -> list[str]:
    s = out.setting
    feed = out.scores["Vendr feed"]
    baselines = {n: v for n, v in out.scores.items() if n != "Vendr feed"}
    best = max(baselines, key=lambda n: (baselines[n][:, 0].mean(), baselines[n][:, 1].mean()))
    lines = [
        f"## {s.name}",
        "",
        f"{s.users:,} users, {s.products:,} listings, {s.interactions:,} interactions; "
        f"{s.local_share:.0%} of what people look at is in their own city; {out.evaluated} "
        f"users evaluated. The feed's session ranking holds the held-out listing for "
        f"{out.reach:.0%} of them (the most a deck drawn from it could reach).",
        "",
        "| ranker | HR@10 (95% CI) | nDCG@10 (95% CI) | tuned on validation |",
        "|---|---|---|---|",
    ]
    hr_intervals = {}
    for name, v in out.scores.items():
        hr, nd = v[:, 0], v[:, 1]
        hl, hh = hr_intervals[name] = interval(hr)
        nl, nh = interval(nd)
        bold = "**" if name in ("Vendr feed", best) else ""
        lines.append(
            f"| {bold}{name}{bold} | {hr.mean():.3f} ({hl:.3f}–{hh:.3f}) | "
            f"{nd.mean():.3f} ({nl:.3f}–{nh:.3f}) | {out.tuned.get(name, '')} |"
        )
    best_hits = baselines[best][:, 0]
    ratio, low, high = versus(feed[:, 0], best_hits)
    apart = hr_intervals["Vendr feed"][0] > hr_intervals[best][1]
    met = ratio >= 1.3
    lines += [
        "",
        f"Feed HR@10 / best baseline ({best}): **{ratio:.2f}x** (95% CI {low:.2f}–{high:.2f}); "
        f"target 1.3x: {'met' if met else 'NOT met'}; intervals "
        f"{'do not overlap' if apart else 'overlap'}.",
        "",
        "What the data allows (not rankers the app could run; see above):",
        "",
        f"| ceiling | HR@10 (95% CI) | / {best} (95% CI) |",
        "|---|---|---|",
    ]
    for name, hits in out.ceilings.items():
        hl, hh = interval(hits)
        r, rl, rh = versus(hits, best_hits)
        lines.append(
            f"| {name} | {hits.mean():.3f} ({hl:.3f}–{hh:.3f}) | {r:.2f}x ({rl:.2f}–{rh:.2f}) |"
        )
    lines.append("")
    return lines


async def run(evaluated: int, settings: tuple[Setting, ...]) -> str:
    data_dir = ROOT / "var" / "eval"
    embedded.stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    embedded.start(data_dir)
    try:
        outcomes = [
            await evaluate(s, evaluated, data_dir, f"eval{k}") for k, s in enumerate(settings)
        ]
    finally:
        embedded.stop(data_dir)
    lines = [
        "# Feed: offline evaluation",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}. `make eval` writes this "
        "file. Each setting is its own generated marketplace: people like by hidden tastes "
        "over categories and preferred tags within them, listings differ in appeal (seen and "
        "liked more), and what people look at outside their city is what ships. For up to "
        f"{evaluated} users with at least three likes the most recent like (with its view and "
        "save) is held out; every ranker ranks the listings the user has not touched. "
        "Intervals: 95% percentile bootstrap over users (2,000 resamples; the ratio's paired).",
        "",
        "Baselines get the feed's context: the person's place (the feed's default radius, "
        f"{DEFAULT_RADIUS_KM:g} km; pickup-only listings beyond {PICKUP_KM:g} km are out of "
        "reach), their tag weights, listings' popularity (likes) and, for one of them, their "
        "age: what people like next is mostly new, and the feed counts that too. ALS (grid "
        "over factors, regularisation and confidence scaling) and the affinity x popularity "
        "exponent, shipped weight and recency decay are tuned on a validation like (each "
        "user's second most recent), not the test like.",
        "",
        "Two ceilings show how far any ranker could get on this data (bench/ceiling.py). "
        "Both read the generator's own form: listings' categories, people's home cities, its "
        "local share and style strength; both score the probability that a listing is the "
        "person's next like, after their latest one. The oracle also knows the hidden values "
        "the generator drew. The generator's own model estimates them from the training data: "
        "tastes per category from views and likes, appeal from how often a listing was seen "
        "and liked, preferred tags as a posterior given which views became likes. A target "
        "above the second ceiling asks more than the data can tell about people.",
        "",
    ]
    for out in outcomes:
        lines += section(out)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--evaluated", type=int, default=400)
    parser.add_argument("--settings", type=int, default=len(SETTINGS), help="run the first N")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    report = asyncio.run(run(args.evaluated, SETTINGS[: args.settings]))
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
