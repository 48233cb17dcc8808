"""Online experiments: arms by a stable hash of the experiment and the person, the setting that
names them refused when malformed, decks that record the arm that served them, and outcomes
(right swipes, saves, messages, offers, orders) attributed to the arm and window of the card."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from graph.analytics import experiments as report_of
from graph.analytics.experiments import Arm, Interval, decide
from graph.bootstrap import Services
from graph.feed import impressions
from graph.feed.experiments import assign, name_of
from graph.feed.scoring import Card
from graph.infra.ids import now_ms
from graph.infra.settings import Settings
from seeds.loader import seed
from tests.conftest import Api, read, settings_env
from tests.test_catalog_api import listing
from tests.test_deals_api import offer, order
from tests.test_impressions import deal

DAY_MS = 86_400_000
SPEC = "blend-test:current=50,handset=50"
IDS = [f"user-{i:05d}" for i in range(10_000)]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"feed_experiment": SPEC}


# -- arms -------------------------------------------------------------------------------------


def test_a_persons_arm_is_stable_and_the_same_in_every_process() -> None:
    assert [assign(SPEC, uid) for uid in IDS[:200]] == [assign(SPEC, uid) for uid in IDS[:200]]
    # fixed values: blake2b, not Python's per-process salted hash, so every worker agrees
    assert [assign(SPEC, f"user-{i:05d}") for i in range(8)] == [
        ("blend-test", arm) for arm in ["current"] * 3 + ["handset"] * 2 + ["current"]
    ] + [("blend-test", "handset")] * 2
    assert assign("", "user-00001") is None and name_of("") is None
    assert name_of(SPEC) == "blend-test"


@pytest.mark.parametrize(
    "spec, shares",
    [
        ("t:current=50,previous=50", {"current": 0.5, "previous": 0.5}),
        ("t:current=70,previous=20,handset=10", {"current": 0.7, "previous": 0.2, "handset": 0.1}),
        ("t:handset=1,current=3", {"handset": 0.25, "current": 0.75}),
    ],
)
def test_shares_are_respected_over_ten_thousand_people(spec: str, shares: dict[str, float]) -> None:
    counts = Counter(assign(spec, uid)[1] for uid in IDS)  # type: ignore[index]
    assert set(counts) == set(shares)
    for arm, share in shares.items():
        sd = math.sqrt(share * (1 - share) * len(IDS))
        assert abs(counts[arm] - share * len(IDS)) < 4 * sd, (arm, counts)


def test_another_name_reshuffles_the_people() -> None:
    first = [assign("one:current=50,previous=50", uid)[1] for uid in IDS]  # type: ignore[index]
    second = [assign("two:current=50,previous=50", uid)[1] for uid in IDS]  # type: ignore[index]
    moved = sum(a != b for a, b in zip(first, second, strict=True)) / len(IDS)
    assert 0.46 < moved < 0.54  # independent draws: half change arm
    # the shares changing keeps most people where they were (the same point on the line)
    shifted = [assign("one:current=60,previous=40", uid)[1] for uid in IDS]  # type: ignore[index]
    assert sum(a != b for a, b in zip(first, shifted, strict=True)) / len(IDS) < 0.13


@pytest.mark.parametrize(
    "spec, says",
    [
        ("blend-test", "NAME:ARM=SHARE"),
        ("blend-test:current=50", "at least two arms"),
        ("blend-test:current=50,best=50", "'best' is not one of current, previous, handset"),
        ("blend-test:current=50,previous=0", "positive whole number"),
        ("blend-test:current=50,previous=x", "positive whole number"),
        ("blend-test:current=50,current=50", "named twice"),
        ("bad name:current=1,previous=1", "a name of letters"),
    ],
)
def test_a_malformed_experiment_is_refused_saying_why(spec: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(feed_experiment=spec)


# -- the statistics and the rule ----------------------------------------------------------------


def _arm(name: str, people: int, diff: tuple[float, float, float] | None) -> Arm:
    rate = Interval(0.1, 0.08, 0.12)
    difference = {"liked": Interval(*diff)} if diff else None
    return Arm(name, people, people * 10, ["handset"], {"liked": rate}, difference)


def test_the_rule_ships_stops_or_keeps_running() -> None:
    control = _arm("current", 500, None)
    better, worse, unsure = (
        _arm("previous", 500, (0.02, 0.01, 0.03)),
        _arm("handset", 500, (-0.02, -0.03, -0.01)),
        _arm("previous", 500, (0.01, -0.01, 0.03)),
    )
    assert decide([control, better], "liked", 100)["previous"].startswith("ship")
    assert decide([control, worse], "liked", 100)["handset"].startswith("stop")
    assert decide([control, unsure], "liked", 100)["previous"].startswith("keep running")
    few = decide([_arm("current", 50, None), better], "liked", 100)["previous"]
    assert few == "keep running: fewer than 100 people in current"


def test_the_interval_is_over_people_not_cards() -> None:
    """Two arms with the same rate per card: one where every person converts alike, one where
    a few keen people make all of it. Resampling people sees that the second is less sure."""
    rng = np.random.default_rng(1)
    n = np.full(400, 20.0)
    alike = np.full(400, 2.0)  # 10% of everyone's cards
    keen = np.zeros(400)
    keen[:40] = 20.0  # 10% of people like everything they see
    rates, _ = report_of._rates(n, {"even": alike, "lumpy": keen}, rng, 1000)
    even, lumpy = rates["even"], rates["lumpy"]
    assert even.value == lumpy.value == pytest.approx(0.1)
    assert even.high - even.low == 0.0
    assert lumpy.low < 0.08 and lumpy.high > 0.12  # a card-level binomial would say ±0.013


# -- attribution through the log -----------------------------------------------------------------


async def _like(api: Api, token: str, product_id: str) -> dict[str, Any]:
    response = await api.call(
        "post", f"/v1/products/{product_id}/swipe", token, json={"dir": "right"}
    )
    assert response.status == 200, response.text
    return dict(response.json)


async def test_outcomes_are_attributed_to_the_arm_and_window_of_the_card(
    api: Api, services: Services
) -> None:
    _, seller = await api.signup(display_name="Shop", kind="business", shop_name="Velo")
    a, b, c, d, e = [
        (await listing(api, seller, title=f"Listing {x}", quantity=3))["id"] for x in "abcde"
    ]
    one, token1 = await api.signup(display_name="One")
    two, token2 = await api.signup(display_name="Two")
    three, token3 = await api.signup(display_name="Three")
    t = now_ms()
    # dealt before the outcomes below, which all happen now
    await deal(services, one["id"], [[a, b, c]], at=t - 3 * DAY_MS, experiment="x", arm="current")
    await deal(services, one["id"], [[d]], at=t - 10 * DAY_MS, experiment="x", arm="current")
    await deal(services, one["id"], [[e]], at=t - 3 * DAY_MS, experiment="other", arm="handset")
    await deal(services, two["id"], [[a, b]], at=t - 3 * DAY_MS, experiment="x", arm="handset")
    await deal(services, three["id"], [[a]], at=t - DAY_MS, experiment="x", arm="handset")
    await deal(services, two["id"], [[a]], at=t - 2 * DAY_MS, experiment="x", arm="handset")
    assert await impressions.flush_all(
        services.store, services.redis, services.settings.redis_prefix
    )

    room = (await _like(api, token1, a))["room"]  # a right swipe, within 7 days of the card
    assert (await api.call("put", f"/v1/users/me/saved/{a}", token1)).status == 204
    sent = await api.call("post", f"/v1/rooms/{room['id']}/messages", token1, json={"text": "hi"})
    assert sent.status == 201, sent.text
    assert (await offer(api, token1, b, 10_000)).status == 201
    assert (await order(api, token1, c)).status == 201
    await _like(api, token1, d)  # ten days after its card: outside the window
    await _like(api, token1, e)  # dealt under another experiment
    await api.call("post", f"/v1/products/{a}/swipe", token2, json={"dir": "left"})
    await _like(api, token2, e)  # never dealt to two
    await _like(api, token3, a)  # its card's window is still open

    result = await report_of.report(
        services.store, "x", days=7, now=now_ms() + 5 * DAY_MS, min_people=1, arms=("current",)
    )
    arms = {arm.name: arm for arm in result.arms}
    assert [arm.name for arm in result.arms] == ["current", "handset"]
    current, handset = arms["current"], arms["handset"]
    assert (current.people, current.cards) == (1, 4)  # a, b, c and d
    assert {o: current.rates[o].value for o in report_of.OUTCOMES} == {
        "liked": 0.25,
        "saved": 0.25,
        "messaged": 0.25,
        "offered": 0.25,
        "ordered": 0.25,
    }
    # two's cards: a (first dealt 3 days ago, once however often dealt) and b; three's pending
    assert (handset.people, handset.cards) == (1, 2)
    assert all(handset.rates[o].value == 0 for o in report_of.OUTCOMES)
    assert result.pending == 1
    assert handset.difference is not None
    assert handset.difference["liked"].value == pytest.approx(-0.25)
    assert result.decisions["handset"].startswith("stop")  # one person each: no doubt at all
    assert "Primary outcome: liked" in result.rule

    later = await report_of.report(
        services.store, "x", days=7, now=now_ms() + 8 * DAY_MS, min_people=1
    )
    three_in = {arm.name: arm for arm in later.arms}["handset"]
    assert (three_in.people, three_in.cards, later.pending) == (2, 3, 0)
    assert three_in.rates["liked"].value == pytest.approx(1 / 3)


LIKES = {"current": 2, "handset": 1}  # cards a person in each arm likes, from the top, on average


def likes(arm: str, i: int) -> int:
    """How many of their cards the i-th person likes: LIKES[arm], give or take one."""
    return LIKES[arm] + i % 3 - 1


async def run_experiment(
    services: Services, people: list[str], size: int = 8
) -> dict[str, list[Card]]:
    """Deal each person a deck through the real feed under the configured experiment, and
    have them like the top `likes(arm, i)` cards of it: an experiment whose `current` arm wins.
    The decks, by person (the worker's round has not written their impressions yet)."""
    decks = {uid: await services.feed.deck(uid, None, None, size) for uid in people}
    for i, (uid, cards) in enumerate(decks.items()):
        assigned = assign(services.settings.feed_experiment, uid)
        assert assigned is not None
        for card in cards[: likes(assigned[1], i)]:
            await services.feed.swipe(uid, card.product["id"], "right")
    return decks


async def test_decks_record_the_arm_that_served_them_and_outcomes_follow_it(
    services: Services,
) -> None:
    await seed(services, users=30, products=300, interactions=2400, seed=5)
    rows = await read(
        services, "MATCH (u:User {kind: 'person'}) RETURN u.id AS id ORDER BY id LIMIT 16"
    )
    people = [row["id"] for row in rows]
    decks = await run_experiment(services, people)
    dealt_to = [uid for uid, cards in decks.items() if cards]
    assert len(dealt_to) >= 12
    prefix = services.settings.redis_prefix
    assert await read(services, "MATCH (e:Event {type: 'feed.dealt'}) RETURN e.id AS id") == []
    assert await impressions.queued(services.redis, prefix) == len(dealt_to)

    report = await services.jobs.run_once()
    assert report.impressions == len(dealt_to)
    events = await read(
        services,
        "MATCH (e:Event {type: 'feed.dealt'}) RETURN e.actor_id AS user_id, e.data AS data",
    )
    logged = {row["user_id"]: json.loads(row["data"]) for row in events}
    assert set(logged) == set(dealt_to)
    for uid in dealt_to:
        assert logged[uid]["ids"] == [card.product["id"] for card in decks[uid]]
        assert (logged[uid]["experiment"], logged[uid]["arm"]) == assign(SPEC, uid)

    result = await report_of.report(
        services.store,
        "blend-test",
        days=7,
        now=now_ms() + 8 * DAY_MS,
        min_people=1,
        arms=("current", "handset"),
    )
    arm_of = {uid: assign(SPEC, uid)[1] for uid in dealt_to}  # type: ignore[index]
    assert [arm.name for arm in result.arms] == ["current", "handset"]
    for arm in result.arms:
        mine = [uid for uid in dealt_to if arm_of[uid] == arm.name]
        cards = sum(len(decks[uid]) for uid in mine)
        liked = sum(min(len(decks[uid]), likes(arm.name, people.index(uid))) for uid in mine)
        assert (arm.people, arm.cards) == (len(mine), cards)
        assert arm.rates["liked"].value == pytest.approx(liked / cards)
        assert arm.blends == ["handset"]  # nothing shipped yet: both arms rank as hand-set


# -- the command line ---------------------------------------------------------------------------


def _vendr(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("vendr")), *args],
        env=os.environ | settings_env(settings) | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_vendr_experiments_report_prints_the_arms_and_the_verdict(
    api: Api, services: Services, settings: Settings
) -> None:
    _, seller = await api.signup(display_name="Shop", kind="business", shop_name="Velo")
    product = (await listing(api, seller))["id"]
    one, token1 = await api.signup(display_name="One")
    two, _ = await api.signup(display_name="Two")
    t = now_ms()
    await deal(services, one["id"], [[product]], at=t, experiment="blend-test", arm="current")
    await deal(services, two["id"], [[product]], at=t, experiment="blend-test", arm="handset")
    await impressions.flush_all(services.store, services.redis, services.settings.redis_prefix)
    await _like(api, token1, product)
    window = 3.0  # seconds: the cards' windows close while the test waits
    await asyncio.sleep(window + 0.2 - (now_ms() - t) / 1000)
    days = str(window / 86_400)
    spec = {"VENDR_FEED_EXPERIMENT": SPEC}

    done = _vendr(settings, "experiments", "report", "--days", days, "--min-people", "1",
                  "--json", **spec)  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["experiment"] == "blend-test"
    assert [(a["name"], a["people"], a["cards"]) for a in got["arms"]] == [
        ("current", 1, 1),
        ("handset", 1, 1),
    ]
    assert [a["rates"]["liked"]["value"] for a in got["arms"]] == [1.0, 0.0]
    assert got["decisions"]["handset"].startswith("stop")

    shown = _vendr(settings, "experiments", "report", "--days", days, "--min-people", "5", **spec)
    assert shown.returncode == 0, shown.stderr
    assert "100.00% [100.00, 100.00]" in shown.stdout
    assert "rule: Primary outcome: liked per card" in shown.stdout
    assert "handset: keep running: fewer than 5 people in current, handset" in shown.stdout

    nameless = _vendr(settings, "experiments", "report", VENDR_FEED_EXPERIMENT="")
    assert nameless.returncode == 2 and "--name NAME" in nameless.stderr
