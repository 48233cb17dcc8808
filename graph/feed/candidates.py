"""What a swipe session ranks: candidates from the pools (the best in the tags you like, near
you and anywhere; the most engaging and the newest near you) and from listings co-liked by
people who liked what you liked, a traversal capped at every hop so a popular listing's
thousands of likers cannot blow it up; with what you liked, saved and looked at, and the
tags you said you are into, which weigh them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graph.catalog import DEFAULT_RADIUS_KM, Item, Pools
from graph.feed.scoring import Candidate, tag_weights
from graph.infra.errors import NotFound
from graph.infra.geo import Place, haversine_m
from graph.infra.store import GraphStore, Statement, statement

SEEDS, LIKERS, THEIR_LIKES = 10, 15, 8  # co-like fan-out caps
TOP_TAGS = 5
COLIKED_MAX = 80

# who you are to a deck, in one statement: where you are, the tags you said you are into, and
# what you liked or saved and, apart, what you looked at (the latest 30 of each, with their
# tags and places; `gather` puts them newest first)
START = statement(
    "feed.start",
    """
    MATCH (me:User {id: $user_id})
    {{scope me}}
      OPTIONAL MATCH (me)-[i:INTERESTED_IN]->(t:Tag)
      RETURN collect({tag: t.name, weight: i.weight}) AS interests
    }
    {{scope me}}
      MATCH (me)-[r:LIKED|SAVED]->(p:Product)
      WHERE ($before IS NULL OR r.at < $before) AND NOT p.id IN $hide
      WITH p, r.at AS at ORDER BY at DESC, p.id LIMIT 30
      RETURN collect({id: p.id, at: at, liked: true}) AS liked
    }
    {{scope me}}
      MATCH (me)-[r:VIEWED]->(p:Product)
      WHERE ($before IS NULL OR r.at < $before) AND NOT p.id IN $hide
      WITH p, r.at AS at ORDER BY at DESC, p.id LIMIT 30
      RETURN collect({id: p.id, at: at, liked: false}) AS viewed
    }
    {{scope liked, viewed}}
      UNWIND liked + viewed AS row
      // (the id taken out of the map first: FalkorDB matches nothing on {id: row.id})
      // (`flag`, not `liked`: Neo4j will not let a subquery shadow what it imported)
      WITH row.id AS id, row.at AS at, row.liked AS flag
      MATCH (p:Product {id: id})-[:TAGGED]->(t:Tag)
      WITH p, at, flag, collect(t.name) AS tags
      RETURN collect({id: p.id, title: p.title, at: at, liked: flag, tags: tags,
                      lat: p.place.latitude, lon: p.place.longitude}) AS profile
    }
    RETURN me.location AS location, interests, profile
    """,
)


def _coliked(name: str, picked: str) -> Statement:
    """Listings liked by people who liked what you liked, capped at every hop; `picked`: how
    a capped hop picks (after its WHERE, before its LIMIT)."""
    return statement(
        name,
        """
    MATCH (me:User {id: $user_id})
    {{scope me}}
      MATCH (me)-[r:LIKED]->(seed:Product)
      WHERE $before IS NULL OR r.at < $before
      RETURN seed ORDER BY r.at DESC, seed.id LIMIT $seeds
    }
    {{scope me, seed}}
      MATCH (seed)<-[l:LIKED]-(other:User)
      WHERE other.id <> me.id AND ($before IS NULL OR l.at < $before)
      RETURN other """
        + picked.format(edge="l", node="other")
        + """ LIMIT $likers
    }
    {{scope other, seed}}
      MATCH (other)-[l:LIKED]->(c:Product)
      WHERE c.id <> seed.id AND c.status = 'active' AND ($before IS NULL OR l.at < $before)
      RETURN c """
        + picked.format(edge="l", node="c")
        + """ LIMIT $their_likes
    }
    WITH c, seed, count(*) AS n
    ORDER BY n DESC, seed.id
    // per candidate: how many paths lead to it, and the liked listing most of them start from
    WITH c, sum(n) AS paths, collect({id: seed.id, title: seed.title})[0] AS best
    RETURN c.id AS id, paths, best.id AS seed_id, best.title AS seed_title
    ORDER BY paths DESC, id LIMIT $most
    """,
    )


# a deck's: each capped hop takes whichever rows come first (no sort: a popular listing's
# thousands of likers are never all read)
COLIKED = _coliked("feed.coliked", "")
# the fit's (`before` set, in the background worker): the latest likers and likes before then,
# so the same data gives the same candidates whatever plan or row order the backend has (the
# same fit on both backends, and twice in a row); it reads every liker of a seed to sort them
COLIKED_AS_OF = _coliked("feed.coliked_as_of", "ORDER BY {edge}.at DESC, {node}.id")

SEEN = statement(
    "feed.seen",
    """
    MATCH (me:User {id: $user_id})-[r:LIKED|PASSED|SAVED]->(p:Product)
    WHERE p.id IN $ids AND ($before IS NULL OR r.at < $before)
    RETURN collect(DISTINCT p.id) AS ids
    """,
)


@dataclass
class Gathered:
    """A session's candidates (`skip` and hidden sellers left out), and what weighs them."""

    near: Place | None
    radius_m: float
    profile: list[dict[str, Any]]
    weights: dict[str, float]
    liked_tags: dict[str, str | None]  # tag -> the latest listing you liked in it (or None)
    paths: dict[str, int]  # co-like paths per candidate
    seeds: dict[str, list[str]]  # candidate -> [id, title] of the liked listing it came from
    items: dict[str, Item]
    rough: dict[str, Candidate]


