"""Serving: the API (with its background worker), the worker alone, the embedded database,
JupyterLab on the notebooks and running them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from functools import partial
from ipaddress import ip_address
from pathlib import Path

from graph.analytics import admin
from graph.bootstrap import bootstrap, shutdown
from graph.infra import embedded, neo4j_local
from graph.infra.settings import Settings

log = logging.getLogger("vendr.devmode")


class StartRefused(Exception):
    """A start the settings do not allow: said on stderr, exit status 2, nothing bound."""


def loopback(host: str) -> bool:
    """Only this machine can reach `host`: localhost, 127.0.0.0/8 or ::1 (a name other than
    localhost may resolve anywhere: not loopback)."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_dev_bind(settings: Settings) -> None:
    """Dev mode's shortcuts let anyone who reaches the server verify any social handle and pay
    with the local terminal: on a network address only when the operator says so by name."""
    if settings.dev and not loopback(settings.host) and not settings.allow_dev_on_network:
        raise StartRefused(
            f"VENDR_ENV=dev serves its development shortcuts on loopback only, not on "
            f"{settings.host}: set VENDR_HOST=127.0.0.1, or VENDR_ALLOW_DEV_ON_NETWORK=1 to "
            "expose them knowingly (never in production)"
        )


def check_demo(settings: Settings, asked: bool) -> None:
    if asked and not settings.dev:
        raise StartRefused(
            "--demo loads demo accounts with a published password: a development shortcut, "
            "only with VENDR_ENV=dev"
        )


def warn_dev_mode(settings: Settings, *, serving: bool) -> None:
    """Once per start (the main process, not each worker), naming every shortcut that is on.
    Before any logging is configured Python's last-resort handler prints it on stderr."""
    if not settings.dev:
        return
    where = f" on {settings.host}:{settings.port}" if serving else ""
    if serving and not loopback(settings.host):
        where += " (a network address: VENDR_ALLOW_DEV_ON_NETWORK is set)"
    shortcuts = "".join(f"\n  - {item}" for item in settings.dev_shortcuts())
    log.warning(
        "DEV MODE (VENDR_ENV=dev)%s: development shortcuts are ON, never use this in production:%s",
        where,
        shortcuts,
    )


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "copy":
        from api.cli.library import copy_graph

        return copy_graph(args, settings)
    if args.neo4j:
        return _neo4j(args.action, settings)
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


def _neo4j(action: str, settings: Settings) -> int:
    """A local Neo4j Community for the data dir, and the embedded server beside it for Redis
    (sessions, limits, caches): what `make run` needs to serve on Neo4j."""
    if action == "stop":
        stopped = neo4j_local.stop(settings.data_dir)
        embedded.stop(settings.data_dir)
        print("stopped" if stopped else "not running")
        return 0
    if action == "status":
        found = neo4j_local.recorded(settings.data_dir)
        print(f"running: pid {found.pid}, {found.url}" if found else "not running")
        return 0 if found else 1
    redis, _ = embedded.start(settings.data_dir)
    info, started = neo4j_local.start(settings.data_dir)
    print(f"{'started' if started else 'already running'}: Neo4j, pid {info.pid}, {info.url}")
    print("serve on it (the password is also in DATA_DIR/neo4j/password):")
    print(
        f"  export VENDR_GRAPH_URL={info.url} VENDR_NEO4J_PASSWORD={info.password} "
        f"VENDR_REDIS_URL={redis.url}"
    )
    return 0


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
        if not settings.dev:
            print(
                "vendr: no demo data: it is a development shortcut (VENDR_ENV=dev, as `make lab` "
                "sets it); the notebooks see the graph as it is",
                file=sys.stderr,
            )
        asyncio.run(_prepare(settings, demo=settings.dev))
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

    check_demo(settings, args.demo)
    os.environ.update(_notebook_env(settings))  # the kernels inherit it
    started = False
    if settings.embedded:
        _, started = embedded.start(settings.data_dir)
    try:
        if args.demo:
            asyncio.run(_prepare(settings, demo=True))
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

    check_demo(settings, args.demo)
    check_dev_bind(settings)
    warn_dev_mode(settings, serving=True)
    repair_startup_stop()
    started = False
    if settings.embedded:
        info, started = embedded.start(settings.data_dir)
        print(f"embedded FalkorDB on 127.0.0.1:{info.port} (data in {settings.data_dir})")
    try:
        # the schema once, here, before any worker starts: each would otherwise create it
        # again, a minute on a cold Neo4j, and Sanic gives a worker 30 s to come up
        asyncio.run(_prepare(settings, demo=args.demo))
        loader = AppLoader(factory=partial(create_app, settings, ensure_schema=False))
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


async def _prepare(settings: Settings, *, demo: bool) -> None:
    """The graph's schema, and the demo data when asked for and the graph is empty."""
    services = await bootstrap(settings)
    try:
        if demo:
            from seeds.loader import load_demo_if_empty

            await load_demo_if_empty(services)
    finally:
        await shutdown(services)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from graph import worker

    warn_dev_mode(settings, serving=False)
    worker.main(settings)
    return 0
