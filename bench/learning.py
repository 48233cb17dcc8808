"""Learning benchmark: the deck's blend fitted from the log at 10k users / 100k listings / 1M
interactions, in the background worker's code path (`Jobs.fit_blend`, as a round runs it after a
bulk load), and what a deck costs at one client once it ranks with the fit. On the embedded
FalkorDB and on Neo4j in the same run: the same generated data loaded into each in turn.

    python -m bench.learning [--users 10000 --products 100000 --interactions 1000000]
                             [--people 300] [--backends falkordb,neo4j]        (make bench)

The fit's steps are timed by wrapping the learner's own functions in this process (reading
people, gathering the held-out examples, choosing the penalty, fitting, the shadow evaluation,
recording the decision); nothing they do changes. Decks: each measured person's first deck
(`GET /v1/feed?limit=20`, a fresh session: the ranking's whole cost), one request at a time,
through `vendr serve`; the hand-set blend beside the learnt one as an online experiment's two
arms in one server (`VENDR_FEED_EXPERIMENT`, people split by the experiment's stable hash), and
both again in this process on the same people (`services.feed.deck(..., blend=...)`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import backends
from bench.common import (
    BACKENDS,
    BIN,
    LABELS,
    RATIO_NOTE,
    ROOT,
    Database,
    Figure,
    await_indexes,
    chosen,
    compare,
    failed_lines,
    figure,
    free_port,
    machine,
    on_each,
    percentile,
    server,
    swipe_sessions,
)
from graph.bootstrap import Services, bootstrap, shutdown
from graph.feed import learning
from graph.feed.blend import HANDSET, Blend
from graph.feed.experiments import assign
from seeds.generator import Dataset, generate
from seeds.loader import LoadReport, load

REPORT = ROOT / "bench" / "learning.md"
PEOPLE = 300  # people whose first deck is measured, in each of the three deck runs
WARM = 20  # people whose first decks warm each server (and this process) up: not measured
EXPERIMENT = "bench-learning:current=50,handset=50"
FIT_TARGET_S, DECK_TARGET_MS = 60.0, 50.0
CONTENDERS = ("fitted", "current", "handset", *learning.BASELINES)


@dataclass
class Decks:
    """First decks at one client: each one's time, the failed ones and the empty ones."""

    ms: list[float] = field(default_factory=list)
    errors: int = 0
    empty: int = 0

    def p(self, q: float) -> float | None:
        if not self.ms:
            return None
        return statistics.median(self.ms) if q == 50 else percentile(self.ms, q)


@dataclass
class Run:
    """One backend's figures."""

    loaded: LoadReport
    worker_s: float  # Jobs.fit_blend, wall clock
    outcome: str  # what it returned: the decision's reason
    recorded: dict[str, Any]  # the fit as recorded (`learner.fits`): shipped, figures...
    steps: dict[str, float]  # the fit's steps, seconds
    learnt: str  # the blend that ranks after the fit (its version)
    decks: dict[str, Decks]
    load_average: dict[str, float]  # the machine's 1-minute load average at each phase
    phases: dict[str, float] = field(default_factory=dict)  # where this backend's run went

    @property
    def figures(self) -> dict[str, Any]:
        return dict(self.recorded.get("figures") or {})

    @property
    def shipped(self) -> bool:
        return bool(self.recorded.get("shipped"))

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


Results = dict[str, Run | None]


# ---- the fit's steps --------------------------------------------------------------------------


