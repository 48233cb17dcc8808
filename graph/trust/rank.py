"""Trust propagated from pre-trusted accounts, computed in Python over a subgraph read from the
store (one implementation for FalkorDB and Neo4j), written back to each `User`.

The walk is a personalised PageRank (EigenTrust: Kamvar et al. 2003) whose restarts go to the
seeds only: accounts with a verified email and phone, or marked trusted by an admin. Trust flows
along completed deals (both ways: each side handed over money or goods and saw the other
through) and along good reviews (reviewer to reviewed, by stars above three). Like SybilRank
(Cao et al. 2012) each account's rank is divided by its degree, so hubs do not soak it up, and
compared on a log scale with the median seed: a ring of fake accounts dealing among themselves
reaches the walk only through the few deals it made with honest people, and its degree-
normalised rank stays orders of magnitude below anyone the seeds can reach.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from graph.infra.ids import event, now_ms
from graph.infra.store import GraphStore, statement
from graph.trust.score import DAY_MS, Person, score

log = logging.getLogger("vendr.trust")

PAGE = 5000
ALPHA = 0.85  # the walk goes on with this probability, else restarts at a seed
DECADES = 1.25  # a degree-normalised rank this many powers of ten below the median seed's is 0
SEED_AGE_DAYS = 180.0  # a seed restarts the walk in proportion to its age, full at this
DEALS_PER_PAIR = 3  # more repeat deals between two people add no more trust
# How much a seller vouches for a buyer, against a buyer for a seller (1): the buyer took the
# risk (paid, then received the goods), the seller only received money. Buying from honest
# sellers is also the cheapest way for fake accounts to get edges into the honest graph.
SELLER_VOUCH = 0.3

USERS = statement(
    "trust.users",
    """
    MATCH (u:User)
    WHERE u.id > $after
    WITH u ORDER BY u.id LIMIT $limit
    RETURN u.id AS id, u.status AS status, u.created_at AS created_at,
           u.email_verified AS email_verified, u.phone_verified AS phone_verified,
           u.trusted AS trusted,
           size([(u)-[:LINKED]->(s:SocialAccount) WHERE s.verified_at IS NOT NULL | s]) AS socials
    ORDER BY id
    """,
)

DEALS = statement(
    "trust.deals",
    """
    MATCH (o:Order)
    WHERE o.id > $after
    WITH o ORDER BY o.id LIMIT $limit
    RETURN o.id AS id, o.status = 'completed' AS completed, o.buyer_id AS buyer,
           o.seller_id AS seller
    ORDER BY id
    """,
)

# published reviews that are not hidden by moderation
REVIEWS = statement(
    "trust.reviews",
    """
    MATCH (rv:Review)
    WHERE rv.id > $after
    WITH rv ORDER BY rv.id LIMIT $limit
    RETURN rv.id AS id, rv.author_id AS author, rv.subject_id AS subject, rv.rating AS rating,
           rv.role AS role,
           rv.published_at IS NOT NULL AND rv.hidden_at IS NULL AS counts
    ORDER BY id
    """,
)

# sellers sharing a photo (content hash) with at most a few other sellers: the same person
# behind several accounts, or copied ads (a stock photo many sellers use says nothing)
SHARED_PHOTOS = statement(
    "trust.shared_photos",
    """
    MATCH (i:Image)<-[:HAS_IMAGE]-(p:Product)
    WHERE p.status <> 'deleted'
    WITH i, collect(DISTINCT p.seller_id) AS sellers
    WHERE size(sellers) >= 2 AND size(sellers) <= $max_sellers
    RETURN i.id AS image, sellers
    """,
)

WRITE = statement(
    "trust.write",
    """
    UNWIND $rows AS r
    MATCH (u:User {id: r.id})
    SET u.trust_score = r.score, u.trust_components = r.components, u.trust_network = r.network,
        u.trust_at = $now
    RETURN count(u) AS n
    """,
    write=True,
)

RUN_EVENT = statement(
    "trust.run_event",
    """
    CREATE (e:Event {id: $event_id, type: 'trust.recomputed', at: $now, actor_id: 'system',
                     subject_id: 'trust', data: $event_data})
    RETURN e.id AS id
    """,
    write=True,
)


@dataclass
class Subgraph:
    """What the walk and the fraud-ring detector need, read in pages."""

    people: dict[str, Person] = field(default_factory=dict)
    inactive: set[str] = field(default_factory=set)  # suspended or deleted: no trust, no edges
    deals: list[tuple[str, str]] = field(default_factory=list)  # (buyer, seller), completed
    # (author, subject, stars, the author's side: buyer or seller)
    reviews: list[tuple[str, str, int, str]] = field(default_factory=list)
    shared_photos: list[tuple[str, list[str]]] = field(default_factory=list)


async def _pages(store: GraphStore, st: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = ""
    while True:
        rows = await store.run(st, {"after": after, "limit": PAGE})
        out.extend(rows)
        if len(rows) < PAGE:
            return out
        after = rows[-1]["id"]


async def read_subgraph(store: GraphStore, max_photo_sellers: int = 5) -> Subgraph:
    g = Subgraph()
    for row in await _pages(store, USERS):
        if row["status"] != "active":
            g.inactive.add(row["id"])
            continue
        g.people[row["id"]] = Person(
            id=row["id"],
            created_at=int(row["created_at"] or 0),
            email_verified=bool(row["email_verified"]),
            phone_verified=bool(row["phone_verified"]),
            socials=int(row["socials"] or 0),
            trusted=bool(row["trusted"]),
        )
    for row in await _pages(store, DEALS):
        buyer, seller = row["buyer"], row["seller"]
        if row["completed"] and buyer in g.people and seller in g.people:
            g.deals.append((buyer, seller))
            g.people[buyer].partners.append(seller)
            g.people[seller].partners.append(buyer)
    for row in await _pages(store, REVIEWS):
        author, subject = row["author"], row["subject"]
        if row["counts"] and author in g.people and subject in g.people:
            g.reviews.append((author, subject, int(row["rating"]), str(row["role"])))
            g.people[subject].reviews.append((author, int(row["rating"])))
    photos = await store.run(SHARED_PHOTOS, {"max_sellers": max_photo_sellers})
    g.shared_photos = [(r["image"], sorted(r["sellers"])) for r in photos]
    return g


def trust_graph(g: Subgraph) -> nx.DiGraph:
    """Who vouches for whom, and how much: deals both ways (repeat deals capped; a seller
    vouches less for a buyer than the other way), good reviews from author to subject."""
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for buyer, seller in g.deals:
        pairs[(buyer, seller)] += 1
    weights: dict[tuple[str, str], float] = defaultdict(float)
    for (buyer, seller), n in pairs.items():
        w = min(n, DEALS_PER_PAIR)
        weights[(buyer, seller)] += w
        weights[(seller, buyer)] += w * SELLER_VOUCH
    for author, subject, stars, role in g.reviews:
        if stars > 3:
            weights[(author, subject)] += (
                (stars - 3) / 2 * (SELLER_VOUCH if role == "seller" else 1)
            )
    graph = nx.DiGraph()
    graph.add_nodes_from(g.people)
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in weights.items() if a != b)
    return graph


def propagate(g: Subgraph, now: int | None = None) -> dict[str, float]:
    """Each active account's propagated trust in [0, 1]."""
    now = now if now is not None else now_ms()
    graph = trust_graph(g)
    # a fresh account that verified a phone is cheap to make: it restarts the walk in
    # proportion to its age (an admin's mark counts in full)
    restart = {
        pid: 1.0 if p.trusted else min(max(now - p.created_at, 0) / DAY_MS / SEED_AGE_DAYS, 1.0)
        for pid, p in g.people.items()
        if p.seed
    }
    restart = {pid: w for pid, w in restart.items() if w > 0}
    if not restart or graph.number_of_nodes() == 0:
        return dict.fromkeys(g.people, 0.0)
    rank = nx.pagerank(
        graph, alpha=ALPHA, personalization=restart, weight="weight", tol=1e-9, max_iter=500
    )
    degree = dict(graph.degree(weight="weight"))
    normalised = {pid: rank[pid] / max(degree.get(pid, 0.0), 1.0) for pid in g.people}
    full = [pid for pid, w in restart.items() if w >= 1.0] or list(restart)
    reference = float(np.median([normalised[s] for s in full]))
    out = {}
    for pid, value in normalised.items():
        if value <= 0 or reference <= 0:
            out[pid] = 0.0
            continue
        level = 1 + math.log10(value / reference) / DECADES  # 1 at the median full seed
        out[pid] = max(0.0, min(level, 1.0))
    for pid, w in restart.items():  # an anchor is trusted as far as the walk goes, and its age
        out[pid] = max(out[pid], 0.5 * w)
    return out


