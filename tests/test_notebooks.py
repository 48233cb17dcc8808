"""The analysts' side: the Cypher library as DataFrames and graphs (graph.analytics.market), its
statistics, and every notebook executed end to end against a seeded graph, with a planted rating
ring the trust notebook has to find."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from scipy import stats

from graph.analytics import notebooks
from graph.analytics.market import Market, median_ci, median_survival, rate_ci, survival
from graph.bootstrap import bootstrap, shutdown
from graph.feed import flush_impressions
from graph.infra.ids import now_ms
from graph.infra.settings import Settings
from seeds.loader import seed
from tests.conftest import make_settings, read
from tests.test_experiments import run_experiment

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebooks.all_notebooks(ROOT / "notebooks")
RING = ["ringa", "ringb", "ringc", "ringd"]
EXPERIMENT = "blend-test:current=50,handset=50"

# Four fresh accounts that sell to each other round and round, both ways, many times: the
# pattern a rating ring leaves in the deal graph. Written here the way the seed loader writes
# deals, straight into the graph, because the point is the shape, not the order workflow.
PLANT_RING = """
UNWIND range(0, size($handles) - 1) AS i
CREATE (:User {id: 'ring-' + $handles[i], handle: $handles[i], display_name: $handles[i],
               kind: 'person', city: 'Utrecht', status: 'active', created_at: $now - 3 * 86400000,
               email_verified: false, phone_verified: false, trust_score: 0})
WITH count(*) AS made
UNWIND range(0, size($handles) - 1) AS i
UNWIND range(1, 3) AS round
MATCH (a:User {id: 'ring-' + $handles[i]})
MATCH (b:User {id: 'ring-' + $handles[(i + 1) % size($handles)]})
CREATE (a)-[:PLACED]->(:Order {id: 'ring-o-' + toString(i) + '-' + toString(round),
        status: 'completed', quantity: 1, amount: 1000, currency: 'EUR', buyer_id: a.id,
        seller_id: b.id, created_at: $now - round * 3600000, completed_at: $now})
CREATE (b)-[:PLACED]->(:Order {id: 'ring-r-' + toString(i) + '-' + toString(round),
        status: 'completed', quantity: 1, amount: 1000, currency: 'EUR', buyer_id: b.id,
        seller_id: a.id, created_at: $now - round * 3600000, completed_at: $now})
