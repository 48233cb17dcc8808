"""Test environments from production (`vendr events replay --entity ID --related`): one
account, its listings, rooms and deals, and the other parties' bare existence, replayed from an
exported log into another graph through the command line; an unrelated account stays out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graph.bootstrap import Services, make_store
from graph.infra import embedded
from graph.infra.settings import Settings
from graph.infra.store import GraphStore
from seeds.loader import seed
from tests.conftest import Api, read, settings_env
from tests.test_catalog_api import listing
from tests.test_cli import ROOT, VENDR
from tests.test_event_replay import MARKET, build

pytestmark = pytest.mark.usefixtures("ledger_checked")


@pytest.fixture
def backend() -> str:
    return "falkordb"  # a second graph beside the first: FalkorDB holds many, Community Neo4j one


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return MARKET


@pytest.fixture
async def clone(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Settings, GraphStore]]:
    """Another graph on the same server, with a data dir (and so a blob store) of its own."""
    info = embedded.status(settings.data_dir)
    assert info is not None
    there = settings.model_copy(
        update={
            "graph_url": info.url.replace("redis", "falkordb", 1),
            "graph_name": f"clone_{uuid.uuid4().hex[:12]}",
            "data_dir": tmp_path / "clone",
        }
    )
    store = make_store(there)
    try:
        yield there, store
    finally:
        await store.drop_all()
        await store.close()


def vendr(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | settings_env(settings)
    return subprocess.run(
        [str(VENDR), *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300
    )


# the labels these checks read: the only names spliced into their Cypher
LABELS = frozenset({"User", "Product", "Order", "Room", "Offer", "Message"})


async def ids(store: GraphStore, label: str) -> set[str]:
    assert label in LABELS, label
    rows = await store.run_text(f"MATCH (n:{label}) RETURN n.id AS id", write=False)
    return {r["id"] for r in rows}


async def test_one_account_and_what_it_touches_make_a_test_environment(
    api: Api, services: Services, settings: Settings, clone: Any, tmp_path: Path
) -> None:
    people = await build(api, services)
    # someone the buyer never dealt with
    loner, token = await api.signup(display_name="Loner")
    theirs = await listing(api, token, title="Unrelated bike")
    log = tmp_path / "log.jsonl"
    exported = await asyncio.to_thread(vendr, settings, "events", "export", "--out", str(log))
    assert exported.returncode == 0, exported.stderr

    there, store = clone
    done = await asyncio.to_thread(
        vendr, there, "events", "replay", str(log), "--entity", people["buyer"], "--related",
        "--blobs-from", str(settings.blob_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["applied"] > 10 and summary["diverged"] == 0, summary
    # the photos of what came along, by content address, with their thumbnails
    photos = await store.run_text("MATCH (i:Image) RETURN i.id AS id", write=False)
    assert photos and summary["blobs_copied"] >= 2
    for photo in photos:
        assert (there.blob_dir / photo["id"][:2] / photo["id"][2:4] / photo["id"]).is_file()

    users = await ids(store, "User")
    assert people["buyer"] in users and people["seller"] in users  # the other party exists
    assert loner["id"] not in users
    assert theirs["id"] not in await ids(store, "Product")
    # the buyer's deals, rooms and messages came with them, as they are at the source
    for label in ("Order", "Room", "Offer"):
        assert label in LABELS
        want = await read(
            services,
            f"MATCH (u:User {{id: $id}})-[*1..2]-(n:{label}) RETURN DISTINCT n.id AS id",
            id=people["buyer"],
        )
        assert {r["id"] for r in want} <= await ids(store, label), label
    mine = await read(
        services,
        "MATCH (:User {id: $id})-[:MEMBER]->(:Room)<-[:IN]-(m:Message) RETURN m.id AS id",
        id=people["buyer"],
    )
    assert mine and {r["id"] for r in mine} <= await ids(store, "Message")
    # the seller's life beyond the buyer stays out: only what the buyer dealt in came along
    seller_listings = await read(
        services, "MATCH (:User {id: $id})-[:LISTED]->(p) RETURN p.id AS id", id=people["seller"]
    )
    assert await ids(store, "Product") < {r["id"] for r in seller_listings}

    alone = await asyncio.to_thread(vendr, there, "events", "replay", str(log), "--related")
    assert alone.returncode == 2 and "--entity" in alone.stderr


async def test_the_readmes_commands_copy_a_seeded_marketplace(
    services: Services, settings: Settings, clone: Any, tmp_path: Path
) -> None:
    """export, replay into another graph, dump both: the same facts, through the command line
    (the demo data's batches name the bulk loader's statements)."""
    await seed(services, users=20, products=60, interactions=300, seed=3)
    there, _ = clone
    log, here_dump, there_dump = (tmp_path / n for n in ("log.jsonl", "a.jsonl", "b.jsonl"))
    for env, args in (
        (settings, ("events", "export", "--out", str(log))),
        (there, ("events", "replay", str(log))),
        (settings, ("events", "dump", "--out", str(here_dump))),
        (there, ("events", "dump", "--out", str(there_dump))),
    ):
        done = await asyncio.to_thread(vendr, env, *args)
        assert done.returncode == 0, (args, done.stderr)
    facts = here_dump.read_text()
    assert facts.count("\n") > 500 and facts == there_dump.read_text()

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "x", "at": 1, "via": "no.such", "version": 1, "data": {}}\n')
    refused = await asyncio.to_thread(vendr, there, "events", "replay", str(broken))
    assert refused.returncode == 2 and "no.such" in refused.stderr
