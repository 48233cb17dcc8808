"""The offline evaluation's pieces on a small generated marketplace (no database needed)."""

from __future__ import annotations

import random

from bench.eval import Matrix, als, hit_and_ndcg, holdout, item_knn, popular
from seeds.generator import generate


def test_holdout_removes_the_answer_and_every_ranker_skips_what_you_touched() -> None:
    data = generate(120, 600, 6000, seed=2, now=1_800_000_000_000)
    held = holdout(data, random.Random(1), 30)
    assert held
    for kind in ("VIEWED", "LIKED", "SAVED"):
        assert not any(held.get(r["u"]) == r["p"] for r in data.interactions[kind])
    matrix = Matrix(data)
    rankers = [popular(matrix), item_knn(matrix), als(matrix)]
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
