"""Rebuilding a graph from its event log (`vendr events replay`).

Each source Event names the statement that made it and that statement's facts
(graph/infra/events/); replaying it runs the same statement with the same facts, its own id
and its own time, on the target graph, in the log's order (at, id). What the statement makes
beside its Event (by-products: an order's payment, a notification) is made again with the ids
the facts hold. An Event already in the target is skipped, so a replay interrupted and run again,
or a log replayed twice, applies each event once. Facts of an older version are upcast first.

An event whose statement does not append it again on the target *diverged*: its guard refused
(the target did not hold what the source held when it ran: an event missing from the log, a
log replayed into a graph that was not empty). Divergences are counted and named, not hidden.

Photos travel by content address: the events name them, and a target whose blob store is not
the source's (another data dir) gets them copied (`--blobs-from DIR`); one that shares it (the
same bucket, the same disk) already has them.

Batches: rows of one batched statement run (swipes, a sweep's expiries) are applied as one
statement again; the target is asked once per page which events it already holds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graph.eventlog.clone import IMAGE, ids_in
from graph.eventlog.export import events as graph_events
from graph.infra.blobs import BlobStore
from graph.infra.events import SOURCES, parse, replay_params, upcast
from graph.infra.store import REGISTRY, GraphStore, statement

PAGE = 500
Blobs = tuple[BlobStore, BlobStore]  # (the source's, the target's)

HELD = statement(
    "replay.held",
    """
    UNWIND $ids AS id
    MATCH (e:Event {id: id})
    RETURN collect(e.id) AS ids
    """,
)


@dataclass
class Replayed:
    read: int = 0  # events read from the log
    applied: int = 0  # source events applied
    skipped: int = 0  # source events the target already held
    by_products: int = 0  # events made again by their sources (or from before facts were kept)
    diverged: list[str] = field(default_factory=list)  # source events the target refused
    blobs: int = 0  # photos (and thumbnails) copied to the target's blob store
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "applied": self.applied,
            "skipped": self.skipped,
            "by_products": self.by_products,
            "diverged": len(self.diverged),
            "first_diverged": self.diverged[:20],
            "blobs_copied": self.blobs,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate, 1),
        }


@dataclass
class _Run:
    """One statement run to apply: a source event, or several rows of one batched run."""

    via: str
    params: dict[str, Any]
    ids: list[str]
    shared: str | None = None  # a batched run's shared facts, to join rows of the same run


def line_event(line: str) -> dict[str, Any]:
    """An event from a line of `vendr events export`."""
    row = json.loads(line)
    if not isinstance(row, dict) or "id" not in row or "at" not in row:
        raise ValueError("a line of the log is not an exported event")
    return row


async def file_events(lines: Iterable[str]) -> AsyncIterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield line_event(line)


async def store_events(store: GraphStore) -> AsyncIterator[dict[str, Any]]:
    async for row in graph_events(store, 0, None):
        yield row


def _source(row: dict[str, Any]) -> tuple[str, int, dict[str, Any]] | None:
    """(statement, version, facts) when the exported event is a source."""
    if row.get("via"):
        return str(row["via"]), int(row.get("version") or 1), dict(row["data"] or {})
    return parse(row.get("data"))


def _run_of(row: dict[str, Any], via: str, version: int, facts: dict[str, Any]) -> _Run:
    if via not in REGISTRY:
        raise KeyError(
            f"event {row['id']} names statement {via!r}, which this process has not loaded"
        )
    src = SOURCES[via]
    facts = upcast(via, version, facts)
    params = replay_params(src, row["id"], int(row["at"]), facts)
    shared = None
    if src.rows is not None:
        rest = {k: v for k, v in facts.items() if k != src.rows}
        shared = json.dumps([via, row["at"], rest], sort_keys=True, default=str)
    return _Run(via, params, [row["id"]], shared)


def _join(runs: list[_Run]) -> list[_Run]:
    """Rows of one batched run, consecutive in the log, applied as one statement again."""
    out: list[_Run] = []
    for run in runs:
        last = out[-1] if out else None
        if last is not None and run.shared is not None and last.shared == run.shared:
            rows = SOURCES[run.via].rows
            assert rows is not None
            last.params[rows] = [*last.params[rows], *run.params[rows]]
            last.ids.extend(run.ids)
        else:
            out.append(run)
    return out


def _copy_blobs(blobs: Blobs, runs: list[_Run]) -> int:
    """The photos the applied events name (content addresses), copied where the target lacks
    them, with their thumbnails."""
    source, target = blobs
    copied = 0
    for key in sorted(set().union(*(ids_in(run.params) for run in runs))):
        if not IMAGE.match(key):
            continue
        for name in (key, key + ".thumb"):
            if target.get(name) is None and (data := source.get(name)) is not None:
                target.put(name, data)
                copied += 1
    return copied


async def _apply(
    target: GraphStore, page: list[dict[str, Any]], done: Replayed, blobs: Blobs | None
) -> None:
    sources: list[tuple[dict[str, Any], tuple[str, int, dict[str, Any]]]] = []
    for row in page:
        parsed = _source(row)
        if parsed is None:
            done.by_products += 1
        else:
            sources.append((row, parsed))
    if not sources:
        return
    held = set((await target.run(HELD, {"ids": [row["id"] for row, _ in sources]}))[0]["ids"])
    done.skipped += sum(1 for row, _ in sources if row["id"] in held)
    runs = _join([_run_of(row, *parsed) for row, parsed in sources if row["id"] not in held])
    if blobs is not None and runs:
        # before the statements: a photo is there by the time a listing shows it
        done.blobs += await asyncio.to_thread(_copy_blobs, blobs, runs)
    await target.run_many([(REGISTRY[run.via], run.params) for run in runs])
    done.applied += sum(len(run.ids) for run in runs)
    applied = [i for run in runs for i in run.ids]
    if applied:
        made = set((await target.run(HELD, {"ids": applied}))[0]["ids"])
        done.diverged.extend(i for i in applied if i not in made)


async def replay(
    target: GraphStore,
    events: AsyncIterable[dict[str, Any]],
    *,
    page: int = PAGE,
    keep: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    progress: Callable[[int], object] | None = None,
    blobs: Blobs | None = None,
) -> Replayed:
    """Apply `events` (oldest first) to `target`; `keep` chooses which are applied (and may
    cut a batched event down to some of its rows); `blobs` (source, target) copies the photos
    they name when the target's blob store is not the source's."""
    done = Replayed()
    started = time.perf_counter()
    await target.ensure_schema()
    batch: list[dict[str, Any]] = []
    async for row in events:
        done.read += 1
        kept = row if keep is None else keep(row)
        if kept is None:
            continue
        batch.append(kept)
        if len(batch) >= page:
            await _apply(target, batch, done, blobs)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        await _apply(target, batch, done, blobs)
        if progress:
            progress(len(batch))
    done.seconds = time.perf_counter() - started
    return done