class Steps:
    """Spans of the learner's steps. A step is counted only when nothing but the whole fit
    encloses it: the penalty's inner fits count for choosing it, not as the fit's weights."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.active: list[str] = []

    def _enter(self, name: str) -> tuple[bool, float]:
        counted = set(self.active) <= {"fit"}
        self.active.append(name)
        return counted, time.perf_counter()

    def _leave(self, name: str, counted: bool, started: float) -> None:
        self.active.remove(name)
        if counted:
            self.spans[name].append((started, time.perf_counter()))

    def sync(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kw: Any) -> Any:
            counted, started = self._enter(name)
            try:
                return fn(*args, **kw)
            finally:
                self._leave(name, counted, started)

        return timed

    def async_(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def timed(*args: Any, **kw: Any) -> Any:
            counted, started = self._enter(name)
            try:
                return await fn(*args, **kw)
            finally:
                self._leave(name, counted, started)

        return timed

    def total(self, name: str) -> float | None:
        spans = self.spans.get(name)
        return sum(end - start for start, end in spans) if spans else None

    def first(self, name: str) -> float | None:
        spans = self.spans.get(name)
        return spans[0][0] if spans else None


# the learner's functions each step is; a step whose function is not there is not timed
MODULE_STEPS = (("choose", "penalty"), ("fit_chosen", "weights"), ("shadow", "shadow"))
METHOD_STEPS = (("fit", "fit"), ("_examples", "examples"), ("_record", "record"))
STEP_LABELS = {
    "people": "current blend and people with 3 likes read",
    "examples": "held-out likes, impressions, candidates and features gathered",
    "penalty": "start and penalty chosen (12 candidates, 5-fold cross-validation)",
    "weights": "weights fitted",
    "shadow": "shadow evaluation on held-out people",
    "record": "decision recorded (FeedBlend node and Event)",
    "fit": "learner.fit, whole",
    "worker": "the worker's Jobs.fit_blend, whole (lock, schedule, fit)",
}


@contextmanager
def timed_steps(learner: learning.Learner) -> Iterator[Steps]:
    steps = Steps()
    swapped: list[tuple[Any, str, Any]] = []
    for attr, name in MODULE_STEPS:
        original = getattr(learning, attr, None)
        if callable(original):
            swapped.append((learning, attr, original))
            setattr(learning, attr, steps.sync(name, original))
    for attr, name in METHOD_STEPS:
        method = getattr(learner, attr, None)
        if callable(method):
            swapped.append((learner, attr, None))
            setattr(learner, attr, steps.async_(name, method))
    try:
        yield steps
    finally:
        for owner, attr, original in reversed(swapped):
            if original is None:
                delattr(owner, attr)  # the instance's wrapper: the class's method again
            else:
                setattr(owner, attr, original)


def step_seconds(steps: Steps, worker_s: float) -> dict[str, float]:
    out: dict[str, float] = {}
    fit_start, examples_start = steps.first("fit"), steps.first("examples")
    if fit_start is not None and examples_start is not None:
        out["people"] = examples_start - fit_start
    for name in ("examples", "penalty", "weights", "shadow", "record", "fit"):
        total = steps.total(name)
        if total is not None:
            out[name] = total
    out["worker"] = worker_s
    return out


# ---- decks ------------------------------------------------------------------------------------


async def in_process(services: Services, people: list[str], learnt: Blend) -> dict[str, Decks]:
    """Each person's deck ranked afresh with the hand-set blend and with the learnt one, in
    this process (no HTTP), the order alternated person by person; "process_diff" holds each
    person's learnt minus hand-set time."""
    out = {"process_handset": Decks(), "process_learnt": Decks(), "process_diff": Decks()}
    for i, person in enumerate(people):
        arms = [("process_handset", HANDSET), ("process_learnt", learnt)]
        took: dict[str, float] = {}
        for key, blend in arms if i % 2 == 0 else arms[::-1]:
            started = time.perf_counter()
            try:
                cards = await services.feed.deck(person, None, None, 20, fresh=True, blend=blend)
            except Exception:  # counted: a deck that fails is an error, not a fast deck
                out[key].errors += 1
                continue
            took[key] = (time.perf_counter() - started) * 1000
            out[key].ms.append(took[key])
            out[key].empty += not cards
        if len(took) == 2:
            out["process_diff"].ms.append(took["process_learnt"] - took["process_handset"])
    return out


async def first_decks(
    api: str, tokens: list[str], arms: list[str] | None = None
) -> dict[str, Decks]:
    """Each person's first deck through the API, one request at a time; by arm when `arms`
    names each person's (else all under "all")."""
    out: dict[str, Decks] = defaultdict(Decks)
    async with aiohttp.ClientSession(base_url=api) as client:
        for i, token in enumerate(tokens):
            decks = out[arms[i] if arms else "all"]
            started = time.perf_counter()
            async with client.get(
                "/v1/feed?limit=20", headers={"authorization": f"Bearer {token}"}
            ) as response:
                body = await response.json() if response.status == 200 else None
            elapsed = (time.perf_counter() - started) * 1000
            if body is None:
                decks.errors += 1
                continue
            decks.ms.append(elapsed)
            decks.empty += not body.get("items")
    return dict(out)


