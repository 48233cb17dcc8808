"""`vendr`: serve the API, run the embedded database, run the Cypher library, export events,
open and run the analysts' notebooks, seed data, work the moderation queue, recompute trust."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from api.cli import blobs, experiments, feed, graphql, moderation, money
from api.cli.library import (
    cmd_cypher,
    cmd_cypher_list,
    cmd_events_dump,
    cmd_events_export,
    cmd_events_mirror,
    cmd_events_replay,
    cmd_openapi,
    param,
)
from api.cli.serving import (
    StartRefused,
    cmd_db,
    cmd_lab,
    cmd_notebooks_run,
    cmd_serve,
    cmd_worker,
)
from api.cli.upkeep import cmd_jobs, cmd_payments, cmd_seed
from graph.infra import embedded, neo4j_local
from graph.infra.settings import Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vendr", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API (starts the embedded database)")
    serve.add_argument("--demo", action="store_true", help="load demo data when the graph is empty")
    serve.set_defaults(func=cmd_serve)

    spec = sub.add_parser("openapi", help="print the API's OpenAPI document (no server needed)")
    spec.add_argument("--out", help="write it to this file instead")
    spec.set_defaults(func=cmd_openapi)
    graphql.add_parsers(sub)

    db = sub.add_parser("db", help="the embedded FalkorDB server, or a local Neo4j")
    db.add_argument("action", choices=["start", "stop", "status", "copy"])
    db.add_argument(
        "--neo4j",
        action="store_true",
        help="Neo4j Community (`make neo4j`) with the embedded server beside it for Redis",
    )
    db.add_argument("--to", help="copy: the empty Neo4j to copy this graph into (bolt://…)")
    db.add_argument("--to-user", default="neo4j", help="copy: its user")
    db.add_argument("--to-database", default="neo4j", help="copy: its database")
    db.set_defaults(func=cmd_db)

    cypher = sub.add_parser("cypher", help="the Cypher library: admin and analysts' queries")
    csub = cypher.add_subparsers(dest="cypher_command", required=True)
    listing = csub.add_parser("list", help="every file in the library, what it answers, its params")
    listing.set_defaults(func=cmd_cypher_list)
    run = csub.add_parser("run", help="run a library file or a .cypher path; print a table")
    run.add_argument("query", metavar="NAME|FILE", help="e.g. stale_listings or ./my.cypher")
    run.add_argument(
        "--param",
        type=param,
        action="append",
        metavar="NAME=VALUE",
        help="a $parameter; VALUE is read as JSON when it parses, else as text",
    )
    run.add_argument("--write", action="store_true", help="allow the statement to write")
    run.set_defaults(func=cmd_cypher)

    events = sub.add_parser("events", help="the append-only event log")
    esub = events.add_subparsers(dest="events_command", required=True)
    export = esub.add_parser("export", help="write events as JSON Lines, oldest first")
    export.add_argument("--since", help="7d, 24h, 30m back from now, or an ISO date; default all")
    export.add_argument(
        "--type", action="append", metavar="TYPE", help="only this type (repeatable)"
    )
    export.add_argument("--out", default="-", help="a file, or - for stdout (the default)")
    export.set_defaults(func=cmd_events_export)
    replay = esub.add_parser(
        "replay",
        help="apply an exported log (or another graph's) to this graph, each event once",
    )
    replay.add_argument("file", nargs="?", help="a `vendr events export` file, or - for stdin")
    replay.add_argument(
        "--from", dest="source", metavar="GRAPH_URL", help="read the log of this graph instead"
    )
    replay.add_argument("--from-graph", help="its graph (FalkorDB) or database (Neo4j) name")
    replay.add_argument("--from-user", help="its Neo4j user (password: VENDR_FROM_PASSWORD)")
    replay.add_argument(
        "--blobs-from",
        metavar="DIR",
        help="the source's blob dir (DATA_DIR/blobs): the photos the events name are copied",
    )
    replay.add_argument(
        "--entity", metavar="ID", help="only this account (or listing...) and its own events"
    )
    replay.add_argument(
        "--related",
        action="store_true",
        help="with --entity: also what it touches (its deals' listings, rooms, the other parties)",
    )
    replay.set_defaults(func=cmd_events_replay)
    dump = esub.add_parser(
        "dump", help="the graph's facts as sorted JSON Lines: equal dumps, equal marketplaces"
    )
    dump.add_argument("--out", default="-", help="a file, or - for stdout (the default)")
    dump.add_argument(
        "--no-activity",
        action="store_true",
        help="leave out views, passes, logins and read markers (what retention purges)",
    )
    dump.set_defaults(func=cmd_events_dump)
    mirror = esub.add_parser(
        "mirror", help="the streaming mirror of a sample of accounts (VENDR_MIRROR_GRAPH_URL)"
    )
    mirror.add_argument("action", choices=["status", "stop", "start"])
    mirror.set_defaults(func=cmd_events_mirror)

    lab = sub.add_parser("lab", help="JupyterLab on the analysts' notebooks, database started")
    lab.add_argument("--dir", default="notebooks", help="the notebooks' folder")
    lab.add_argument("--port", type=int, default=8888, help="its port (next free if taken)")
    lab.add_argument("--no-browser", action="store_true")
    lab.set_defaults(func=cmd_lab)

    nbs = sub.add_parser("notebooks", help="the analysts' notebooks")
    nsub = nbs.add_subparsers(dest="notebooks_command", required=True)
    nrun = nsub.add_parser("run", help="execute every notebook; write .ipynb and .html reports")
    nrun.add_argument("--dir", default="notebooks", help="the notebooks' folder")
    nrun.add_argument("--out", default="var/notebooks", help="where the reports go")
    nrun.add_argument("--demo", action="store_true", help="load demo data when the graph is empty")
    nrun.set_defaults(func=cmd_notebooks_run)
    seed = sub.add_parser("seed", help="load a deterministic synthetic marketplace")
    seed.add_argument("--users", type=int, default=1000)
    seed.add_argument("--products", type=int, default=10_000)
    seed.add_argument("--interactions", type=int, default=100_000)
    seed.add_argument("--seed", type=int, default=1)
    seed.add_argument("--force", action="store_true", help="add to a graph that has users")
    seed.set_defaults(func=cmd_seed)

    pay = sub.add_parser(
        "payments", help="owed provider calls; the local payment provider (VENDR_ENV=dev)"
    )
    psub = pay.add_subparsers(dest="payments_command", required=True)
    for outcome, text in (("succeed", "pay"), ("fail", "have the card declined for")):
        one = psub.add_parser(outcome, help=f"{text} a payment (Vendr's payment id)")
        one.add_argument("payment_id")
        one.set_defaults(func=cmd_payments, outcome=outcome)
    money.add_parsers(sub, psub)

    work = sub.add_parser(
        "worker", help="run the background process alone: sweeper and deal timers (Ctrl-C stops)"
    )
    work.set_defaults(func=cmd_worker)

    moderation.add_parsers(sub)
    blobs.add_parsers(sub)
    feed.add_parsers(sub)
    experiments.add_parsers(sub)

    jobs = sub.add_parser("jobs", help="background upkeep")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True)
    once = jsub.add_parser(
        "run-once", help="one full upkeep round (expire, purge, hype, feed pools), then exit"
    )
    once.set_defaults(func=cmd_jobs)
    return p


def settings_refused(exc: ValidationError) -> str:
    """What is wrong with the environment's settings, without the values (a password or a
    key may be among them)."""
    lines = []
    for error in exc.errors():
        where = "VENDR_" + "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if error["loc"] else message)
    return "vendr: refusing to start: " + "; ".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(settings_refused(exc), file=sys.stderr)
        return 2
    try:
        return int(args.func(args, settings))
    except StartRefused as exc:
        print(f"vendr: refusing to start: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the CLI's one outer boundary: a message, not a traceback
        from graph.bootstrap import NotRunning
        from graph.infra.errors import DomainError, StoreError

        if isinstance(
            exc,
            NotRunning
            | DomainError
            | StoreError
            | embedded.EmbeddedError
            | neo4j_local.Neo4jError
            | OSError,
        ):
            print(f"vendr: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
