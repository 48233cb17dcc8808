"""Fraud rings: groups of accounts that mostly deal with and review each other, or share
identifiers (the same photo on few sellers' listings), flagged for moderation with the evidence.

Communities come from Louvain modularity over deals and reviews (networkx; deterministic with a
fixed seed), photo sharing from connected components. A community is a suspect ring when most
of its members' deals and reviews stay inside it, it is dense (more deals inside than members:
a chain of one-off sales is not a ring) and the walk from trusted accounts barely reaches it:
an honest town's regulars also deal among themselves, but they are reachable.
Each flagged member gets one open system report (`reason: fraud_ring`) with the ring's evidence;
running the detector again updates the evidence instead of piling up reports.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graph.infra.ids import event, new_id, now_ms
from graph.infra.store import GraphStore, statement
from graph.trust.rank import Subgraph
from graph.trust.score import DAY_MS

MIN_RING = 3
CORE = 2  # a ring member deals with at least this many others of the ring
INSIDE_SHARE = 0.7  # of the members' deal and review weight within the group
LOW_NETWORK = 0.3  # the group's median propagated trust is below this
DENSE = 1.5  # completed deals inside per member: a chain or a star has under 1, a ring more
MAX_COMMUNITY = 200  # larger communities are markets, not rings

# One open system report per flagged account, keyed like every report (one open report per
# reporter and target); a rerun refreshes its evidence.
FLAG = statement(
    "trust.flag_ring",
    """
    UNWIND $rows AS r
    MATCH (u:User {id: r.user_id})
    WHERE u.status = 'active'
    MERGE (rep:Report {key: 'open:system:user:' + r.user_id})
      ON CREATE SET rep.id = r.report_id, rep.reporter_id = 'system', rep.target = 'user',
                    rep.target_id = r.user_id, rep.owner_id = r.user_id,
                    rep.reason = 'fraud_ring', rep.note = r.note, rep.status = 'open',
                    rep.created_at = $now
    SET rep.evidence = r.evidence, rep.ring_id = r.ring_id, rep.updated_at = $now
    MERGE (rep)-[:ABOUT]->(u)
    // a refreshed report is a fact too (its evidence changed): an Event either way
    CREATE (:Event {id: r.event_id,
                    type: CASE WHEN rep.id = r.report_id THEN 'report.filed'
                          ELSE 'report.refreshed' END,
                    at: $now, actor_id: 'system', subject_id: rep.id, data: r.event_data})
    RETURN count(rep) AS n, sum(CASE WHEN rep.id = r.report_id THEN 1 ELSE 0 END) AS created
    """,
    write=True,
)


@dataclass
class Ring:
    members: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)


def _interactions(g: Subgraph) -> nx.Graph:
    """Who dealt with or reviewed whom, undirected: a deal weighs 1, a review 0.5."""
    weights: dict[tuple[str, str], float] = defaultdict(float)  # in the order met: reproducible
    for a, b, w in [(*d, 1.0) for d in g.deals] + [(r[0], r[1], 0.5) for r in g.reviews]:
        if a != b:
            weights[(a, b) if a < b else (b, a)] += w
    graph = nx.Graph()
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in weights.items())
    return graph


def find_rings(g: Subgraph, network: dict[str, float], now: int | None = None) -> list[Ring]:
    now = now if now is not None else now_ms()
    graph = _interactions(g)
    rings: list[Ring] = []
    if graph.number_of_edges():
        communities = nx.community.louvain_communities(graph, weight="weight", seed=7)
        for community in communities:
            if not MIN_RING <= len(community) <= MAX_COMMUNITY:
                continue
            # its dense core: people dealing with at least CORE others inside (a ring's members
            # deal round and round; honest people it bought from hang on by one edge)
            group = set(nx.k_core(graph.subgraph(community), CORE))
            if len(group) < MIN_RING:
                continue
            evidence = _dealing_evidence(g, graph, group, network, now)
            if evidence is not None:
                rings.append(Ring(sorted(group), evidence))
    rings.extend(_photo_rings(g, network))
    return rings


def _dealing_evidence(
    g: Subgraph, graph: nx.Graph, group: set[str], network: dict[str, float], now: int
) -> dict[str, Any] | None:
    volume = sum(graph.degree(u, weight="weight") for u in group)
    inside = sum(d["weight"] for a, b, d in graph.subgraph(group).edges(data=True))
    share = 2 * inside / volume if volume else 0.0
    trust = statistics.median(network.get(u, 0.0) for u in group)
    if share < INSIDE_SHARE or trust >= LOW_NETWORK:
        return None
    deals_in = sum(1 for a, b in g.deals if a in group and b in group)
    if deals_in < DENSE * len(group):
        return None
    deals_out = sum(1 for a, b in g.deals if (a in group) != (b in group))
    stars_in = [s for a, b, s, _ in g.reviews if a in group and b in group]
    ages = [(now - g.people[u].created_at) / DAY_MS for u in group if u in g.people]
    return {
        "kind": "dealing",
        "size": len(group),
        "inside_share": round(share, 3),
        "deals_inside": deals_in,
        "deals_outside": deals_out,
        "reviews_inside": len(stars_in),
        "five_star_share_inside": round(stars_in.count(5) / len(stars_in), 3) if stars_in else 0,
        "median_age_days": round(statistics.median(ages), 1) if ages else None,
        "median_network_trust": round(trust, 3),
        "verified_phones": sum(1 for u in group if u in g.people and g.people[u].phone_verified),
    }


def _photo_rings(g: Subgraph, network: dict[str, float]) -> list[Ring]:
    graph = nx.Graph()
    shared: dict[frozenset[str], list[str]] = defaultdict(list)
    for image, sellers in g.shared_photos:
        live = [s for s in sellers if s in g.people]
        for a, b in itertools.pairwise(live):
            graph.add_edge(a, b)
        if len(live) >= 2:
            shared[frozenset(live)].append(image)
    rings = []
    for component in nx.connected_components(graph):
        photos = sorted({i for group, ids in shared.items() if group <= component for i in ids})
        rings.append(
            Ring(
                sorted(component),
                {
                    "kind": "shared_photos",
                    "size": len(component),
                    "photos": photos[:10],
                    "median_network_trust": round(
                        statistics.median(network.get(u, 0.0) for u in component), 3
                    ),
                },
            )
        )
    return rings


class RingDetector:
    def __init__(self, store: GraphStore) -> None:
        self._store = store

    async def flag(self, g: Subgraph, network: dict[str, float]) -> tuple[int, int]:
        """Find rings and flag their members; returns (rings, reports opened)."""
        rings = await asyncio.to_thread(find_rings, g, network)
        evidence: dict[str, list[dict[str, Any]]] = defaultdict(list)
        ring_of: dict[str, str] = {}
        for ring in rings:
            ring_id = new_id()
            for member in ring.members:
                evidence[member].append(ring.evidence | {"ring_id": ring_id})
                ring_of.setdefault(member, ring_id)
        rows = []
        for member, found in evidence.items():
            kinds = sorted({e["kind"] for e in found})
            rows.append(
                {
                    "user_id": member,
                    "report_id": new_id(),
                    "ring_id": ring_of[member],
                    "note": "flagged by the fraud-ring detector: " + ", ".join(kinds),
                    "evidence": json.dumps(found, separators=(",", ":")),
                    **event(),
                }
            )
        created = 0
        for start in range(0, len(rows), 1000):
            out = await self._store.run(FLAG, {"rows": rows[start : start + 1000], "now": now_ms()})
            created += int(out[0]["created"] or 0) if out else 0
        return len(rings), created
