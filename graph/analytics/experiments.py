"""An online experiment's report: per arm, what people did with the cards they were dealt.

The decks log each page they deal as a `feed.dealt` Event with the experiment and arm that
served it (graph.feed.impressions). A *card* is a listing dealt to a person in one arm, counted
once, from the first time it was dealt; its outcomes are what that person did with that listing
within `days` after: a right swipe (`product.liked`), a save (`product.saved`), a message in a
room about it, an offer on it, an order of it. Only cards whose window has closed count (the
others are reported as pending), so every card had the same time to convert.

Each outcome's rate is per card, with a 95% interval bootstrapped over people: a person's cards
are not independent (one keen swiper moves many), so people are resampled, not cards. Each arm
is compared with the first (the control) by the difference of rates, its interval from the same
resampling. The decision reads the primary outcome (right swipes): ship the arm when the
interval of its difference lies above 0, stop it for harm when below, otherwise keep running;
never before every arm has `min_people` people.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from graph.eventlog.export import events
from graph.infra.ids import now_ms
from graph.infra.store import GraphStore, statement

DAY_MS = 86_400_000
OUTCOMES = ("liked", "saved", "messaged", "offered", "ordered")
PRIMARY = "liked"
CARDS_PER_RUN = 500  # cards one outcome statement looks at
RESAMPLES = 2000
SEED = 38  # the bootstrap's generator: the same log gives the same intervals
MIN_PEOPLE = 100

# What each card's person did with its listing in the card's window: events by listing (its
# likes and saves: a listing's own, bounded by the window), and the listing's offers, orders and
# room messages by that person. Windows bound every traversal; a listing purged since is null.
# (Each comprehension names its own variables: FalkorDB mixes up two that share a name.)
OUTCOMES_OF = statement(
    "experiments.outcomes",
    """
    UNWIND $cards AS c
    WITH c.user_id AS uid, c.product_id AS pid, c.at AS since, c.until AS until
    OPTIONAL MATCH (e:Event {subject_id: pid})
    WHERE e.at >= since AND e.at < until AND e.actor_id = uid
      AND e.type IN ['product.liked', 'product.saved']
    WITH uid, pid, since, until, collect(DISTINCT e.type) AS acted
    OPTIONAL MATCH (p:Product {id: pid})
    WITH uid, pid, since, until, acted, p
    RETURN uid AS user_id, pid AS product_id, acted,
      CASE WHEN p IS NULL THEN 0 ELSE size([(p)<-[:ABOUT]-(:Room)<-[:IN]-(m:Message)
        WHERE m.sender_id = uid AND m.sent_at >= since AND m.sent_at < until | m.id]) END
        AS messaged,
      CASE WHEN p IS NULL THEN 0 ELSE size([(p)<-[:FOR]-(bid:Offer)<-[:MADE]-(who:User)
        WHERE who.id = uid AND bid.created_at >= since AND bid.created_at < until | bid.id]) END
        AS offered,
      CASE WHEN p IS NULL THEN 0 ELSE size([(p)<-[:OF]-(sale:Order)
        WHERE sale.buyer_id = uid AND sale.created_at >= since AND sale.created_at < until
        | sale.id]) END
        AS ordered
    """,
)


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def text(self, scale: float = 100.0, unit: str = "%") -> str:
        if math.isnan(self.value):
            return "n/a"
        return f"{self.value * scale:.2f}{unit} [{self.low * scale:.2f}, {self.high * scale:.2f}]"


@dataclass(frozen=True)
class Arm:
    name: str
    people: int
    cards: int
    blends: list[str]  # the blend versions its decks were ranked with
    rates: dict[str, Interval]  # per outcome, per card
    # per outcome, this arm's rate minus the control's (None for the control itself)
    difference: dict[str, Interval] | None


@dataclass(frozen=True)
class Report:
    experiment: str
    days: float
    since: int
    until: int  # cards dealt up to here have closed windows (now - days)
    primary: str
    min_people: int
    arms: list[Arm]
    pending: int  # cards whose window is still open
    decisions: dict[str, str]  # per treatment arm: ship | stop | keep running, and why
    rule: str
    switched: int = 0  # people dealt under more than one arm (the shares changed): in both

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rule_text(primary: str, min_people: int, days: float) -> str:
    return (
        f"Primary outcome: {primary} per card within {days:g} days of the card being dealt. "
        f"Decide only once every arm has at least {min_people} people. Ship an arm when the "
        "95% interval of its difference to the control lies above 0; stop it for harm when "
        "the interval lies below 0; otherwise keep running."
    )


async def report(
    store: GraphStore,
    experiment: str,
    *,
    days: float = 7.0,
    since: int = 0,
    now: int | None = None,
    min_people: int = MIN_PEOPLE,
    resamples: int = RESAMPLES,
    arms: Sequence[str] = (),
) -> Report:
    """The experiment `experiment`'s report from the log, for cards dealt from `since` whose
    `days` have passed by `now`. `arms` orders them as the experiment names them (its first
    is the control); arms it does not name follow, `current` first."""
    now = now_ms() if now is None else now
    window = int(days * DAY_MS)
    until = now - window
    cards, arms_of, blends, pending = await _cards(store, experiment, since, now, until)
    outcomes = await _outcomes(store, cards, window)
    order = _arm_order(arms, arms_of)
    switched = sum(1 for names in arms_of.values() if len(names) > 1)
    rng = np.random.default_rng(SEED)
    results: list[Arm] = []
    draws: dict[str, dict[str, np.ndarray]] = {}
    for name in order:
        mine = {key: at for key, at in cards.items() if key[0] == name}
        people, n, ys = _per_person(mine, outcomes)
        rates, draws[name] = _rates(n, ys, rng, resamples)
        difference = None
        if results:
            control = order[0]
            difference = {
                o: _difference(rates[o], results[0].rates[o], draws[name][o], draws[control][o])
                for o in OUTCOMES
            }
        results.append(Arm(name, people, int(n.sum()), sorted(blends[name]), rates, difference))
    return Report(
        experiment=experiment,
        days=days,
        since=since,
        until=until,
        primary=PRIMARY,
        min_people=min_people,
        arms=results,
        pending=pending,
        decisions=decide(results, PRIMARY, min_people),
        rule=rule_text(PRIMARY, min_people, days),
        switched=switched,
    )


def decide(arms: list[Arm], primary: str, min_people: int) -> dict[str, str]:
    """Per treatment arm (every arm but the first): 'ship', 'stop' or 'keep running', with why."""
    if len(arms) < 2:
        return {}
    few = [a.name for a in arms if a.people < min_people]
    out = {}
    for arm in arms[1:]:
        diff = (arm.difference or {}).get(primary)
        if few:
            out[arm.name] = f"keep running: fewer than {min_people} people in {', '.join(few)}"
        elif diff is None or math.isnan(diff.value):
            out[arm.name] = "keep running: no cards to compare yet"
        elif diff.low > 0:
            out[arm.name] = (
                f"ship: {primary} {diff.value * 100:+.2f} pt per card over {arms[0].name} "
                f"[{diff.low * 100:+.2f}, {diff.high * 100:+.2f}]"
            )
        elif diff.high < 0:
            out[arm.name] = (
                f"stop: {primary} {diff.value * 100:+.2f} pt per card under {arms[0].name} "
                f"[{diff.low * 100:+.2f}, {diff.high * 100:+.2f}]"
            )
        else:
            out[arm.name] = (
                f"keep running: the difference [{diff.low * 100:+.2f}, "
                f"{diff.high * 100:+.2f}] pt includes 0"
            )
    return out


# -- reading the log ----------------------------------------------------------------------

CardKey = tuple[str, str, str]  # (arm, person, listing)


async def _cards(
    store: GraphStore, experiment: str, since: int, now: int, until: int
) -> tuple[dict[CardKey, int], dict[str, set[str]], dict[str, set[str]], int]:
    """Each card's first time dealt (for those with closed windows), each person's arms, each
    arm's blends, and how many cards are still pending."""
    first: dict[CardKey, int] = {}
    arms_of: dict[str, set[str]] = defaultdict(set)
    blends: dict[str, set[str]] = defaultdict(set)
    async for event in events(store, since, ["feed.dealt"]):
        if event["at"] >= now:
            break
        data = event["data"] if isinstance(event["data"], dict) else {}
        arm = data.get("arm")
        if data.get("experiment") != experiment or not arm:
            continue
        user = event["actor_id"]
        arms_of[user].add(arm)
        blends[arm].add(str(data.get("blend")))
        for pid in data.get("ids") or []:
            first.setdefault((arm, user, str(pid)), int(event["at"]))
    closed = {key: at for key, at in first.items() if at <= until}
    return closed, arms_of, blends, len(first) - len(closed)


