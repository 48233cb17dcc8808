"""The Cypher library and the event log for admins, and the OpenAPI document offline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from tabulate import tabulate

from graph.analytics import admin
from graph.bootstrap import make_blobs, make_store
from graph.infra.blobs import LocalBlobStore
from graph.infra.settings import Settings


def param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--param wants name=value, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def format_value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _library_query(ref: str, settings: Settings) -> admin.AdminQuery:
    """A path to a .cypher file, or a name in the library (`stale_listings`)."""
    if ref.endswith(".cypher") or ("/" in ref and Path(ref).is_file()):
        path = Path(ref)
        if not path.is_file():
            raise FileNotFoundError(f"no such Cypher file: {ref}")
        return admin.load(path)
    return admin.find(admin.library(settings), ref)


async def _cypher(
    query: admin.AdminQuery, params: dict[str, Any], write: bool, settings: Settings
) -> int:
    unknown = set(params) - set(query.defaults)
    if unknown:
        print(
            f"vendr: {query.name} declares no parameter {', '.join(sorted(unknown))}",
            file=sys.stderr,
        )
        return 2
    store = make_store(settings)
    try:
        table = await store.run_table(
            query.text(store.dialect), query.defaults | params, write=write
        )
    finally:
        await store.close()
    rows = [[format_value(row[h]) for h in table.columns] for row in table.rows]
    print(tabulate(rows, headers=table.columns))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


def cmd_cypher(args: argparse.Namespace, settings: Settings) -> int:
    try:
        query = _library_query(args.query, settings)
    except KeyError as exc:
        print(f"vendr: {exc.args[0]}", file=sys.stderr)
        return 2
    params = dict(args.param or [])
    return asyncio.run(_cypher(query, params, args.write, settings))


def cmd_cypher_list(args: argparse.Namespace, settings: Settings) -> int:
    folder = admin.library(settings)
    rows = [
        [q.name, q.summary, ", ".join(f"{k}={json.dumps(v)}" for k, v in q.defaults.items())]
        for q in admin.all_queries(folder)
    ]
    print(
        tabulate(
            rows, headers=["name", "answers", "params (defaults)"], maxcolwidths=[None, 70, 40]
        )
    )
    print(f"({len(rows)} files in {folder}; run one with: vendr cypher run NAME --param k=v)")
    return 0


async def _export(args: argparse.Namespace, since: int, settings: Settings, out: TextIO) -> int:
    from tqdm import tqdm

    from graph.eventlog import export

    store = make_store(settings)
    written = 0
    try:
        total = await export.count_events(store, since, args.type)
        # progress on stderr, and only on a terminal: a pipe or a test reads clean JSON Lines
        with tqdm(total=total, unit="event", file=sys.stderr, disable=None) as bar:
            async for event in export.events(store, since, args.type):
                out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
                written += 1
                bar.update()
    finally:
        await store.close()
    where = "stdout" if args.out == "-" else args.out
    print(f"exported {written} event{'s' if written != 1 else ''} to {where}", file=sys.stderr)
    return 0


def cmd_events_export(args: argparse.Namespace, settings: Settings) -> int:
    from graph.eventlog.export import parse_since

    try:
        since = parse_since(args.since) if args.since else 0
    except ValueError as exc:
        print(f"vendr: {exc}", file=sys.stderr)
        return 2
    if args.out == "-":
        return asyncio.run(_export(args, since, settings, sys.stdout))
    with open(args.out, "w", encoding="utf-8") as out:
        return asyncio.run(_export(args, since, settings, out))


def cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    """The API's OpenAPI document, without a server (for client generators)."""
    from api.contract.routes import offline

    text = json.dumps(offline(settings), indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def copy_graph(args: argparse.Namespace, settings: Settings) -> int:
    """`vendr db copy --to bolt://…`: this graph into an empty Neo4j database, then the check
    that both hold the same; 1 when they differ."""
    if not args.to:
        print(
            "vendr: db copy needs --to bolt://host:port (the Neo4j to copy into)", file=sys.stderr
        )
        return 2
    target = settings.model_copy(
        update={
            "graph_url": args.to,
            "graph_name": args.to_database,
            "neo4j_user": args.to_user,
            "neo4j_password": os.environ.get("VENDR_COPY_PASSWORD", ""),
        }
    )
    return asyncio.run(_copy(settings, target))


async def _copy(settings: Settings, target_settings: Settings) -> int:
    from tqdm import tqdm

    from graph.analytics import copy

    source, target = make_store(settings), make_store(target_settings)
    try:
        with tqdm(unit="row", file=sys.stderr, disable=None) as bar:

            def advance(_: str, rows: int) -> None:
                bar.update(rows)

            done = await copy.copy(source, target, progress=advance)
        print(f"copied {done.nodes} nodes and {done.relationships} relationships")
        found = await copy.check(source, target)
    finally:
        await source.close()
        await target.close()
    if found.differences:
        print("the copy differs from the source:", file=sys.stderr)
        for line in found.differences:
            print(f"  {line}", file=sys.stderr)
        return 1
    kinds = len(found.source.counts)
    print(f"checked: the same nodes and relationships, in all {kinds} labels and types")
    return 0


def _source_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The graph a replay reads from: `--from URL` (with `--from-graph`, `--from-user`, the
    password in VENDR_FROM_PASSWORD), on the same Redis."""
    # the replicas are the app graph's, not the source's
    update: dict[str, Any] = {"graph_url": args.source, "graph_replica_urls": ""}
    if args.from_graph:
        update["graph_name"] = args.from_graph
    if args.from_user:
        update["neo4j_user"] = args.from_user
    if "VENDR_FROM_PASSWORD" in os.environ:
        update["neo4j_password"] = os.environ["VENDR_FROM_PASSWORD"]
    return settings.model_copy(update=update)


async def _replay(args: argparse.Namespace, settings: Settings, handle: TextIO | None) -> int:
    from tqdm import tqdm

    import seeds.loader  # noqa: F401  - the bulk loader's statements, which its batches name
    from graph.eventlog import file_events, keep_selected, replay, select, store_events

    target = make_store(settings)
    source = make_store(_source_settings(args, settings)) if args.source else None

    def log() -> Any:
        if source is not None:
            return store_events(source)
        if handle is None:
            return file_events([])
        handle.seek(0)
        return file_events(handle)

    try:
        keep = None
        if args.entity:
            chosen = await select(log, args.entity, related=args.related)
            keep = keep_selected(chosen)
            print(
                f"{len(chosen.events)} events about {len(chosen.ids)} things chosen",
                file=sys.stderr,
            )
        blobs = None
        if args.blobs_from:
            # into this deployment's store: its data dir's, or its bucket (VENDR_BLOBS_URL)
            blobs = (LocalBlobStore(Path(args.blobs_from)), make_blobs(settings)[0])
        with tqdm(unit="event", file=sys.stderr, disable=None) as bar:
            done = await replay(target, log(), keep=keep, progress=bar.update, blobs=blobs)
    finally:
        await target.close()
        if source is not None:
            await source.close()
    print(json.dumps(done.summary(), indent=2))
    # one account's slice may refuse at its edges (a listing's other buyers are not in it):
    # said in the summary; a whole log that diverges is a failure
    return 1 if done.diverged and not args.entity else 0


def cmd_events_replay(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.file) == bool(args.source):
        print("vendr: replay reads a FILE (or - for stdin) or --from GRAPH_URL", file=sys.stderr)
        return 2
    if args.entity and args.file == "-":
        print("vendr: --entity reads the log twice: give a FILE, not stdin", file=sys.stderr)
        return 2
    if args.related and not args.entity:
        print("vendr: --related goes with --entity ID", file=sys.stderr)
        return 2
    try:
        with contextlib.ExitStack() as stack:
            handle = None
            if args.file == "-":
                handle = sys.stdin
            elif args.file:
                handle = stack.enter_context(open(args.file, encoding="utf-8"))
            return asyncio.run(_replay(args, settings, handle))
    except (ValueError, KeyError) as exc:
        print(f"vendr: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


async def _dump(out: TextIO, settings: Settings, activity: bool) -> int:
    from graph.eventlog.dump import dump

    store = make_store(settings)
    try:
        lines = await dump(store, activity=activity)
    finally:
        await store.close()
    for line in lines:
        out.write(line + "\n")
    print(f"dumped {len(lines)} facts", file=sys.stderr)
    return 0


def cmd_events_dump(args: argparse.Namespace, settings: Settings) -> int:
    if args.out == "-":
        return asyncio.run(_dump(sys.stdout, settings, not args.no_activity))
    with open(args.out, "w", encoding="utf-8") as out:
        return asyncio.run(_dump(out, settings, not args.no_activity))


def cmd_events_mirror(args: argparse.Namespace, settings: Settings) -> int:
    from api.cli.moderation import _run
    from graph.bootstrap import Services
    from graph.eventlog.mirror import make_mirror

    if not settings.mirror_graph_url:
        print("vendr: no mirror is set (VENDR_MIRROR_GRAPH_URL)", file=sys.stderr)
        return 2

    async def work(services: Services) -> int:
        mirror = make_mirror(services)
        try:
            if args.action == "stop":
                await mirror.stop()
            elif args.action == "start":
                await mirror.start()
            print(json.dumps(await mirror.status(), indent=2))
        finally:
            await mirror.close()
        return 0

    return _run(settings, work)