@dataclass
class Recompute:
    people: int = 0
    seeds: int = 0
    deals: int = 0
    reviews: int = 0
    rings: int = 0
    flagged: int = 0
    # where the time went: reading the subgraph, the walk and scores, writing back, rings
    read_s: float = 0.0
    rank_s: float = 0.0
    write_s: float = 0.0
    rings_s: float = 0.0
    seconds: float = 0.0


class TrustService:
    """Recompute every active account's score (the sweeper, `vendr trust recompute`, after a
    bulk load); the API only reads what this writes."""

    def __init__(self, store: GraphStore, rings: Any | None = None) -> None:
        self._store = store
        self._rings = rings

    async def recompute(self, *, rings: bool = True) -> Recompute:
        started = time.monotonic()
        g = await read_subgraph(self._store)
        read = time.monotonic()
        network, rows = await asyncio.to_thread(_scores, g, now_ms())
        ranked = time.monotonic()
        for start in range(0, len(rows), PAGE):
            params = {"rows": rows[start : start + PAGE], "now": now_ms()}
            await self._store.run(WRITE, params)
        written = time.monotonic()
        report = Recompute(
            people=len(g.people),
            seeds=sum(p.seed for p in g.people.values()),
            deals=len(g.deals),
            reviews=len(g.reviews),
            read_s=round(read - started, 3),
            rank_s=round(ranked - read, 3),
            write_s=round(written - ranked, 3),
        )
        if rings and self._rings is not None:
            found, flagged = await self._rings.flag(g, network)
            report.rings, report.flagged = found, flagged
            report.rings_s = round(time.monotonic() - written, 3)
        report.seconds = round(time.monotonic() - started, 3)
        await self._store.run(RUN_EVENT, event(asdict(report)))
        log.info("trust recomputed: %s", report)
        return report


def _scores(g: Subgraph, now: int) -> tuple[dict[str, float], list[dict[str, Any]]]:
    network = propagate(g, now)
    rows = []
    for pid, person in g.people.items():
        result = score(person, network, now)
        rows.append(
            {
                "id": pid,
                "score": result["score"],
                "network": round(network.get(pid, 0.0), 4),
                "components": json.dumps(result["components"], separators=(",", ":")),
            }
        )
    return network, rows
