"""The offline evaluation's pieces on a small generated marketplace (no database needed)."""

from __future__ import annotations

import random

import numpy as np

from bench import ceiling
from bench.eval import (
    Matrix,
    Ranker,
    Setting,
    affinity_popularity,
    als,
    hit_and_ndcg,
    holdout,
    item_knn,
    marketplace,
    popular,
)
from seeds.generator import Structure, generate


def test_holdout_removes_the_answer_and_every_ranker_skips_what_you_touched() -> None:
    data = generate(120, 600, 6000, seed=2, now=1_800_000_000_000)
    held = holdout(data, random.Random(1), 30)
    assert held
    for kind in ("VIEWED", "LIKED", "SAVED"):
        assert not any(held.get(r["u"]) == r["p"] for r in data.interactions[kind])
    matrix = Matrix(data, now=1_800_000_000_000)
    rankers = [popular(matrix), item_knn(matrix), als(matrix), affinity_popularity(matrix)]
    rankers.append(affinity_popularity(matrix, fresh_days=2.0))
    for user in held:
        for rank in rankers:
            top = rank(user)
            assert len(top) == 10 and len(set(top)) == 10
            assert not set(top) & (matrix.seen[user] | matrix.own[user])


def test_hit_rate_and_ndcg() -> None:
    ranked = [f"p{i}" for i in range(10)]
    assert hit_and_ndcg(ranked, "p0") == (1.0, 1.0)
    assert hit_and_ndcg(ranked, "p1")[1] < 1.0
    assert hit_and_ndcg(ranked, "missing") == (0.0, 0.0)


def test_the_recency_baseline_ranks_newer_listings_than_without_recency() -> None:
    data = generate(120, 600, 6000, seed=2, now=1_800_000_000_000)
    matrix = Matrix(data, now=1_800_000_000_000)
    plain, recent = affinity_popularity(matrix), affinity_popularity(matrix, fresh_days=1.0)
    users = [u["id"] for u in data.users[:40]]

    def mean_age(rank: Ranker) -> float:
        return sum(matrix.age_days[matrix.items[p]] for u in users for p in rank(u)) / 400

    assert mean_age(recent) < mean_age(plain) / 2


def test_the_ceilings_rank_untouched_listings_and_recover_the_hidden_tastes() -> None:
    now = 1_800_000_000_000
    setting = Setting("small", users=150, products=800, interactions=20_000, style=1.0)
    data = marketplace(setting, 2, now)
    held = holdout(data, random.Random(1), 30)
    matrix = Matrix(data, now)
    estimated = ceiling.Estimated(data, matrix, now, setting=setting)
    for rank in (ceiling.oracle(data, matrix, now, seed=2, setting=setting), estimated):
        for user in held:
            top = rank(user)
            assert len(top) == 10 and len(set(top)) == 10
            assert not set(top) & (matrix.seen[user] | matrix.own[user])
    # the estimates track what the generator drew: tastes closely, and in each person's
    # favourite category the preferred tag pair (one of ten) most of the time
    hidden = Structure.draw(data, 2, setting.quality, setting.style)
    correlations, right_pair = [], 0
    for i, user in enumerate(data.users):
        taste, pairs = estimated.tastes(user["id"])
        correlations.append(np.corrcoef(taste, data.tastes[i])[0, 1])
        favourite = int(np.argmax(data.tastes[i]))
        best = estimated.model.pairs[favourite][int(np.argmax(pairs[favourite]))]
        right_pair += best == hidden.liked_tags[i][favourite]
    assert np.mean(correlations) > 0.9
    assert right_pair / len(data.users) > 0.6