async def _outcomes(
    store: GraphStore, cards: dict[CardKey, int], window: int
) -> dict[tuple[str, str, int], set[str]]:
    """What happened to each (person, listing, first dealt) within the window."""
    pairs = sorted({(user, pid, at) for (_, user, pid), at in cards.items()})
    out: dict[tuple[str, str, int], set[str]] = {}
    for start in range(0, len(pairs), CARDS_PER_RUN):
        chunk = pairs[start : start + CARDS_PER_RUN]
        rows = await store.run(
            OUTCOMES_OF,
            {
                "cards": [
                    {"user_id": u, "product_id": p, "at": at, "until": at + window}
                    for u, p, at in chunk
                ]
            },
        )
        for (user, pid, at), row in zip(chunk, _in_order(chunk, rows), strict=True):
            done = {"liked"} if "product.liked" in row["acted"] else set()
            done |= {"saved"} if "product.saved" in row["acted"] else set()
            done |= {k for k in ("messaged", "offered", "ordered") if row[k]}
            out[(user, pid, at)] = done
    return out


def _in_order(
    chunk: list[tuple[str, str, int]], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    # one row per card asked about, matched by (person, listing): each pair is in a chunk once
    by = {(r["user_id"], r["product_id"]): r for r in rows}
    empty = {"acted": [], "messaged": 0, "offered": 0, "ordered": 0}
    return [by.get((u, p), empty) for u, p, _ in chunk]


def _arm_order(named: Sequence[str], arms_of: dict[str, set[str]]) -> list[str]:
    """The arms named, in their order (the first is the control), then any other arm the
    log holds: `current`, `previous`, `handset`, then by name."""
    seen = {arm for names in arms_of.values() for arm in names}
    preference = {"current": 0, "previous": 1, "handset": 2}
    rest = sorted(seen - set(named), key=lambda a: (preference.get(a, 3), a))
    return [*named, *rest]


# -- statistics ---------------------------------------------------------------------------


def _per_person(
    cards: dict[CardKey, int], outcomes: dict[tuple[str, str, int], set[str]]
) -> tuple[int, np.ndarray, dict[str, np.ndarray]]:
    """Per person in one arm: cards, and each outcome's count."""
    index: dict[str, int] = {}
    n: list[int] = []
    ys: dict[str, list[int]] = {o: [] for o in OUTCOMES}
    for (_, user, pid), at in sorted(cards.items()):
        if user not in index:
            index[user] = len(n)
            n.append(0)
            for o in OUTCOMES:
                ys[o].append(0)
        i = index[user]
        n[i] += 1
        for o in outcomes.get((user, pid, at), ()):
            ys[o][i] += 1
    return len(n), np.array(n, dtype=float), {o: np.array(v, dtype=float) for o, v in ys.items()}


def _rates(
    n: np.ndarray, ys: dict[str, np.ndarray], rng: np.random.Generator, resamples: int
) -> tuple[dict[str, Interval], dict[str, np.ndarray]]:
    """Each outcome per card, with the 95% percentile interval of people resampled with
    replacement (a cluster bootstrap: the same resampled people for every outcome); the
    resampled rates too, for differences."""
    if n.sum() == 0:
        nan = float("nan")
        return (
            {o: Interval(nan, nan, nan) for o in ys},
            {o: np.full(resamples, nan) for o in ys},
        )
    draws = {o: np.empty(resamples) for o in ys}
    block = max(1, 2_000_000 // len(n))  # resamples per block: bounded memory
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        picks = rng.integers(0, len(n), size=(size, len(n)))
        cards = n[picks].sum(axis=1)
        for o, y in ys.items():
            draws[o][start : start + size] = y[picks].sum(axis=1) / cards
    rates = {}
    for o, y in ys.items():
        low, high = np.percentile(draws[o], [2.5, 97.5])
        rates[o] = Interval(float(y.sum() / n.sum()), float(low), float(high))
    return rates, draws


def _difference(
    treatment: Interval, control: Interval, t_draws: np.ndarray, c_draws: np.ndarray
) -> Interval:
    if math.isnan(treatment.value) or math.isnan(control.value):
        nan = float("nan")
        return Interval(nan, nan, nan)
    low, high = np.percentile(t_draws - c_draws, [2.5, 97.5])
    return Interval(treatment.value - control.value, float(low), float(high))


def table(result: Report, outcomes: Iterable[str] = OUTCOMES) -> list[dict[str, Any]]:
    """One row per arm and outcome: the shape the CLI prints and the notebook frames."""
    rows = []
    for arm in result.arms:
        for o in outcomes:
            rate, diff = arm.rates[o], (arm.difference or {}).get(o)
            rows.append(
                {
                    "arm": arm.name,
                    "people": arm.people,
                    "cards": arm.cards,
                    "outcome": o,
                    "rate": rate.value,
                    "low": rate.low,
                    "high": rate.high,
                    "difference": diff.value if diff else None,
                    "difference_low": diff.low if diff else None,
                    "difference_high": diff.high if diff else None,
                }
            )
    return rows


def dumps(result: Report) -> str:
    """The report as JSON (NaN as null)."""
    return json.dumps(_nan_to_none(result.as_dict()), indent=2, sort_keys=True)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value