def session_people(people: int) -> int:
    """People in the swipe-session run: five decks each, as many decks as a first-deck run."""
    return max(2, people // 5)


# ---- one backend ------------------------------------------------------------------------------


async def measure(
    database: Database,
    data: Dataset,
    people: int = PEOPLE,
    warm: int = WARM,
    overrides: dict[str, Any] | None = None,
) -> Run:
    """Load `data` into a fresh graph on `database`, fit the blend as the worker does, then
    time first decks with it and with the hand-set one."""
    overrides = overrides or {}
    phases: dict[str, float] = {}
    loads: dict[str, float] = {}
    mark = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal mark
        phases[phase] = time.monotonic() - mark
        loads[phase] = os.getloadavg()[0]
        print(f"   {phase}: {phases[phase]:.1f} s", file=sys.stderr, flush=True)
        mark = time.monotonic()

    database.fresh()
    try:
        database.inspect()
        services = await bootstrap(database.settings(**overrides))
        try:
            await await_indexes(services.store)
            loaded = await load(services, data)  # ends asking the worker for a fit
            lap("start and load")
            loads["fit started"] = os.getloadavg()[0]
            with timed_steps(services.learner) as steps:
                started = time.perf_counter()
                outcome = await services.jobs.fit_blend()
                worker_s = time.perf_counter() - started
            if outcome is None:
                raise RuntimeError("the worker did not fit after the load (no request seen)")
            fits = await services.learner.fits(1)
            recorded = fits[0] if fits else {"shipped": False, "reason": outcome, "figures": {}}
            learnt = await services.learner.current()
            lap("fit")
            likers = sorted({row["u"] for row in data.interactions["LIKED"]})
            wanted = 3 * (people + warm) + session_people(people)
            if len(likers) < wanted:
                raise ValueError(f"{len(likers)} people liked something, {wanted} needed")
            chosen_people = random.Random(7).sample(likers, wanted)
            local, served = chosen_people[: people + warm], chosen_people[people + warm :]
            await in_process(services, local[:warm], learnt)  # warms the statements up
            decks = await in_process(services, local[warm:], learnt)
            tokens = [await services.sessions.issue(person) for person in served]
        finally:
            await shutdown(services)
        lap("decks in process")

        port = free_port()
        api = f"http://127.0.0.1:{port}"
        env = database.env() | {
            "VENDR_PORT": str(port),
            "VENDR_WORKERS": "2",
            "VENDR_RATE_LIMITS": "off",
            "VENDR_JOBS_INTERVAL_SECONDS": "0",
        }
        env |= {f"VENDR_{k.upper()}": str(v) for k, v in overrides.items()}
        everyone = tokens[: people + warm]
        compared = tokens[people + warm : 2 * (people + warm)]
        swipers = tokens[2 * (people + warm) :]
        with server([str(BIN / "vendr"), "serve"], env, api + "/v1/heartbeat"):
            await first_decks(api, everyone[:warm])
            decks["http_learnt"] = (await first_decks(api, everyone[warm:]))["all"]
            # sessions as bench/catalog.py measures "a deck" at one client: five decks each,
            # a page's swipes sent together between them
            run = await swipe_sessions(api, swipers, 1, together=True)
            decks["session_learnt"] = Decks(run.deck_ms, run.errors)
        # the same blends side by side in one server: an experiment's two arms, interleaved
        arms = []
        for person in served[people + warm : 2 * (people + warm)]:
            assigned = assign(EXPERIMENT, person)
            arms.append("arm_handset" if assigned and assigned[1] == "handset" else "arm_learnt")
        with server(
            [str(BIN / "vendr"), "serve"],
            env | {"VENDR_FEED_EXPERIMENT": EXPERIMENT},
            api + "/v1/heartbeat",
        ):
            await first_decks(api, compared[:warm])
            by_arm = await first_decks(api, compared[warm:], arms[warm:])
        decks["arm_learnt"] = by_arm.get("arm_learnt", Decks())
        decks["arm_handset"] = by_arm.get("arm_handset", Decks())
        lap("decks through the API")
    finally:
        database.stop()
    return Run(
        loaded,
        worker_s,
        outcome,
        recorded,
        step_seconds(steps, worker_s),
        learnt.version,
        decks,
        loads,
        phases,
    )


# ---- the report -------------------------------------------------------------------------------


def _hr(run: Run | None, name: str) -> str:
    if run is None:
        return "—"
    judged = run.figures.get("hr10") or {}
    if name not in judged:
        return "—"
    one = judged[name]
    return f"{one['hr10']:.3f} ({one['low']:.3f}–{one['high']:.3f})"


DECK_ROWS = (
    ("http_learnt", "through the API, the shipped blend for everyone"),
    ("session_learnt", "through the API, swipe sessions (5 decks each), the shipped blend"),
    ("arm_learnt", "through the API, experiment arm `current` (the shipped blend)"),
    ("arm_handset", "through the API, experiment arm `handset`"),
    ("process_learnt", "in this process, the shipped blend (`blend=`)"),
    ("process_handset", "in this process, the hand-set blend (`blend=HANDSET`)"),
)


def _quantile(key: str, q: float) -> Callable[[Run], float | None]:
    return lambda r: r.decks[key].p(q)


def _count(key: str) -> Callable[[Run], float | None]:
    return lambda r: float(len(r.decks[key].ms))


def _step(name: str) -> Callable[[Run], float | None]:
    return lambda r: r.steps.get(name)


def deck_figures(results: Results) -> list[Figure]:
    out = []
    for key, label in DECK_ROWS:
        for q in (50, 95, 99):
            out.append(figure(f"{label}: p{q}", results, _quantile(key, q), "ms"))
        out.append(figure(f"{label}: decks measured", results, _count(key), better="", digits=0))
    out.append(
        figure(
            "in this process, the same person's deck, shipped − hand-set blend: median",
            results,
            _quantile("process_diff", 50),
            "ms",
            better="",
            digits=2,
        )
    )
    out.append(
        figure(
            "empty decks, all runs",
            results,
            lambda r: float(sum(d.empty for d in r.decks.values())),
            better="",
            digits=0,
        )
    )
    out.append(
        figure(
            "errors, all deck runs",
            results,
            lambda r: float(sum(d.errors for d in r.decks.values())),
            better="",
            digits=0,
        )
    )
    return out


def fit_figures(results: Results) -> list[Figure]:
    def fig(label: str, key: str, digits: int = 0) -> Figure:
        return figure(
            label, results, lambda r: _number(r.figures.get(key)), better="", digits=digits
        )

    steps = [
        figure(
            STEP_LABELS[name],
            results,
            _step(name),
            "s",
            digits=2,
        )
        for name in ("people", "examples", "penalty", "weights", "shadow", "record", "fit")
    ]
    return [
        figure(
            "**the worker's fit, whole (Jobs.fit_blend)**",
            results,
            lambda r: r.worker_s,
            "s",
            digits=1,
        ),
        figure(
            "the fit's own `seconds` (FitReport figures)",
            results,
            lambda r: _number(r.figures.get("seconds")),
            "s",
            digits=1,
        ),
        *steps,
        fig("people with 3 likes", "people"),
        fig("people sampled", "sampled"),
        fig("reach: sampled people whose held-out like the pools hold", "reached", 3),
        fig("people the fit learnt from", "fit_people"),
        fig("held-out people judging it", "heldout_people"),
        fig("penalty chosen (λ, pull towards the start; none: the start as it is)", "lambda", 1),
        figure(
            "shipped (1) or kept the current blend (0)",
            results,
            lambda r: 1.0 if r.shipped else 0.0,
            better="",
            digits=0,
        ),
    ]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def targets(results: Results, databases: dict[str, Database]) -> list[str]:
    lines = []
    for backend, run in results.items():
        if run is None:
            continue
        fit_s = run.worker_s

        def verdict(key: str, run: Run = run) -> str:
            p99 = run.decks[key].p(99)
            met = p99 is not None and p99 < DECK_TARGET_MS and not run.decks[key].errors
            shown = "—" if p99 is None else f"{p99:.1f} ms"
            return f"{shown}: under 50 ms **{'met' if met else 'NOT met'}**"

        lines.append(
            f"- **{databases[backend].label}**: the fit in the worker's code path took "
            f"{fit_s:.1f} s: under a minute **{'met' if fit_s < FIT_TARGET_S else 'NOT met'}**. "
            "Deck p99 at one client through the API with the shipped blend: in swipe sessions "
            f"(as bench/catalog.md measures a deck) {verdict('session_learnt')}; a first deck "
            f"alone (the ranking's whole cost, the worst case) {verdict('http_learnt')}."
        )
    return lines


def markdown(
    results: Results,
    databases: dict[str, Database],
    failures: dict[str, str],
    sizes: tuple[int, int, int],
    generated: tuple[float, int],
    people: int,
    warm: int,
    load_before: tuple[float, float, float],
) -> str:
    users, products, _ = sizes
    setup = "; ".join(f"{d.label}: {d.describe()}" for d in databases.values())
    ran = {b: r for b, r in results.items() if r is not None}
    gen_s, gen_interactions = generated
    took = [
        f"- {databases[b].label}: {r.seconds / 60:.1f} min ("
        + ", ".join(f"{phase} {s / 60:.1f}" for phase, s in r.phases.items())
        + ")"
        for b, r in ran.items()
    ]
    busy = [
        f"- {databases[b].label}: "
        + ", ".join(f"{phase} {value:.1f}" for phase, value in r.load_average.items())
        for b, r in ran.items()
    ]
    hr = [
        "| held-out HR@10 (95% interval) | " + " | ".join(LABELS[b] for b in BACKENDS) + " |",
        "|---|" + "---:|" * len(BACKENDS),
    ]
    for name in (*CONTENDERS, "fitted - current"):
        hr.append(f"| {name} | " + " | ".join(_hr(results.get(b), name) for b in BACKENDS) + " |")
    decisions = [
        f"- {databases[b].label}: {'shipped' if r.shipped else 'not shipped'}; decks then rank "
        f"with `{r.learnt}`. The worker said: “{r.outcome}” (the fit started from "
        f"{r.figures.get('start', 'handset')}, λ {r.figures.get('lambda')})"
        for b, r in ran.items()
    ]
    same = [
        f"- {databases[b].label}: the fit was not shipped, so the shipped blend *is* the "
        "hand-set one and the learnt and hand-set rows below rank alike."
        for b, r in ran.items()
        if r.learnt == HANDSET.version
    ]
    lines = [
        "# Learning benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; each backend in turn on a "
        f"fresh graph: {setup}. `make bench` writes this file (`python -m bench.learning`).",
        "",
        f"The machine's 1-minute load average was {load_before[0]:.1f} ({load_before[1]:.1f} "
        f"over 5 min) when the run started, on {os.cpu_count()} cores shared with other work"
        + (
            ": **the machine was busy**, so times are longer than on an idle one."
            if load_before[0] > (os.cpu_count() or 1)
            else "."
        )
        + " At the end of each phase:",
        "",
        *busy,
        "",
        *failed_lines(databases, failures),
        f"Both columns load the very same generated marketplace — {users:,} users, "
        f"{products:,} listings, {gen_interactions:,} interactions (seed 1, the catalog "
        f"benchmark's), generated once in {gen_s:.1f} s — with `seeds.loader.load`, which ends "
        "by asking the background worker for a fit; the fit is then run as the worker's round "
        "runs it (`Jobs.fit_blend`), in this process.",
        "",
        RATIO_NOTE,
        "",
        "The run on each backend took (minutes):",
        "",
        *took,
        "",
        "## The fit",
        "",
        "What `Learner.fit` does (graph/feed/learning.py): reads who has three likes, samples "
        "people (`VENDR_FEED_FIT_PEOPLE`), holds out each one's latest like and gathers the "
        "feed's candidates as they stood just before it (the impressions they were dealt "
        "included), fits a conditional logit over the blend's features pulled towards the "
        "hand-set blend, judges it on held-out people against the current blend and simple "
        "baselines, and ships it only when it beats both. The steps are timed by wrapping the "
        "learner's functions in this process; reading the impressions and the held-out likes "
        "is part of gathering.",
        "",
        *compare(fit_figures(results)),
        "",
        *hr,
        "",
        "The decision:",
        "",
        *decisions,
        "",
        "## Decks at one client",
        "",
        f"{people} people (seeded people who liked something, each measured once) each fetch "
        "their first deck, `GET /v1/feed?limit=20`: a new swipe session, so the ranking's whole "
        "cost (profile, co-likes, pools, the blend over up to 120 candidates). One request at a "
        f"time, `vendr serve` with 2 workers, rate limits off, no background rounds; {warm} "
        "other people's first decks warm each server up first (not measured). Then, in the "
        f"same server, {session_people(people)} other people swipe through five decks each as "
        "bench/catalog.py's one-client session arm does (a page's swipes sent together, a "
        "quarter right): their first deck ranks, the next four are dealt from the session. "
        "The hand-set "
        "blend beside the learnt one, honestly compared: (a) one server with an online "
        f"experiment (`VENDR_FEED_EXPERIMENT={EXPERIMENT}`), {people} more people split "
        "between the arms by its stable hash, interleaved as they come; (b) in this process, "
        f"another {people} people's decks ranked afresh with each blend in turn "
        "(`services.feed.deck(..., fresh=True, blend=...)`, the order alternated person by "
        "person), no HTTP. Each run has people of its own.",
        "",
        *same,
        *([""] if same else []),
        *compare(deck_figures(results)),
        "",
        "## Targets",
        "",
        *targets(results, databases),
        "",
    ]
    return "\n".join(lines)


def headline(results: Results) -> list[Figure]:
    return [
        figure("blend fit, the worker's code path", results, lambda r: r.worker_s, "s"),
        figure(
            "feed first deck p50, 1 client (shipped blend)",
            results,
            lambda r: r.decks["http_learnt"].p(50),
            "ms",
        ),
        figure(
            "feed first deck p99, 1 client (shipped blend)",
            results,
            lambda r: r.decks["http_learnt"].p(99),
            "ms",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=PEOPLE, help="people per deck run")
    parser.add_argument("--warm", type=int, default=WARM, help="people warming each run up")
    parser.add_argument(
        "--fit-people", type=int, default=None, help="VENDR_FEED_FIT_PEOPLE (default: its own)"
    )
    parser.add_argument(
        "--fit-min-people", type=int, default=None, help="VENDR_FEED_FIT_MIN_PEOPLE (the same)"
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help="a backend still running after this is stopped and reported as not finished",
    )
    parser.add_argument("--backends", default=",".join(BACKENDS), help="falkordb,neo4j")
    parser.add_argument("--data", type=Path, default=ROOT / "var", help="the databases' dirs")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--summary", type=Path, default=backends.RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    databases = chosen(
        args.backends,
        lambda b: Database.for_bench(b, args.data / f"bench-learning-{b}", graph_name="bench"),
    )
    started = time.monotonic()
    data = generate(
        args.users, args.products, args.interactions, seed=1, now=int(time.time() * 1000)
    )
    generated = (time.monotonic() - started, sum(len(v) for v in data.interactions.values()))
    overrides = {
        name: value
        for name, value in (
            ("feed_fit_people", args.fit_people),
            ("feed_fit_min_people", args.fit_min_people),
        )
        if value is not None
    }
    budget = args.budget_minutes * 60 if args.budget_minutes else None

    async def within(database: Database) -> Run:
        try:
            return await asyncio.wait_for(
                measure(database, data, args.people, args.warm, overrides), budget
            )
        except TimeoutError:
            raise RuntimeError(f"still running after {args.budget_minutes:g} min") from None

    results, failures = on_each(databases, within)
    sizes = (args.users, args.products, args.interactions)
    report = markdown(
        results, databases, failures, sizes, generated, args.people, args.warm, load_before
    )
    args.out.write_text(report)
    print(report)
    size = (
        f"{args.users:,} users, {args.products:,} listings, {generated[1]:,} interactions, the "
        "same generated rows loaded into "
        + (" and ".join(d.label for d in databases.values()) or "no backend")
    )
    setup = "; ".join(f"{d.label}: {d.describe()}" for d in databases.values())
    setup += "".join(f" {databases[b].label} did not finish: {why}" for b, why in failures.items())
    backends.record("learning", size, setup, headline(results), args.summary)
    if failures:
        raise SystemExit(f"did not finish on {', '.join(failures)}: see the report")


if __name__ == "__main__":
    main()
