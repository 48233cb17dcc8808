"""`vendr`: serve the API, run the embedded database, run admin Cypher files, seed data."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from tabulate import tabulate

from graph import admin, embedded
from graph.bootstrap import bootstrap, make_store, shutdown
from graph.settings import Settings


def _param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--param wants name=value, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "start":
        info, started = embedded.start(settings.data_dir)
        print(f"{'started' if started else 'already running'}: pid {info.pid}, port {info.port}")
    elif args.action == "stop":
        print("stopped" if embedded.stop(settings.data_dir) else "not running")
    else:
        running = embedded.status(settings.data_dir)
        print(f"running: pid {running.pid}, port {running.port}" if running else "not running")
        return 0 if running else 1
    return 0


def format_value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


async def _cypher(path: Path, params: dict[str, Any], write: bool, settings: Settings) -> int:
    query = admin.load(path)
    unknown = set(params) - set(query.defaults)
    if unknown:
        print(
            f"vendr: {path.name} declares no parameter {', '.join(sorted(unknown))}",
            file=sys.stderr,
        )
        return 2
    store = make_store(settings)
    try:
        rows = await store.run_text(query.text(store.dialect), query.defaults | params, write=write)
    finally:
        await store.close()
    if rows:
        headers = list(rows[0])
        print(tabulate([[format_value(r[h]) for h in headers] for r in rows], headers=headers))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


def cmd_cypher(args: argparse.Namespace, settings: Settings) -> int:
    params = dict(args.param or [])
    return asyncio.run(_cypher(Path(args.file), params, args.write, settings))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from api.app import create_app

    started = False
    if settings.embedded:
        info, started = embedded.start(settings.data_dir)
        print(f"embedded FalkorDB on 127.0.0.1:{info.port} (data in {settings.data_dir})")
    try:
        if args.demo:
            asyncio.run(_demo_if_empty(settings))
        loader = AppLoader(factory=partial(create_app, settings))
        app = loader.load()
        app.prepare(
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            access_log=False,
        )
        Sanic.serve(primary=app, app_loader=loader)
    finally:
        if started:
            embedded.stop(settings.data_dir)
    return 0


async def _demo_if_empty(settings: Settings) -> None:
    services = await bootstrap(settings)
    try:
        from seeds.loader import load_demo_if_empty

        await load_demo_if_empty(services)
    finally:
        await shutdown(services)


async def _jobs_once(settings: Settings) -> int:
    services = await bootstrap(settings)
    try:
        report = await services.jobs.run_once(full=True)
    finally:
        await shutdown(services)
    for name, value in vars(report).items():
        print(f"{name}: {value}")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from graph import worker

    worker.main(settings)
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_jobs_once(settings))


async def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from seeds.loader import COUNT_USERS, seed

    services = await bootstrap(settings)
    try:
        if (await services.store.run(COUNT_USERS))[0]["n"] and not args.force:
            print("vendr: the graph already holds users; pass --force to add more", file=sys.stderr)
            return 1
        report = await seed(
            services,
            users=args.users,
            products=args.products,
            interactions=args.interactions,
            seed=args.seed,
        )
    finally:
        await shutdown(services)
    print(
        f"loaded {report.users} users, {report.products} listings, "
        f"{report.interactions} interactions, {report.images} photos "
        f"in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)"
    )
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_seed(args, settings))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vendr", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API (starts the embedded database)")
    serve.add_argument("--demo", action="store_true", help="load demo data when the graph is empty")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="the embedded FalkorDB server")
    db.add_argument("action", choices=["start", "stop", "status"])
    db.set_defaults(func=cmd_db)

    cypher = sub.add_parser("cypher", help="admin Cypher files")
    csub = cypher.add_subparsers(dest="cypher_command", required=True)
    run = csub.add_parser("run", help="run a .cypher file and print the result as a table")
    run.add_argument("file")
    run.add_argument(
        "--param",
        type=_param,
        action="append",
        metavar="NAME=VALUE",
        help="a $parameter; VALUE is read as JSON when it parses, else as text",
    )
    run.add_argument("--write", action="store_true", help="allow the statement to write")
    run.set_defaults(func=cmd_cypher)
    seed = sub.add_parser("seed", help="load a deterministic synthetic marketplace")
    seed.add_argument("--users", type=int, default=1000)
    seed.add_argument("--products", type=int, default=10_000)
    seed.add_argument("--interactions", type=int, default=100_000)
    seed.add_argument("--seed", type=int, default=1)
    seed.add_argument("--force", action="store_true", help="add to a graph that has users")
    seed.set_defaults(func=cmd_seed)

    work = sub.add_parser(
        "worker", help="run the background process alone: sweeper and deal timers (Ctrl-C stops)"
    )
    work.set_defaults(func=cmd_worker)

    jobs = sub.add_parser("jobs", help="background upkeep")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True)
    once = jsub.add_parser(
        "run-once", help="one full upkeep round (expire, purge, hype, feed pools), then exit"
    )
    once.set_defaults(func=cmd_jobs)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    try:
        return int(args.func(args, settings))
    except Exception as exc:  # the CLI's one outer boundary: a message, not a traceback
        from graph.bootstrap import NotRunning
        from graph.errors import DomainError, StoreError

        if isinstance(
            exc, NotRunning | DomainError | StoreError | embedded.EmbeddedError | OSError
        ):
            print(f"vendr: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
