"""The offline evaluation's pieces on small generated marketplaces (no database needed, but
for the last test: the whole path of one setting, the product's fit included, on both
backends)."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections import Counter

import numpy as np
import orjson
import pytest

import bench.eval
from bench import ceiling
from bench.eval import (
    AT_ONCE,
    ESTIMATED,
    FEED,
    FEEDS,
    HANDSET_FEED,
    ORACLE,
    SETTINGS,
    Fit,
    Matrix,
    Outcome,
    Ranker,
    Setting,
    affinity_popularity,
    als,
    describe,
    evaluate,
    hit_and_ndcg,
    holdout,
    item_knn,
    marketplace,
    popular,
    scaled,
    section,
    summary,
    verdict,
)
from graph.bootstrap import bootstrap, shutdown
from graph.feed.blend import HANDSET, Blend
from graph.infra.settings import Settings
from seeds.generator import DAY_MS, Structure, generate
from tests.conftest import drop_all, read

NOW = 1_800_000_000_000


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


def _digest(**options: object) -> str:
    data = generate(120, 600, 6000, seed=2, now=NOW, **options)  # type: ignore[arg-type]
    rows = [data.users, data.products, data.interactions, data.tastes]
    rows += [dataclasses.asdict(data.deals), data.rings]
    return hashlib.sha256(orjson.dumps(rows, option=orjson.OPT_SORT_KEYS)).hexdigest()


def test_the_generator_s_new_options_leave_its_defaults_as_they_were() -> None:
    # digests of the generator's output before listed_days and likes_per_user existed
    assert _digest() == "111a13891e8656f81c36b88ed13304e2db7d9efaa3876eb2b5a53d3d607df678"
    assert (
        _digest(deals=False, local_share=0.85, quality=0.6, style=0.8)
        == "bd1b594bd1c6b5c2acd031acf0df796535d87c9883838237a37318ed930b8fb6"
    )


def test_listed_at_once_every_listing_is_the_same_age_and_still_listed() -> None:
    data = generate(120, 600, 6000, seed=2, now=NOW, deals=False, listed_days=AT_ONCE)
    created = [p["created_at"] for p in data.products]
    assert max(created) - min(created) <= DAY_MS / 24
    assert NOW - max(created) >= 20 * DAY_MS
    assert all(p["expires_at"] > NOW for p in data.products)
    for kind, rows in data.interactions.items():
        assert all(r["at"] >= min(created) for r in rows), kind


def test_very_sparse_people_stop_after_their_quota_of_likes() -> None:
    setting = next(s for s in SETTINGS if s.likes_per_user)
    data = marketplace(scaled(setting, 0.1), 2, NOW)
    likes = Counter(r["u"] for r in data.interactions["LIKED"])
    counts = [likes[u["id"]] for u in data.users]
    low, high = setting.likes_per_user or (0, 0)
    assert max(counts) == high and sum(c >= low for c in counts) > 0.95 * len(counts)
    held = holdout(data, random.Random(1), 1000, setting.min_likes)
    assert len(held) > 0.95 * len(counts)  # two likes are enough to be evaluated
    assert any(likes[u] == 2 for u in held)


def test_heavy_tailed_appeal_puts_likes_on_a_few_listings() -> None:
    popular_setting = next(s for s in SETTINGS if s.name == "popularity-driven")
    default = describe(marketplace(scaled(SETTINGS[0], 0.1), 2, NOW), NOW)
    heavy = describe(marketplace(scaled(popular_setting, 0.1), 2, NOW), NOW)
    assert heavy["top1_share"] > 2 * default["top1_share"]


def test_every_setting_has_ceilings_that_rank_untouched_listings() -> None:
    for setting in SETTINGS:
        small = scaled(setting, 0.1)
        data = marketplace(small, 2, NOW)
        held = holdout(data, random.Random(1), 10, small.min_likes)
        matrix = Matrix(data, NOW)
        ranks = [
            ceiling.oracle(data, matrix, NOW, seed=2, setting=small),
            ceiling.Estimated(data, matrix, NOW, setting=small),
        ]
        for rank in ranks:
            for user in held:
                top = rank(user)
                assert len(top) == 10 and len(set(top)) == 10, setting.name
                assert not set(top) & (matrix.seen[user] | matrix.own[user])


def _outcome(name: str, feed: float, handset: float, best: float, model: float) -> Outcome:
    """An outcome with these hit rates over 400 users (ranked alike where they can be)."""
    users = 400

    def hits(rate: float) -> np.ndarray:
        hit = (np.arange(users) < round(rate * users)).astype(float)
        return np.column_stack([hit, hit / 2])

    fitted = Blend("fit-x", (0.5,) + (0.1,) * (len(HANDSET.weights) - 1))
    shipped = feed != handset
    fit = Fit(shipped, "why", fitted if shipped else HANDSET, fitted, {"people": 9}, 1.0)
    shape = {k: 1.0 for k in ("likes_median", "likes_p10", "likes_p90", "top1_share")}
    shape |= {"interactions": 10, "likes": 5, "age_min": 20.0, "age_max": 20.01}
    return Outcome(
        Setting(name, named=True, about="test"),
        users,
        {FEED: hits(feed), HANDSET_FEED: hits(handset), "a baseline": hits(best)},
        {},
        {f: 0.5 for f in FEEDS},
        {ORACLE: hits(model + 0.1)[:, 0], ESTIMATED: hits(model)[:, 0]},
        fit,
        shape,
        {"rank": 1.0},
    )


def test_the_report_judges_each_target_with_its_interval() -> None:
    ahead = _outcome("ahead", feed=0.5, handset=0.3, best=0.3, model=0.52)
    level = _outcome("level", feed=0.33, handset=0.33, best=0.31, model=0.5)
    a, b = verdict(ahead), verdict(level)
    assert a.beats_best and a.near_ceiling and a.learnt_better
    # 1.06x is short of 1.1x whatever the interval; a learnt row equal to the hand-set one
    # (nothing shipped) does not beat it
    assert not b.beats_best and not b.near_ceiling and not b.learnt_better
    assert b.vs_handset == (1.0, 1.0, 1.0)
    text = "\n".join(summary([ahead, level]) + section(ahead) + section(level))
    assert "Learnt beats hand-set in **1 of 2** settings" in text
    assert "met in 1 of 2 settings, the 90% one in 1; both in 1 of 2" in text
    assert "the same ranking (the fit shipped nothing)" in text
    assert "all listed within 0.2 hours, 20 days before the run" in text


@pytest.fixture
def backend() -> str:
    """`make eval` runs on the embedded FalkorDB alone, and so does its test here (the
    learner's own tests run its fit on both backends)."""
    return "falkordb"


async def test_one_setting_end_to_end_with_the_product_s_fit(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small marketplace through the whole path: loaded, fitted by the learner, ranked by
    the deck with the learnt and the hand-set blend, every baseline and ceiling; the graph
    and the keys emptied afterwards. (The baselines' grids cut to their first point: their
    tuning is not what this checks.)"""
    for grid in ("ALS_GRID", "POWER_GRID", "RECENCY_GRID"):
        monkeypatch.setattr(bench.eval, grid, getattr(bench.eval, grid)[:1])
    await drop_all(settings)
    setting = Setting(
        "tiny, listed at once",
        users=260,
        products=1200,
        interactions=18_000,
        listed_days=AT_ONCE,
        named=True,
        about="test",
    )
    out = await evaluate(setting, 40, settings, seed=2)
    assert out.evaluated == 40
    for name, scores in out.scores.items():
        assert scores.shape == (40, 2), name
    assert set(out.scores) >= {FEED, HANDSET_FEED, "ALS (implicit, tuned)"}
    assert out.fit.figures["people"] >= 200  # enough people for the learner to fit
    if out.fit.shipped:
        assert out.fit.current.weights == out.fit.fitted.weights != HANDSET.weights
    else:  # nothing shipped: the learnt row is the hand-set ranking
        assert out.fit.current.weights == HANDSET.weights
        assert np.array_equal(out.scores[FEED], out.scores[HANDSET_FEED])
    text = "\n".join(section(out))
    assert "Learnt / hand-set HR@10" in text and out.fit.reason in text
    # what evaluate loaded and kept is gone (a FalkorDB graph dropped is no graph at all:
    # bootstrapping makes it again, empty, to count in)
    services = await bootstrap(settings)
    try:
        keys = {k async for k in services.redis.scan_iter(match=settings.redis_prefix + "*")}
        assert keys <= {(settings.redis_prefix + "server-secret").encode()}  # bootstrap's own
        assert (await read(services, "MATCH (n) RETURN count(n) AS n"))[0]["n"] == 0
    finally:
        await services.store.drop_all()
        await shutdown(services)
