"""Trust propagated from verified accounts and the fraud-ring detector: through the real app on
a real embedded FalkorDB (deals and reviews made over HTTP, the recompute the worker runs), and
the walk itself on hand-made graphs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from graph.trust.rank import Subgraph, propagate
from graph.trust.rings import find_rings
from graph.trust.score import Person
from tests.conftest import Api, read
from tests.test_catalog_api import image, listing
from tests.test_reviews import review

NOW = 1_800_000_000_000
DAY_MS = 86_400_000


async def deal(api: Api, seller: str, buyer: str, **product: Any) -> str:
    """A completed order of `seller`'s new listing by `buyer`, reviewed five stars both ways.
    Each seller photographs their own things (identical photos across sellers are a signal)."""
    colour = "#" + hashlib.sha256(seller.encode()).hexdigest()[:6]
    photo = await image(api, seller, colour)
    item = await listing(api, seller, image_ids=[photo], **product)
    placed = await api.call(
        "post", f"/v1/products/{item['id']}/orders", buyer, json={"quantity": 1}
    )
    assert placed.status == 201, placed.text
    oid = placed.json["id"]
    assert (await api.call("post", f"/v1/orders/{oid}/confirm", seller)).status == 200
    assert (await api.call("post", f"/v1/orders/{oid}/complete", buyer)).status == 200
    assert (await review(api, buyer, oid, 5, "Perfect")).status == 201
    assert (await review(api, seller, oid, 5, "Perfect")).status == 201
    return oid


async def person(api: Api, services, name: str, *, phone: bool = False) -> tuple[str, str]:
    user, token = await api.signup(display_name=name)
    # verification itself is tested with the codes; here only its outcome matters, and an
    # anchor has been around for a year (fresh phone-verified accounts seed the walk little)
    await services.store.run_text(
        "MATCH (u:User {id: $id}) SET u.email_verified = true, u.phone_verified = $phone, "
        "u.created_at = CASE WHEN $phone THEN u.created_at - 400 * 86400000 "
        "ELSE u.created_at END",
        {"id": user["id"], "phone": phone},
        write=True,
    )
    return user["id"], token


async def test_a_ring_gains_little_while_one_trusted_review_counts(api: Api, services) -> None:
    anchor_id, anchor = await person(api, services, "Anchor", phone=True)
    newcomer_id, newcomer = await person(api, services, "Newcomer")
    await deal(api, anchor, newcomer)  # one honest deal with a trusted account
    ring = [await person(api, services, f"Fake {k}") for k in range(4)]
    for k, (_, buyer) in enumerate(ring):  # each buys from the next two, five stars both ways
        for step in (1, 2):
            await deal(api, ring[(k + step) % 4][1], buyer, title=f"Phone case {k}{step}")

    report = await services.trust.recompute()
    assert report.people >= 6 and report.seeds == 1 and report.deals == 9

    async def trust(user_id: str) -> dict[str, Any]:
        profile = (await api.call("get", f"/v1/users/{user_id}")).json
        return profile["trust"]

    new = await trust(newcomer_id)
    fakes = [await trust(uid) for uid, _ in ring]
    for t in [new, *fakes, await trust(anchor_id)]:
        parts = t["components"].values()
        assert t["score"] == sum(c["points"] for c in parts)  # the parts add up
        assert all(c["why"] and 0 <= c["points"] <= c["max"] for c in parts)
        assert t["computed_at"] is not None
    # each fake has four deals and four five-star reviews, the newcomer one of each
    assert all("4 completed deals" in f["components"]["deals"]["why"] for f in fakes)
    assert all(f["components"]["ratings"]["points"] == 0 for f in fakes)
    assert all(f["components"]["network"]["points"] == 0 for f in fakes)
    assert new["components"]["ratings"]["points"] > 0
    assert new["components"]["network"]["points"] > 0
    assert new["score"] > max(f["score"] for f in fakes)
    anchor_network = (await trust(anchor_id))["components"]["network"]
    assert anchor_network["why"] == "A trust anchor: verified email and phone."

    # every listing card shows the stored score
    item = await listing(
        api, newcomer, title="Lamp", image_ids=[await image(api, newcomer, "navy")]
    )
    card = (await api.call("get", f"/v1/products/{item['id']}")).json
    assert card["seller"]["trust_score"] == new["score"]

    # the detector flagged the ring for moderation, with its evidence, and nobody else
    flagged = await read(
        services,
        "MATCH (r:Report {reason: 'fraud_ring'})-[:ABOUT]->(u:User) "
        "RETURN u.id AS id, r.evidence AS evidence, r.status AS status",
    )
    assert sorted(f["id"] for f in flagged) == sorted(uid for uid, _ in ring)
    evidence = json.loads(flagged[0]["evidence"])[0]
    assert evidence["kind"] == "dealing" and evidence["size"] == 4
    assert evidence["inside_share"] == 1.0 and evidence["five_star_share_inside"] == 1.0
    # a second run refreshes the evidence, it does not pile up reports
    again = await services.trust.recompute()
    assert again.flagged == 0
    n = await read(services, "MATCH (r:Report {reason: 'fraud_ring'}) RETURN count(r) AS n")
    assert n[0]["n"] == 4
    events = await read(services, "MATCH (e:Event {type: 'trust.recomputed'}) RETURN count(e) AS n")
    assert events[0]["n"] == 2


async def test_an_admin_marked_account_is_an_anchor(api: Api, services) -> None:
    shop_id, shop = await person(api, services, "Old shop")
    buyer_id, buyer = await person(api, services, "Buyer")
    await deal(api, shop, buyer)
    await services.trust.recompute()
    before = (await api.call("get", f"/v1/users/{buyer_id}")).json["trust"]
    assert before["components"]["network"]["points"] == 0  # no anchor anywhere yet
    await services.moderation.mark_trusted(shop_id, "root", "known shop since 2009", True)
    await services.trust.recompute()
    after = (await api.call("get", f"/v1/users/{buyer_id}")).json["trust"]
    assert after["components"]["network"]["points"] > 0 and after["score"] > before["score"]
    shop_trust = (await api.call("get", f"/v1/users/{shop_id}")).json["trust"]
    assert "vouched for by Vendr" in shop_trust["components"]["verification"]["why"]
    marked = await read(
        services, "MATCH (e:Event {type: 'moderation.trusted'}) RETURN e.actor_id AS who"
    )
    assert marked == [{"who": "admin:root"}]


def _graph(people: list[str], seeds: set[str], deals: list[tuple[str, str]]) -> Subgraph:
    g = Subgraph()
    for pid in people:
        g.people[pid] = Person(
            id=pid, created_at=NOW - 365 * DAY_MS, email_verified=True, phone_verified=pid in seeds
        )
    for buyer, seller in deals:
        g.deals.append((buyer, seller))
        g.people[buyer].partners.append(seller)
        g.people[seller].partners.append(buyer)
        g.reviews.append((buyer, seller, 5, "buyer"))
        g.people[seller].reviews.append((buyer, 5))
    return g


def test_the_walk_barely_reaches_a_dense_ring_behind_one_attack_edge() -> None:
    honest = [f"h{i}" for i in range(30)]
    ring = [f"s{i}" for i in range(10)]
    # honest people trade along a loose web; the ring trades with itself densely
    deals = [(honest[i], honest[(i * 7 + 3) % 30]) for i in range(30)]
    deals += [(honest[i], honest[(i + 1) % 30]) for i in range(30)]
    deals += [(a, b) for a in ring for b in ring if a < b]
    deals.append((ring[0], honest[5]))  # the one attack edge
    g = _graph(honest + ring, {honest[0], honest[10], honest[20]}, deals)
    trust = propagate(g, NOW)
    assert max(trust[s] for s in ring) < 0.2
    assert sorted(trust[h] for h in honest)[len(honest) // 2] > 0.5  # the median honest account
    rings = find_rings(g, trust, NOW)
    assert [sorted(r.members) for r in rings] == [sorted(ring)]


def test_without_any_anchor_nobody_gets_network_trust() -> None:
    g = _graph(["a", "b", "c"], set(), [("a", "b"), ("b", "c")])
    assert propagate(g, NOW) == {"a": 0.0, "b": 0.0, "c": 0.0}


def test_a_fresh_phone_verified_account_seeds_the_walk_little() -> None:
    g = _graph(["old", "new", "a", "b"], {"old", "new"}, [("a", "old"), ("b", "new")])
    g.people["new"].created_at = NOW - 9 * DAY_MS
    trust = propagate(g, NOW)
    assert trust["old"] >= 0.5 and trust["new"] < 0.1
    assert trust["a"] > trust["b"]


def test_sellers_sharing_photos_are_grouped_with_the_photos_as_evidence() -> None:
    g = _graph(["a", "b", "c", "d"], {"d"}, [])
    g.shared_photos = [("img1", ["a", "b"]), ("img2", ["b", "c"])]
    rings = find_rings(g, propagate(g, NOW), NOW)
    assert [(r.members, r.evidence["photos"]) for r in rings] == [
        (["a", "b", "c"], ["img1", "img2"])
    ]
