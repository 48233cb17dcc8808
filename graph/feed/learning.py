"""The deck's blend, fitted to the marketplace it runs on (`Learner.fit`, run by the background
worker on a schedule and after bulk loads).

Each sampled person's latest like is held out: the feed's own candidate gathering
(`candidates.gather`) is run as their likes, saves, views and co-likes stood just before it, over
the listings the pools hold that were listed by then (plus the cards they were dealt then: the
feed logs its impressions), and each candidate gets the blend's features (`blend.features`),
its hype and like count as they stood then too. A listwise
model — a conditional logit: the held-out listing against every other candidate of the same
deck — learns a weight per feature, pulled towards where it starts (an L2 penalty): the
hand-set blend, or a simple baseline written as a blend (`PRIORS`); the start and the pull's
strength (or the start as it is) are chosen by cross-validation on the fit set, so that
with little data it stays close to something that ranks well. A person whose held-out like
the pools do not hold teaches the blend nothing (the blend only orders candidates); how many
that is is reported as the reach.

Shadow evaluation: a share of the people (by a stable hash) are kept out of the fit; on them
the fit, the blend that ranks now, the hand-set one and simple baselines that see the same
context (most liked near you; tag affinity x popularity near you, with and without recency;
popularity is every like a listing has had, the held-out one left out) rank each person's
candidates, and HR@10 decides. A fit ships only when it beats the current blend there and no
baseline ranks better beyond chance (`fitting.decide`); either way a `(:FeedBlend)` node and an
Event `feed.blend_fitted` record the decision with its figures (`vendr feed blends`). Until
FIT_MIN_PEOPLE people have three likes, nothing is fitted: a fresh install ranks with the
hand-set blend.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from graph.catalog import ENGAGEMENT, HYPE_TAU_MS, HYPE_WINDOW_MS, SAVE_HYPE, VIEW_HYPE, Pools
from graph.feed.blend import HANDSET, NAMES, Blend, features
from graph.feed.candidates import gather
from graph.feed.fitting import (
    BASELINES,
    Example,
    choose,
    decide,
    fit_chosen,
    shadow,
    stable_share,
)
from graph.feed.scoring import DAY_MS, distance_floor
from graph.infra.ids import event, new_id, now_ms
from graph.infra.store import GraphStore, statement

log = logging.getLogger(__name__)

MIN_LIKES = 3  # a person teaches the fit from their third like on: two before the one held out
FIT_MIN_PEOPLE = 200  # people with MIN_LIKES likes before anything is fitted (cold start)
MIN_HELDOUT = 50  # reached held-out people the shadow evaluation needs to decide
HELDOUT_SHARE = 0.3  # of the sampled people, kept out of the fit to judge it
CONCURRENCY = 4  # people gathered at once (each a handful of reads)
CACHE_S = 15.0  # a worker reads the shipped blend again after this
NEAR_FIRST = 1e6  # the local baselines rank what lies within the radius first

PEOPLE = statement(
    "feed.learn_people",
    """
    MATCH (u:User)-[r:LIKED]->(:Product)
    WHERE u.status = 'active'
    WITH u, count(r) AS likes
    WHERE likes >= $min_likes
    RETURN u.id AS id ORDER BY id LIMIT $most
    """,
)

# each person's latest like (ties: the greater listing id)
LATEST = statement(
    "feed.learn_latest",
    """
    UNWIND $ids AS id
    MATCH (u:User {id: id})
    {{scope u}}
      MATCH (u)-[r:LIKED]->(p:Product)
      WITH p, r ORDER BY r.at DESC, p.id DESC LIMIT 1
      RETURN p.id AS product_id, r.at AS at
    }
    // the person's own view and save of it: their share of its hype goes with the like's
    OPTIONAL MATCH (u)-[v:VIEWED]->(:Product {id: product_id})
    OPTIONAL MATCH (u)-[s:SAVED]->(:Product {id: product_id})
    RETURN u.id AS id, product_id, at, v.at AS viewed_at, s.at AS saved_at
    """,
)

# the candidates' hype and likes as they stood at a held-out like: engagement before it only
# (today's would carry what happened after: listings that got popular later, the person's own
# later views; paid boosts, offers and messages are left out). Reads every engagement edge of
# the candidates, as the hype pass does
AS_OF = statement(
    "feed.learn_as_of",
    """
    UNWIND $ids AS id
    MATCH (p:Product {id: id})
    OPTIONAL MATCH (p)<-[r:VIEWED|LIKED|SAVED]-()
    WHERE r.at < $now
    """
    + ENGAGEMENT
    + "RETURN p.id AS id, engagement AS hype, likes",
)

# the cards each person was dealt in the week before their held-out like (impressions)
DEALT = statement(
    "feed.learn_dealt",
    """
    UNWIND $people AS person
    WITH person.id AS id, person.at AS at
    {{scope id, at}}
      MATCH (e:Event {actor_id: id})
      WHERE e.type = 'feed.dealt' AND e.at < at AND e.at >= at - $window
      WITH e ORDER BY e.at DESC, e.id DESC LIMIT $decks
      RETURN collect(e.data) AS decks
    }
    RETURN id, decks
    """,
)

RECORD = statement(
    "feed.blend_fitted",
    """
    CREATE (b:FeedBlend {id: $blend_id, version: $version, weights: $weights,
                         fitted_at: $fitted_at, shipped: $shipped, reason: $reason,
                         figures: $figures})
    CREATE (e:Event {id: $event_id, type: 'feed.blend_fitted', at: $now, actor_id: 'system',
                     subject_id: $blend_id, data: $event_data})
    RETURN b.id AS id
    """,
    write=True,
)

SHIPPED = statement(
    "feed.blends_shipped",
    """
    MATCH (b:FeedBlend)
    WHERE b.shipped = true
    RETURN b.version AS version, b.weights AS weights, b.fitted_at AS fitted_at
    ORDER BY fitted_at DESC, version DESC LIMIT 2
    """,
)

FITS = statement(
    "feed.blends",
    """
    MATCH (b:FeedBlend)
    RETURN b.id AS id, b.version AS version, b.fitted_at AS fitted_at, b.shipped AS shipped,
           b.reason AS reason, b.weights AS weights, b.figures AS figures
    ORDER BY fitted_at DESC, id DESC LIMIT $limit
    """,
)


@dataclass
class FitReport:
    shipped: bool
    reason: str
    blend: Blend
    figures: dict[str, Any] = field(default_factory=dict)


class Learner:
    """Fits the deck's blend from the log (`fit`); tells decks which blend to rank with."""

    def __init__(
        self,
        store: GraphStore,
        pools: Pools,
        redis: aioredis.Redis,
        prefix: str,
        pickup_m: float,
        *,
        people: int = 1500,
        min_people: int = FIT_MIN_PEOPLE,
        experiment: str = "",
    ) -> None:
        self._store = store
        self._pools = pools
        self._redis = redis
        self._prefix = prefix
        self._pickup_m = pickup_m
        self._people = people
        self._min_people = min_people
        self._experiment = experiment
        self._cached: tuple[float, Blend, Blend] | None = None

    # ---- which blend ranks ---------------------------------------------------------------

    async def shipped(self) -> tuple[Blend, Blend]:
        """(current, previous): the latest shipped fit and the one shipped before it; the
        hand-set blend where there is none. Read again every CACHE_S seconds."""
        if self._cached is not None and time.monotonic() - self._cached[0] < CACHE_S:
            return self._cached[1], self._cached[2]
        rows = await self._store.run(SHIPPED, {})
        found = [_blend(row) for row in rows]
        current = found[0] if found else HANDSET
        previous = found[1] if len(found) > 1 else HANDSET
        self._cached = (time.monotonic(), current, previous)
        return current, previous

    async def current(self) -> Blend:
        return (await self.shipped())[0]

    async def previous(self) -> Blend:
        return (await self.shipped())[1]

    async def blend_for(self, user_id: str) -> tuple[Blend, str | None, str | None]:
        """The blend this person's decks rank with, and (experiment, arm) when an experiment
        (VENDR_FEED_EXPERIMENT) assigns them one."""
        current, previous = await self.shipped()
        if not self._experiment:
            return current, None, None
        from graph.feed.experiments import assign

        assigned = assign(self._experiment, user_id)
        if assigned is None:
            return current, None, None
        name, arm = assigned
        blend = {"current": current, "previous": previous, "handset": HANDSET}[arm]
        return blend, name, arm

    # ---- fitting --------------------------------------------------------------------------

    async def request(self) -> None:
        """Ask for a fit at the background worker's next round (after a bulk load)."""
        await self._redis.set(self._prefix + "feed:fit-requested", "1")

    async def take_request(self) -> bool:
        return bool(await self._redis.delete(self._prefix + "feed:fit-requested"))

    async def fit(self, now: int | None = None) -> FitReport:
        """Fit, judge on held-out people, ship or keep; the decision is recorded either way
        (nothing recorded below the cold-start threshold)."""
        started = time.monotonic()
        now = now or now_ms()
        current = await self.current()
        people = [
            row["id"]
            for row in await self._store.run(PEOPLE, {"min_likes": MIN_LIKES, "most": 200_000})
        ]
        if len(people) < self._min_people:
            return FitReport(
                False,
                f"too little data: {len(people)} people with {MIN_LIKES} likes, "
                f"{self._min_people} needed; the hand-set blend ranks",
                current,
                {"people": len(people)},
            )
        sampled = sorted(people, key=lambda p: stable_share("sample:" + p))[: self._people]
        examples, reached = await self._examples(sampled)
        fit_set = [e for e in examples if stable_share("heldout:" + e.person) >= HELDOUT_SHARE]
        heldout = [e for e in examples if stable_share("heldout:" + e.person) < HELDOUT_SHARE]
        figures: dict[str, Any] = {
            "people": len(people),
            "sampled": len(sampled),
            "reached": round(reached / max(1, len(sampled)), 4),
            "fit_people": len(fit_set),
            "heldout_people": len(heldout),
            "current": current.version,
        }
        if len(heldout) < MIN_HELDOUT or len(fit_set) < 2 * MIN_HELDOUT:
            return await self._record(
                False,
                f"too few held-out likes the pools hold ({len(heldout)} of {MIN_HELDOUT} "
                "needed): kept the current blend",
                current,
                figures,
                started,
            )
        choice = await asyncio.to_thread(choose, fit_set)
        weights = await asyncio.to_thread(fit_chosen, fit_set, choice)
        fitted = Blend(
            "fit-" + new_id()[:12],
            tuple(round(float(w), 6) for w in weights),
            now,
        )
        judged = shadow(heldout, np.array(fitted.weights), current)
        figures |= {
            "start": choice.prior,
            "lambda": choice.lam,
            "check_hr10": choice.check_hr10,
            "hr10": judged,
        }
        shipped, reason = decide(judged, current.version, len(heldout))
        return await self._record(shipped, reason, fitted, figures, started)

    async def _record(
        self, shipped: bool, reason: str, blend: Blend, figures: dict[str, Any], started: float
    ) -> FitReport:
        figures["seconds"] = round(time.monotonic() - started, 2)
        blend = Blend(blend.version, blend.weights, blend.fitted_at or now_ms(), figures)
        blend_id = new_id()
        await self._store.run(
            RECORD,
            {
                "blend_id": blend_id,
                "version": blend.version,
                "weights": json.dumps(dict(zip(NAMES, blend.weights, strict=True))),
                "fitted_at": blend.fitted_at,
                "shipped": shipped,
                "reason": reason,
                "figures": json.dumps(figures, sort_keys=True),
                **event(),
            },
        )
        if shipped:
            self._cached = None
        log.info("feed blend %s: %s", blend.version, reason)
        return FitReport(shipped, reason, blend, figures)

    async def _examples(self, people: list[str]) -> tuple[list[Example], int]:
        latest = await self._store.run(LATEST, {"ids": people})
        dealt = await self._dealt(latest)
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(row: dict[str, Any]) -> Example | None:
            async with limit:
                return await self._example(row, dealt.get(row["id"], []))

        found = await asyncio.gather(*(one(row) for row in latest))
        # in one order whatever order the backend returned rows in: the same data, the same fit
        examples = sorted((e for e in found if e is not None), key=lambda e: e.person)
        return examples, len(examples)

    async def _dealt(self, latest: list[dict[str, Any]]) -> dict[str, list[str]]:
        """The listings each person was dealt in the week before their held-out like."""
        people = [{"id": row["id"], "at": row["at"]} for row in latest]
        rows = await self._store.run(DEALT, {"people": people, "window": 7 * DAY_MS, "decks": 20})
        out: dict[str, list[str]] = {}
        for row in rows:
            ids: list[str] = []
            for raw in row["decks"] or []:
                ids += _dealt_ids(raw)
            out[row["id"]] = list(dict.fromkeys(ids))
        return out

    async def _example(self, latest: dict[str, Any], dealt: list[str]) -> Example | None:
        person, target, at = latest["id"], latest["product_id"], int(latest["at"])
        got = await gather(
            self._store,
            self._pools,
            person,
            None,
            None,
            {person},
            set(),
            at,
            self._pickup_m,
            before=at,
            extra=[pid for pid in dealt if pid != target],
            hide=[target],
        )
        if target not in got.rough:
            return None
        stood = await self._store.run(
            AS_OF,
            {
                "ids": list(got.rough),
                "now": at,
                "since": at - HYPE_WINDOW_MS,
                "tau": float(HYPE_TAU_MS),
            },
        )
        for found in stood:
            if found["id"] in got.rough:
                got.rough[found["id"]].row |= {
                    # rounded as the hype pass rounds: a sum's last bits depend on row order
                    "hype": round(float(found["hype"] or 0.0), 6),
                    "likes": int(found["likes"] or 0),
                }
        # the person's own view and save of the held-out listing before the like would tell
        row = got.rough[target].row
        own = 0.0
        for weight, when in (
            (VIEW_HYPE, latest.get("viewed_at")),
            (SAVE_HYPE, latest.get("saved_at")),
        ):
            if when is not None and at - HYPE_WINDOW_MS <= int(when) < at:
                own += weight * math.exp((int(when) - at) / HYPE_TAU_MS)
        row["hype"] = max(0.0, float(row.get("hype") or 0.0) - own)
        far = distance_floor(got.profile, got.near, got.radius_m)
        top = max(got.weights.values(), default=0.0)
        total = sum(got.weights.values())
        ids = sorted(got.rough)  # the candidates in one order, whatever the pools' order
        x = np.empty((len(ids), len(NAMES)))
        popularity = np.empty(len(ids))
        share = np.empty(len(ids))
        fresh = np.empty(len(ids))
        near = np.empty(len(ids))
        for i, pid in enumerate(ids):
            cand = got.rough[pid]
            values, _ = features(cand, got.weights, top, at, far, got.radius_m)
            x[i] = values
            p = cand.row
            popularity[i] = 1.0 + float(p.get("likes") or 0.0)
            share[i] = (
                sum(got.weights.get(t, 0.0) for t in p.get("tags") or []) / total if total else 1.0
            )
            fresh[i] = math.exp(-max(0.0, at - p["created_at"]) / (5 * DAY_MS))
            d = p.get("distance_m")
            near[i] = 1.0 if d is not None and d <= got.radius_m else 0.0
        baselines = {
            BASELINES[0]: popularity + NEAR_FIRST * near,
            BASELINES[1]: share * popularity + NEAR_FIRST * near,
            BASELINES[2]: share * popularity * fresh + NEAR_FIRST * near,
        }
        return Example(person, x, ids.index(target), baselines)

    async def fits(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest fits and their decisions, newest first (admins: `vendr feed blends`)."""
        rows = await self._store.run(FITS, {"limit": limit})
        return [
            row | {"weights": json.loads(row["weights"]), "figures": json.loads(row["figures"])}
            for row in rows
        ]


def _blend(row: dict[str, Any]) -> Blend:
    return Blend.from_dict(
        {
            "version": row["version"],
            "weights": json.loads(row["weights"]),
            "fitted_at": row["fitted_at"],
        }
    )


def _dealt_ids(raw: Any) -> list[str]:
    """The listing ids of a `feed.dealt` Event's data (its facts' `ids`)."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    facts = data.get("facts", data)
    ids = facts.get("ids") if isinstance(facts, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []
