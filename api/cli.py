"""`vendr`: serve the API, run the embedded database, run the Cypher library, export events,
open and run the analysts' notebooks, seed data, work the moderation queue, recompute trust."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from tabulate import tabulate

from api import moderation_cli
from graph.analytics import admin
from graph.bootstrap import bootstrap, make_store, shutdown
from graph.infra import embedded
from graph.infra.settings import Settings


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


def _notebook_env(settings: Settings) -> dict[str, str]:
    """The environment a notebook kernel inherits: the same graph this CLI was pointed at."""
    env = dict(os.environ)
    env["VENDR_DATA_DIR"] = str(settings.data_dir.resolve())
    env["VENDR_CYPHER_DIR"] = str(admin.library(settings).resolve())
    return env


def cmd_lab(args: argparse.Namespace, settings: Settings) -> int:
    """JupyterLab on notebooks/, with the embedded database up and demo data in an empty graph."""
    started = False
    if settings.embedded:
        info, started = embedded.start(settings.data_dir)
        print(f"embedded FalkorDB on 127.0.0.1:{info.port} (data in {settings.data_dir})")
    try:
        asyncio.run(_demo_if_empty(settings))
        command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            f"--notebook-dir={args.dir}",
            f"--ServerApp.port={args.port}",
        ]
        if args.no_browser:
            command.append("--no-browser")
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI boxes run as root
            print("vendr: running as root; JupyterLab is told to allow it", file=sys.stderr)
            command.append("--allow-root")
        # Ctrl-C is JupyterLab's to handle (it asks, then shuts its kernels down); this
        # process notes it (the child gets the default handler back at exec) and waits for
        # JupyterLab to finish, then ignores it until it has stopped the database and exited
        # (Python's own handler is gone while the interpreter shuts down)
        interrupted: list[int] = []
        signal.signal(signal.SIGINT, lambda signum, _: interrupted.append(signum))
        # our own interpreter and fixed arguments: nothing from outside reaches the command
        lab = subprocess.Popen(command, env=_notebook_env(settings))  # noqa: S603
        code = lab.wait()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return 0 if interrupted else code  # stopped with Ctrl-C is how a lab session ends
    finally:
        if started:
            embedded.stop(settings.data_dir)


def cmd_notebooks_run(args: argparse.Namespace, settings: Settings) -> int:
    """Execute every notebook against the configured graph and write each, with its outputs,
    as .ipynb and .html under --out (the committed notebooks stay output-free)."""
    from graph.analytics import notebooks

    os.environ.update(_notebook_env(settings))  # the kernels inherit it
    started = False
    if settings.embedded:
        _, started = embedded.start(settings.data_dir)
    try:
        if args.demo:
            asyncio.run(_demo_if_empty(settings))
        failed = 0
        for path in notebooks.all_notebooks(Path(args.dir)):
            try:
                report = notebooks.execute(path, Path(args.out))
            except notebooks.NotebookFailed as exc:
                failed += 1
                print(f"FAILED {path.name}: {exc}", file=sys.stderr)
                continue
            print(f"{path.name}: {report.seconds:.1f} s -> {report.html}")
        return 1 if failed else 0
    finally:
        if started:
            embedded.stop(settings.data_dir)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from api.app import create_app
    from api.workers import repair_startup_stop

    repair_startup_stop()
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
        if started:
            # here too: when Sanic gives up on its workers it ends the process with os._exit,
            # which skips the `finally` below, but it runs the main process's stop listeners
            @app.main_process_stop
            async def stop_database(app: Sanic) -> None:
                embedded.stop(settings.data_dir)

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


async def _payments(args: argparse.Namespace, settings: Settings) -> int:
    """The local provider's card terminal: complete (or decline) a payment, then post its
    signed webhook to the server, as Stripe would."""
    import httpx

    from graph.bootstrap import webhook_url
    from graph.payments.local import LocalProvider

    services = await bootstrap(settings)
    try:
        provider = services.payments.provider
        if not isinstance(provider, LocalProvider):
            print("vendr: payments go through Stripe; pay with the client secret", file=sys.stderr)
            return 1
        payment = await services.payments.get(args.payment_id)
        if payment["intent_id"] is None:
            print(f"vendr: payment {args.payment_id} has no intent yet", file=sys.stderr)
            return 1
        status = await provider.complete(payment["intent_id"], succeed=args.outcome == "succeed")
        url = webhook_url(settings)
        async with httpx.AsyncClient(timeout=10.0) as client:
            sent = await provider.deliver(client, url)
    finally:
        await shutdown(services)
    print(f"payment {args.payment_id}: intent {status}; {sent} webhook(s) posted to {url}")
    if not sent:  # taken by a running worker first, or refused: the worker (re)tries
        print("the webhook is left to the background worker", file=sys.stderr)
    return 0


def cmd_payments(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_payments(args, settings))


def cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    """The API's OpenAPI document, without a server (for client generators)."""
    from api.routes.contract import offline

    text = json.dumps(offline(settings), indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vendr", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API (starts the embedded database)")
    serve.add_argument("--demo", action="store_true", help="load demo data when the graph is empty")
    serve.set_defaults(func=cmd_serve)

    spec = sub.add_parser("openapi", help="print the API's OpenAPI document (no server needed)")
    spec.add_argument("--out", help="write it to this file instead")
    spec.set_defaults(func=cmd_openapi)

    db = sub.add_parser("db", help="the embedded FalkorDB server")
    db.add_argument("action", choices=["start", "stop", "status"])
    db.set_defaults(func=cmd_db)

    cypher = sub.add_parser("cypher", help="the Cypher library: admin and analysts' queries")
    csub = cypher.add_subparsers(dest="cypher_command", required=True)
    listing = csub.add_parser("list", help="every file in the library, what it answers, its params")
    listing.set_defaults(func=cmd_cypher_list)
    run = csub.add_parser("run", help="run a library file or a .cypher path; print a table")
    run.add_argument("query", metavar="NAME|FILE", help="e.g. stale_listings or ./my.cypher")
    run.add_argument(
        "--param",
        type=_param,
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

    pay = sub.add_parser("payments", help="the local payment provider (development)")
    psub = pay.add_subparsers(dest="payments_command", required=True)
    for outcome, text in (("succeed", "pay"), ("fail", "have the card declined for")):
        one = psub.add_parser(outcome, help=f"{text} a payment (Vendr's payment id)")
        one.add_argument("payment_id")
        one.set_defaults(func=cmd_payments, outcome=outcome)

    work = sub.add_parser(
        "worker", help="run the background process alone: sweeper and deal timers (Ctrl-C stops)"
    )
    work.set_defaults(func=cmd_worker)

    moderation_cli.add_parsers(sub)

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
        from graph.infra.errors import DomainError, StoreError

        if isinstance(
            exc, NotRunning | DomainError | StoreError | embedded.EmbeddedError | OSError
        ):
            print(f"vendr: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
