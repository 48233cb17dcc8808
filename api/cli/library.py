"""The Cypher library and the event log for admins, and the OpenAPI document offline."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from tabulate import tabulate

from graph.analytics import admin
from graph.bootstrap import make_store
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

    from graph.analytics import export

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
    from graph.analytics.export import parse_since

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
