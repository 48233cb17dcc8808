"""bench/learning.py at a tiny size (`make bench` runs it at 10k users / 100k listings / 1M
interactions): the fit runs as the worker runs it and its steps are timed inside it, first decks
are timed through a real `vendr serve` and in process, and the report says what was met."""

from __future__ import annotations

import time
from pathlib import Path

from bench import learning
from bench.common import Database, on_each
from graph.feed import learning as learner_module
from graph.infra.ids import now_ms
from seeds.generator import generate

STEPS = ("people", "examples", "penalty", "weights", "shadow", "record")


def test_a_step_inside_another_counts_for_the_outer_one_only() -> None:
    steps = learning.Steps()

    def weights() -> None:
        time.sleep(0.01)

    timed_weights = steps.sync("weights", weights)
    penalty = steps.sync("penalty", lambda: [timed_weights() for _ in range(3)])
    fit = steps.sync("fit", lambda: (penalty(), timed_weights()))
    fit()
    assert len(steps.spans["weights"]) == 1  # the penalty's three inner fits are its own
    assert len(steps.spans["penalty"]) == 1 and len(steps.spans["fit"]) == 1
    penalty_s, weights_s, fit_s = (steps.total(n) or 0.0 for n in ("penalty", "weights", "fit"))
    assert penalty_s >= 0.03 and weights_s >= 0.01
    assert fit_s >= penalty_s + weights_s
    assert steps.total("shadow") is None


def test_the_learning_bench_fits_as_the_worker_does_and_times_first_decks(
    tmp_path: Path,
) -> None:
    database = Database("falkordb", tmp_path / "db", graph_name="bench")
    data = generate(300, 1500, 20_000, seed=5, now=now_ms(), deals=False, quality=1.5, style=0.8)
    overrides = {"feed_fit_min_people": 50, "feed_fit_people": 300}
    results, failures = on_each(
        {"falkordb": database},
        lambda d: learning.measure(d, data, people=12, warm=2, overrides=overrides),
    )
    assert not failures, failures
    assert not database.running()
    run = results["falkordb"]
    assert run is not None and results["neo4j"] is None

    # the fit the load asked for ran in the worker's code path, and was recorded
    assert run.recorded["reason"] == run.outcome
    assert run.figures["people"] >= 50 and run.figures["sampled"] <= 300
    assert run.learnt == (run.recorded["version"] if run.shipped else "handset")
    # its steps were timed inside it, and the learner's functions are its own again
    assert set(STEPS) | {"fit", "worker"} <= set(run.steps)
    assert sum(run.steps[s] for s in STEPS) <= run.steps["fit"] <= run.steps["worker"]
    for name, _ in learning.MODULE_STEPS:
        assert getattr(learner_module, name).__name__ == name

    # every measured person's first deck, through the API and in process
    decks = run.decks
    assert len(decks["http_learnt"].ms) == 12
    assert len(decks["session_learnt"].ms) == 5 * learning.session_people(12)
    assert len(decks["arm_learnt"].ms) + len(decks["arm_handset"].ms) == 12
    assert len(decks["process_learnt"].ms) == len(decks["process_handset"].ms) == 12
    assert len(decks["process_diff"].ms) == 12
    assert all(d.errors == 0 and d.empty == 0 for d in decks.values())
    p50, p99 = decks["http_learnt"].p(50), decks["http_learnt"].p(99)
    assert p50 is not None and p99 is not None and 0 < p50 <= p99

    text = learning.markdown(
        results,
        {"falkordb": database},
        failures,
        (300, 1500, 20_000),
        (0.1, 20_000),
        12,
        2,
        (0.5, 0.5, 0.5),
    )
    assert "**FalkorDB**: the fit in the worker's code path took" in text
    assert "under a minute **met**" in text  # a few seconds at this size
    assert run.outcome in text
    assert "| fitted | " in text and "experiment arm `handset`" in text
    assert "in swipe sessions (as bench/catalog.md measures a deck)" in text
    assert "shipped − hand-set blend: median" in text