"""


@pytest.fixture(scope="module")
async def market_settings(data_dir: Path) -> AsyncIterator[Settings]:
    settings = make_settings(data_dir, feed_experiment=EXPERIMENT)
    services = await bootstrap(settings)
    await seed(services, users=100, products=400, interactions=4000, seed=13)
    await services.store.run_text(PLANT_RING, {"handles": RING, "now": now_ms()}, write=True)
    # an experiment's decks, dealt by the feed, and what people did with them (the notebook's)
    people = await read(services, "MATCH (u:User {kind: 'person'}) RETURN u.id AS id LIMIT 40")
    await run_experiment(services, sorted(row["id"] for row in people), size=10)
    await flush_impressions(services.store, services.redis, settings.redis_prefix)
    yield settings
    await services.store.drop_all()
    keys = [k async for k in services.redis.scan_iter(match=settings.redis_prefix + "*")]
    if keys:
        await services.redis.delete(*keys)
    await shutdown(services)


@pytest.fixture(scope="module")
def market(market_settings: Settings) -> Any:
    with Market(market_settings) as m:
        yield m


def notebook_parameters(settings: Settings) -> dict[str, Any]:
    fields = ("data_dir", "graph_url", "graph_name", "redis_prefix", "redis_url")
    fields += ("neo4j_user", "neo4j_password")
    return {"settings": {f: str(getattr(settings, f)) for f in fields}}


# -- the library as frames ------------------------------------------------------------------


def test_every_library_file_is_listed_with_what_it_answers(market) -> None:
    listed = market.queries()
    names = set(listed.name)
    assert {"stale_listings", "insights/listings", "insights/people"} <= names
    assert all(listed.summary.str.len() > 10), listed[listed.summary.str.len() <= 10]


async def test_frame_returns_the_rows_cypher_returns(market, market_settings) -> None:
    listings = market.frame("insights/listings")
    services = await bootstrap(market_settings, ensure_schema=False)
    try:
        truth = await read(
            services, "MATCH (p:Product) WHERE p.status <> 'deleted' RETURN count(p) AS n"
        )
    finally:
        await shutdown(services)
    assert len(listings) == truth[0]["n"] == 400
    assert {"price", "tags", "views", "first_sale_ms", "sold_prices"} <= set(listings.columns)
    assert listings.tags.map(len).gt(0).all()


def test_an_empty_result_keeps_its_columns(market) -> None:
    reviews = market.frame("insights/review_edges", min_rating=6)
    assert reviews.empty
    assert list(reviews.columns) == ["reviewer", "reviewed", "rating", "at_ms"]


@pytest.mark.parametrize("name", ["no_such_file", "../pyproject", "insights/../../Makefile"])
def test_unknown_names_are_refused_with_the_known_ones(market, name: str) -> None:
    with pytest.raises(KeyError, match=r"known: .*stale_listings"):
        market.frame(name)


def test_undeclared_parameters_are_refused(market) -> None:
    with pytest.raises(TypeError, match="limt"):
        market.frame("stale_listings", limt=3)


def test_network_sums_deals_both_ways_on_an_undirected_graph(market) -> None:
    directed = market.network(
        "insights/deal_edges", "buyer", "seller", weight="deals", directed=True
    )
    undirected = market.network("insights/deal_edges", "buyer", "seller", weight="deals")
    assert directed.edges["ring-ringa", "ring-ringb"]["weight"] == 3
    assert directed.edges["ring-ringb", "ring-ringa"]["weight"] == 3
    assert undirected.edges["ring-ringa", "ring-ringb"]["weight"] == 6
    assert undirected.edges["ring-ringa", "ring-ringb"]["amount_minor"] == 6000
    ring = {f"ring-{h}" for h in RING}
    component = nx.node_connected_component(undirected, "ring-ringa")
    assert component == ring


def test_decks_are_dealt_by_the_feed_with_reasons(market) -> None:
    people = market.frame("insights/people")
    ids = list(people[~people.id.str.startswith("ring-")].id[:3])
    decks = market.decks(ids, size=8)
    assert set(decks.user_id) == set(ids)
    assert decks.groupby("user_id").size().le(8).all()
    assert decks.reasons.map(len).gt(0).all()
    # never your own listing
    owner = dict(zip(decks.product_id, decks.seller_id, strict=True))
    assert all(owner[p] != u for u, p in zip(decks.user_id, decks.product_id, strict=True))


# -- the statistics ---------------------------------------------------------------------------


def test_rate_ci_is_the_wilson_interval() -> None:
    rate, low, high = rate_ci(0, 20)
    assert rate == 0 and low == 0 and 0.1 < high < 0.2  # Wilson: 0.161 for 0/20
    rate, low, high = rate_ci(30, 100)
    assert rate == 0.3 and low == pytest.approx(0.2189, abs=1e-3)
    assert high == pytest.approx(0.3958, abs=1e-3)
    assert all(math.isnan(x) for x in rate_ci(0, 0))


def test_median_ci_covers_the_median_and_handles_degenerate_input() -> None:
    values = list(range(1, 102))
    mid, low, high = median_ci(values)
    assert mid == 51 and low < 51 < high
    assert median_ci([7.0, 7.0, 7.0]) == (7.0, 7.0, 7.0)
    assert all(math.isnan(x) for x in median_ci([]))
    assert median_ci([float("nan"), 3.0])[0] == 3.0


def test_survival_is_kaplan_meier_with_censoring() -> None:
    # by hand: at risk 7 at t=1 (6/7), 6 at t=2 (5/7), 5 at t=3 (4/7), 4 censored,
    # 3 at risk at t=5 -> 4/7 * 2/3 = 8/21; 6 and 7 censored
    curve = survival([1, 2, 3, 4, 5, 6, 7], [True, True, True, False, True, False, False])
    at = dict(zip(curve.duration, curve.waiting, strict=True))
    assert at[1] == pytest.approx(6 / 7) and at[3] == pytest.approx(4 / 7)
    assert at[5] == pytest.approx(8 / 21)
    assert median_survival(curve)[0] == 5
    assert (curve.low <= curve.waiting).all() and (curve.waiting <= curve.high).all()
    assert survival([1, 2], [False, False]).empty


def test_survival_matches_scipy_on_random_censored_data() -> None:
    rng = __import__("numpy").random.default_rng(3)
    times = rng.exponential(10, 200).round(1)
    seen = rng.random(200) < 0.6
    curve = survival(times, seen)
    reference = stats.ecdf(stats.CensoredData(uncensored=times[seen], right=times[~seen])).sf
    assert list(curve.waiting) == pytest.approx(list(reference.probabilities))


# -- the notebooks ----------------------------------------------------------------------------


def test_there_are_notebooks_for_every_question_the_analysts_asked() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {"prices", "supply_demand", "funnel", "trust_and_fraud", "recommendations"} <= names
    assert "experiments" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_carry_no_outputs_and_take_parameters(path: Path) -> None:
    assert notebooks.is_stripped(path), f"strip {path.name} before committing it"
    import nbformat

    cells = nbformat.read(path, as_version=4).cells
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "settings = {}" in tagged[0].source


async def _truth(settings: Settings, text: str) -> Any:
    services = await bootstrap(settings, ensure_schema=False)
    try:
        return (await read(services, text))[0]["n"]
    finally:
        await shutdown(services)


# What each notebook's closing summary must say, given the graph: a sentence with a count the
# test reads from the graph itself, so a notebook that silently drops rows fails.
EXPECTED = {
    "prices": (
        "MATCH (p:Product) WHERE p.status <> 'deleted' AND p.currency = 'EUR' RETURN count(p) AS n",
        r"A typical listing asks \*\*[\d.]+ EUR\*\* \(95% CI [\d.]+–[\d.]+\) across {n} listings",
    ),
    "funnel": (
        "MATCH (p:Product) WHERE p.status <> 'deleted' RETURN count(p) AS n",
        r"[\d.]+% of {n} listings sold \(95% CI [\d.]+%–[\d.]+%\)",
    ),
    "trust_and_fraud": (
        "MATCH (u:User) RETURN count(u) AS n",
        r"- {n} accounts; \d+% have a verified email",
    ),
    "supply_demand": (
        "MATCH (p:Product {status: 'active'}) RETURN count(p) AS n",
        r"Most under-supplied tags .*\*\*#\w[\w-]*\*\* \(\+[\d.]+ pt\)",
    ),
    "recommendations": (
        "RETURN 6 AS n",
        r"of sampled decks were full; together {n} decks reached [\d.]+% of the \d+ active",
    ),
    # the experiment run_experiment plants: people in `current` like more of their cards
    "experiments": (
        "MATCH (e:Event {type: 'feed.dealt'}) RETURN count(DISTINCT e.actor_id) AS n",
        r"\*\*blend-test\*\*: {n} people in 2 arms(.|\n)*liked per card: current \*\*[\d.]+%\*\* "
        r"\(95% CI [\d.]+–[\d.]+%\); handset(.|\n)*handset vs current: -[\d.]+ pt .*\*\*stop",
    ),
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
async def test_every_notebook_runs_and_concludes_from_the_data(
    path: Path, market_settings: Settings, tmp_path: Path
) -> None:
    params = notebook_parameters(market_settings)
    if path.stem == "recommendations":
        params |= {"sample_users": 6, "deck_size": 10}
    if path.stem == "experiments":  # its cards' windows closed: as of eight days on
        params |= {"experiment": "blend-test", "min_people": 5}
        params |= {"as_of_ms": now_ms() + 8 * 86_400_000}
    report = notebooks.execute(path, tmp_path, params)
    assert report.html.exists() and report.html.stat().st_size > 10_000
    assert "Traceback" not in report.html.read_text()
    summary = notebooks.outputs_of(report.notebook)[-1]  # the "What the data says" cell
    truth_query, pattern = EXPECTED[path.stem]
    n = await _truth(market_settings, truth_query)
    assert re.search(pattern.format(n=n), summary), summary
    if path.stem == "trust_and_fraud":
        ring_line = next(line for line in summary.splitlines() if "insular" in line)
        assert all(handle in ring_line for handle in RING), ring_line


def test_a_failing_notebook_says_which_cell_and_why(tmp_path: Path, market_settings) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    broken = tmp_path / "broken.ipynb"
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("1 / 0")])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    nbformat.write(nb, broken)
    with pytest.raises(notebooks.NotebookFailed, match=r"broken.ipynb, cell 2: ZeroDivisionError"):
        notebooks.execute(broken, tmp_path / "out")
