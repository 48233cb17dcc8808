"""The bulk loader (seeds/loader.py) with many small batches: batches of one statement are sent
ahead of each other and the hype and trust passes run side by side, yet every row lands once,
the derived values are what the passes make when run one after the other, and the log replays
to the same graph, on both backends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import seeds.loader
from graph.bootstrap import Services
from graph.eventlog import differences, dump, export, replay
from graph.infra.ids import now_ms
from seeds.generator import generate
from seeds.loader import load


async def each(rows: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        yield json.loads(json.dumps(row))  # as `vendr events export` writes it


async def derived(services: Services) -> dict[str, Any]:
    products = await services.store.run_text(
        "MATCH (p:Product) RETURN p.id AS id, p.hype AS hype ORDER BY id", {}, write=False
    )
    users = await services.store.run_text(
        "MATCH (u:User) RETURN u.id AS id, u.trust_score AS trust ORDER BY id", {}, write=False
    )
    return {
        "hype": {r["id"]: r["hype"] for r in products},
        "trust": {r["id"]: r["trust"] for r in users},
    }


async def test_a_load_in_many_batches_writes_every_row_once_and_replays(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seeds.loader, "BATCH", 37)
    data = generate(40, 150, 1500, 11, now_ms())
    loaded = await load(services, data)
    edges = sum(len(rows) for rows in data.interactions.values())
    assert (loaded.users, loaded.products, loaded.interactions) == (40, 150, edges)
    counts = await services.store.run_text(
        "MATCH (:User)-[r:VIEWED|LIKED|PASSED|SAVED]->(:Product) RETURN count(r) AS n",
        {},
        write=False,
    )
    assert counts[0]["n"] == edges
    log = [row async for row in export.events(services.store, 0, None)]
    batches = [e for e in log if e.get("via", "").startswith("seeds.")]
    viewed = len(data.interactions["VIEWED"])
    assert sum(e["via"] == "seeds.viewed" for e in batches) == -(-viewed // 37)
    before = await dump(services.store)

    # the passes side by side left what they leave run one after the other (a moment later:
    # hype decays meanwhile)
    after_load = await derived(services)
    assert any(h > 0 for h in after_load["hype"].values())
    assert any(t > 0 for t in after_load["trust"].values())
    await services.jobs.hype()
    await services.trust.recompute()
    again = await derived(services)
    assert again["hype"] == pytest.approx(after_load["hype"], rel=1e-3, abs=1e-6)
    assert again["trust"] == pytest.approx(after_load["trust"], abs=0.5)

    await services.store.drop_all()
    done = await replay(services.store, each(log))
    assert done.diverged == [], done.summary()
    assert differences(before, await dump(services.store)) == []


async def test_a_failed_batch_fails_the_load_and_leaves_nothing_running(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seeds.loader, "BATCH", 10)
    data = generate(20, 60, 300, 3, now_ms())
    # a map is no property value on either backend: the second batch of likes fails
    data.interactions["LIKED"][15]["at"] = {"not": "a time"}
    with pytest.raises(Exception):  # noqa: B017 - each backend says it its own way
        await load(services, data)
    # the load stopped at that statement: no later batch ran after it failed
    later = await services.store.run_text(
        "MATCH ()-[r:PASSED|SAVED]->() RETURN count(r) AS n", {}, write=False
    )
    assert later[0]["n"] == 0
