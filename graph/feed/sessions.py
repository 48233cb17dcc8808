"""Swipe sessions: one ranking of up to SESSION_SIZE candidates kept in Redis, dealt a page
at a time. Each card is checked just before it is shown (as the graph has it now, or as
cached since its last change; seller not blocked; not swiped or saved since, which swipes
note in the session as they are made), and no card is dealt twice in a session; when the
ranking runs dry it is computed again, without what was dealt already. Cards come from a
per-listing cache, and one read before its listing or seller last changed
(`QueryCache.bump`) is read from the graph again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis

from graph.catalog import PRODUCT_VIEW, BrowseService, Pools
from graph.feed import impressions
from graph.feed.blend import HANDSET, Blend, blended
from graph.feed.candidates import gather, seed_pair
from graph.feed.explanations import reasons
from graph.feed.scoring import (
    FAR_MAX,
    MAX_PER_SELLER,
    Candidate,
    Card,
    distance_floor,
    promoted,
    ranked,
)
from graph.infra.cache import QueryCache
from graph.infra.geo import Place, haversine_m
from graph.infra.ids import now_ms
from graph.infra.store import GraphStore, statement

if TYPE_CHECKING:
    from graph.feed.learning import Learner

SESSION_SIZE = 120  # candidates a session ranks at once: six pages of 20
SESSION_PER_SELLER = 6  # in a session's ranking (a page still deals at most MAX_PER_SELLER)
SESSION_TTL_S = 1800  # an idle session (and what it dealt) is forgotten after this
CARD_TTL_S = 600  # a cached card is read again after this, changed or not (trust, hype)

# a listing as a card shows it, whoever looks (cached per listing, see `Decks._cards`):
# only while it and its seller are active
CARD = statement(
    "feed.card",
    """
    UNWIND $ids AS id
    MATCH (p:Product {id: id})
    // (a step of its own: FalkorDB would otherwise start from every user)
    WITH p
    MATCH (s:User)-[:LISTED]->(p)
    WHERE p.status = 'active' AND s.status = 'active'
    WITH p, s
    """
    + PRODUCT_VIEW,
)


class Decks:
    """Each person's swipe session, in Redis under `PREFIX deck:USER`."""

    def __init__(
        self,
        store: GraphStore,
        browse: BrowseService,
        pools: Pools,
        redis: aioredis.Redis,
        prefix: str,
        promoted_cap: int,
        cache: QueryCache,
        learner: Learner | None = None,
    ) -> None:
        self._learner = learner
        self._prefix = prefix
        self._store = store
        self._browse = browse
        self._pools = pools
        self._redis = redis
        self._promoted_cap = promoted_cap
        self._cache = cache
        self._p = prefix + "deck:"

    async def note_swiped(self, user_id: str, product_ids: Sequence[str]) -> None:
        """Noted before the write: a page dealt meanwhile leaves these out (the graph has
        them too once written; a session computed after reads them from there)."""
        key = self._p + user_id + ":swiped"
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(key, *product_ids)
        pipe.expire(key, SESSION_TTL_S)
        await pipe.execute()

    async def ranking(self, user_id: str) -> list[str]:
        """The ids the person's current session ranked, best first (evaluation, debugging)."""
        raw = await self._redis.get(self._p + user_id)
        return list(orjson.loads(raw)["order"]) if raw else []

    async def forget(self, user_id: str) -> None:
        """What the session ranked no longer holds (stated interests changed): start again."""
        await self._redis.delete(self._p + user_id, self._p + user_id + ":dealt")

    async def deck(
        self,
        user_id: str,
        near: Place | None,
        radius_km: float | None,
        limit: int,
        fresh: bool = False,
        blend: Blend | None = None,
        record: bool = True,
    ) -> list[Card]:
        """The next `limit` cards of this person's session (a new session when there is none,
        the place or radius asked for changed, or `fresh`), ranked with the blend the learner
        gives this person (or `blend`: evaluation). The cards dealt are noted as impressions
        in the same round trip that keeps the session (unless not to `record`: analysts'
        sample decks are not what people were shown)."""
        now = now_ms()
        key, dealt_key = self._p + user_id, self._p + user_id + ":dealt"
        where = [[near.lat, near.lon] if near else None, radius_km]
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.smembers(dealt_key)
        pipe.smembers(self._p + user_id + ":swiped")
        (raw, dealt_raw, swiped_raw), hidden = await asyncio.gather(
            pipe.execute(), self._browse.hidden_sellers(user_id)
        )
        hidden_sellers = {*hidden, user_id}
        session = orjson.loads(raw) if raw else None
        swiped = {_text(x) for x in swiped_raw}
        skip = swiped | {_text(x) for x in dealt_raw}  # what this session may not deal
        computed = False
        if blend is not None and session is not None and session.get("blend") != blend.as_dict():
            session = None  # asked for another blend than the session ranks with
        if fresh or session is None or session["where"] != where:
            skip, computed = swiped, True
            session = await self._session(
                user_id, near, radius_km, hidden_sellers, skip, now, blend
            )
            session["where"] = where
        cards, gone = await self._deal(session, skip, hidden_sellers, limit, now, [])
        if len(cards) < limit and not computed:  # ran dry: rank again, without what was dealt
            skip = skip | gone | {c.product["id"] for c in cards}
            session = await self._session(
                user_id, near, radius_km, hidden_sellers, skip, now, blend
            )
            session["where"] = where
            more, more_gone = await self._deal(
                session, skip, hidden_sellers, limit - len(cards), now, cards
            )
            cards, gone = cards + more, gone | more_gone
        taken = gone | {c.product["id"] for c in cards}
        pipe = self._redis.pipeline(transaction=True)
        if computed:
            pipe.delete(dealt_key)
        pipe.set(key, orjson.dumps(session), ex=SESSION_TTL_S)
        if taken:
            pipe.sadd(dealt_key, *taken)
        pipe.expire(dealt_key, SESSION_TTL_S)
        if cards and record:
            impressions.note(
                pipe,
                self._prefix,
                user_id,
                [c.product["id"] for c in cards],
                blend=session.get("blend", {}).get("version", HANDSET.version),
                experiment=session.get("experiment"),
                arm=session.get("arm"),
                now=now,
            )
        await pipe.execute()
        return cards

    async def _session(
        self,
        user_id: str,
        near: Place | None,
        radius_km: float | None,
        hidden_sellers: set[str],
        skip: set[str],
        now: int,
        blend: Blend | None = None,
    ) -> dict[str, Any]:
        """Rank up to SESSION_SIZE candidates on what the pools know of them, leaving out
        `hidden_sellers`' listings (yours, blocked either way) and `skip` (swiped, dealt), with
        `blend` or the one the learner gives this person."""
        experiment = arm = None
        if blend is None:
            if self._learner is not None:
                blend, experiment, arm = await self._learner.blend_for(user_id)
            else:
                blend = HANDSET
        got = await gather(
            self._store,
            self._pools,
            user_id,
            near,
            radius_km,
            hidden_sellers,
            skip,
            now,
            self._browse.pickup_m,
        )
        near, weights, paths, seeds, items = got.near, got.weights, got.paths, got.seeds, got.items
        far = distance_floor(got.profile, near, got.radius_m)
        use = blend

        def scorer(cand: Candidate, top: float) -> tuple[float, dict[str, float]]:
            return blended(use, cand, weights, top, now, far, got.radius_m)

        best = ranked(
            got.rough,
            weights,
            now,
            SESSION_SIZE,
            per_seller=SESSION_PER_SELLER,
            far=far,
            scorer=scorer,
        )
        order = [cand.row["id"] for _, cand, _ in best]
        return {
            "at": now,
            "near": _point(near),
            "far": far,
            "radius_m": got.radius_m,
            "blend": blend.as_dict(),
            "experiment": experiment,
            "arm": arm,
            "weights": weights,
            "liked_tags": got.liked_tags,
            "order": order,
            "paths": {pid: paths[pid] for pid in order if pid in paths},
            "seeds": {pid: seeds[pid] for pid in order if pid in seeds},
            "sellers": {pid: items[pid].seller_id for pid in order},
            "likes": {pid: items[pid].likes for pid in order if items[pid].likes},
        }

    async def _deal(
        self,
        session: dict[str, Any],
        skip: set[str],
        hidden_sellers: set[str],
        limit: int,
        now: int,
        already: list[Card],
    ) -> tuple[list[Card], set[str]]:
        """The next cards of the session's order, each as it is now (`_cards`) and still for
        you (not expired, seller not blocked, within pickup reach); returns them and the ids
        that may no longer be shown."""
        weights, liked_tags = session["weights"], session["liked_tags"]
        top = max(weights.values(), default=0.0)
        far = session.get("far", FAR_MAX)  # (a session kept from before it was stored)
        blend = Blend.from_dict(session["blend"]) if session.get("blend") else HANDSET
        radius_m = float(session.get("radius_m") or 0.0)
        order = [pid for pid in session["order"] if pid not in skip]
        per_seller = Counter(c.product["seller_id"] for c in already)
        promotions = sum(promoted(c.product, now) for c in already)
        chunk = limit + max(10, limit // 2)
        out: list[tuple[float, Card]] = []
        gone: set[str] = set()
        pickup_m = self._browse.pickup_m
        near = session["near"]
        likes = session.get("likes") or {}
        for start in range(0, len(order), chunk):
            ids = order[start : start + chunk]
            cards = await self._cards(ids, session.get("sellers") or {})
            for pid in ids:
                row = _for_you(cards.get(pid), now, hidden_sellers, near, pickup_m)
                if row is None:
                    gone.add(pid)
                    continue
                if per_seller[row["seller_id"]] >= MAX_PER_SELLER:
                    continue  # left for a later page
                if promoted(row, now):
                    if promotions >= self._promoted_cap:
                        continue  # paid boosts do not crowd out the rest of the page
                    promotions += 1
                per_seller[row["seller_id"]] += 1
                # the listing as the graph has it, its like count as the pools had it
                scored = row | {"likes": likes.get(pid, 0)}
                cand = Candidate(
                    scored, int(session["paths"].get(pid, 0)), seed_pair(session["seeds"].get(pid))
                )
                value, parts = blended(blend, cand, weights, top, now, far, radius_m)
                why = reasons(cand, parts, weights, liked_tags, now, pickup_m)
                shown = round(value, 4) if blend.handset else float(f"{value:.4g}")
                out.append((value, Card(row, shown, why)))
                if len(out) == limit:
                    break
            if len(out) == limit:
                break
        out.sort(key=lambda vc: (-vc[0], vc[1].product["id"]))
        return [card for _, card in out], gone

    async def _cards(self, ids: list[str], sellers: dict[str, str]) -> dict[str, dict[str, Any]]:
        """These listings as cards show them, while they and their sellers are active: from
        the card cache where neither the listing nor its seller changed since the card was
        read (marked by `QueryCache.bump`), the rest from the graph (and cached for the next
        reader)."""
        keys = [self._card_key(pid) for pid in ids]
        owners = [sellers.get(pid, "") for pid in ids]
        raws, marks = await asyncio.gather(
            self._redis.mget(keys), self._cache.marks([*ids, *owners])
        )
        out: dict[str, dict[str, Any]] = {}
        for i, (pid, raw) in enumerate(zip(ids, raws, strict=True)):
            if raw is not None:
                row = orjson.loads(raw)
                if row["read_at"] > max(marks[i], marks[len(ids) + i]):
                    out[pid] = row
        missing = [pid for pid in ids if pid not in out]
        if missing:
            read_at = now_ms()  # before the read: a change written during it is newer
            rows = await self._store.run(CARD, {"ids": missing, "near": None})
            pipe = self._redis.pipeline(transaction=False)
            for row in rows:
                row["read_at"] = read_at
                out[row["id"]] = row
                pipe.set(self._card_key(row["id"]), orjson.dumps(row), ex=CARD_TTL_S)
            await pipe.execute()
        return out

    def _card_key(self, product_id: str) -> str:
        return self._p + "card:" + product_id


def _for_you(
    card: dict[str, Any] | None,
    now: int,
    hidden_sellers: set[str],
    near: dict[str, float] | None,
    pickup_m: float,
) -> dict[str, Any] | None:
    """A card (as `CARD` reads it, for anyone) as this person is dealt it, with their place
    and distance on it; None when it may not be (expired, seller hidden, pickup only and out
    of reach)."""
    if card is None or card["expires_at"] <= now or card["seller_id"] in hidden_sellers:
        return None
    where = card.get("place")
    distance = None
    if near is not None and where is not None:
        metres = haversine_m(
            where["latitude"], where["longitude"], near["latitude"], near["longitude"]
        )
        distance = round(metres * 1000.0) / 1000.0
    pickup_only = card.get("local_pickup") and not card.get("ships")
    if pickup_only and distance is not None and distance > pickup_m:
        return None
    return card | {"viewer": near, "distance_m": distance}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _point(near: Place | None) -> dict[str, float] | None:
    return {"latitude": near.lat, "longitude": near.lon} if near else None