async def gather(
    store: GraphStore,
    pools: Pools,
    user_id: str,
    near: Place | None,
    radius_km: float | None,
    hidden_sellers: set[str],
    skip: set[str],
    now: int,
    pickup_m: float,
    *,
    before: int | None = None,
    extra: Sequence[str] = (),
    hide: Sequence[str] = (),
) -> Gathered:
    """The session's candidates and what weighs them. `before`: as this person's likes, saves,
    views and co-likes stood before that time, among the listings listed by then (what
    `learning` fits on: the like that followed not yet made); `extra`: listings to take as
    candidates too (the cards a person was dealt); `hide`: listings whose likes, saves and views
    are left out of the profile and that stay candidates (the one `learning` holds out: its
    view just before the like would tell)."""
    started, colikes = await asyncio.gather(
        store.run(START, {"user_id": user_id, "before": before, "hide": list(hide)}),
        store.run(
            COLIKED if before is None else COLIKED_AS_OF,
            {
                "user_id": user_id,
                "seeds": SEEDS,
                "likers": LIKERS,
                "their_likes": THEIR_LIKES,
                "most": COLIKED_MAX,
                "before": before,
            },
        ),
    )
    if not started:
        raise NotFound("no such user")
    me = started[0]
    # newest first (a stable sort: rows at the same time stay as the graph gave them)
    profile: list[dict[str, Any]] = sorted(me["profile"], key=lambda row: row["at"], reverse=True)
    if near is None and me["location"]:
        near = Place(me["location"]["latitude"], me["location"]["longitude"])
    liked = [row for row in profile if row["liked"]]
    weights = tag_weights(liked, me["interests"], [row for row in profile if not row["liked"]])
    # tags you liked things in (the latest such listing) and tags you said you are into
    liked_tags: dict[str, str | None] = {i["tag"]: None for i in me["interests"] if i["tag"]}
    liked_tags |= {t: row["id"] for row in reversed(liked) for t in row["tags"]}
    paths = {row["id"]: row["paths"] for row in colikes}
    seeds = {row["id"]: [row["seed_id"], row["seed_title"]] for row in colikes}
    top_tags = sorted(weights, key=lambda t: (-weights[t], t))[:TOP_TAGS]
    radius_m = (radius_km or DEFAULT_RADIUS_KM) * 1000.0
    pooled = await pools.candidates(near, radius_m, top_tags, [*paths, *extra], now, pickup_m)
    items = {
        pid: item
        for pid, item in pooled.items()
        if item.seller_id not in hidden_sellers
        and pid not in skip
        and (before is None or item.created_at < before)  # (not listed yet then)
    }
    if items:
        seen = await store.run(SEEN, {"user_id": user_id, "ids": list(items), "before": before})
        for pid in seen[0]["ids"] if seen else ():
            if pid not in hide:
                items.pop(pid, None)
    rough = {
        pid: Candidate(_row(item, near), paths.get(pid, 0), seed_pair(seeds.get(pid)))
        for pid, item in items.items()
    }
    return Gathered(near, radius_m, profile, weights, liked_tags, paths, seeds, items, rough)


def seed_pair(value: list[str] | None) -> tuple[str, str] | None:
    return (value[0], value[1]) if value else None


def _row(item: Item, near: Place | None) -> dict[str, Any]:
    """A pool item in the shape ranking reads a product in."""
    distance = None
    if near is not None and item.lat is not None and item.lon is not None:
        distance = haversine_m(item.lat, item.lon, near.lat, near.lon)
    return {
        "id": item.id,
        "seller_id": item.seller_id,
        "tags": list(item.tags),
        "created_at": item.created_at,
        "hype": item.hype,
        "likes": item.likes,
        "seller_trust": item.trust,
        "distance_m": distance,
    }
