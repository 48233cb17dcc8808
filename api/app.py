"""The Sanic app factory. Nothing connects at import time: listeners build and close services."""

from __future__ import annotations

import contextlib
import gc
import threading
from urllib.parse import unquote

import orjson
from sanic import Request, Sanic
from sanic.log import logger
from sanic.response import HTTPResponse

from api import errors, graphql, headers, models, pages
from api.auth import client_ip
from api.contract import openapi
from api.contract import routes as contract
from api.errors import problem
from api.realtime import Hub, SocketCaps
from api.routes import blueprints
from graph import worker
from graph.bootstrap import Services, bootstrap, shutdown
from graph.infra.settings import Settings


def _dumps(value: object) -> str:
    """orjson for responses: the browse pages are most of what the API serialises."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_app(
    settings: Settings | None = None, *, name: str = "vendr", ensure_schema: bool = True
) -> Sanic:
    """`ensure_schema=False`: whoever starts the workers has made the schema already."""
    settings = settings or Settings()
    app = Sanic(name, dumps=_dumps)
    app.config.REQUEST_MAX_SIZE = settings.max_request_bytes
    # a client's socket frames are read only for the auth frame: no frame needs more room
    # than a JSON body has (the protocol closes with 1009 past it, before anything is parsed)
    app.config.WEBSOCKET_MAX_SIZE = settings.max_json_bytes
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # the contract is built by api.contract.openapi from the route table and the models
    # (sanic-ext's own document inlined nested models under unresolvable `$defs`)
    app.config.OAS = False
    app.config.CORS = False
    app.ctx.settings = settings
    for bp in (*blueprints(settings), contract.bp):
        app.blueprint(bp)
    graphql.mount(app, settings)
    errors.install(app)
    headers.install(app)

    @app.before_server_start
    async def start_services(app: Sanic) -> None:
        # services handed in by the caller (tests) are theirs to close
        if getattr(app.ctx, "services", None) is None:
            app.ctx.services = await bootstrap(settings, ensure_schema=ensure_schema)
            app.ctx.owns_services = True
        if getattr(app.ctx, "hub", None) is None:
            app.ctx.hub = Hub(app.ctx.services.redis)
            app.ctx.socket_caps = SocketCaps()
        if getattr(app.ctx, "owns_services", False):
            # the browse planner's sample costs one scan: take it before the first request does
            app.add_task(app.ctx.services.browse.warm(), name="warm-browse")
        # resolved tokens are held only while this worker hears every revocation
        app.add_task(app.ctx.services.sessions.follow(), name="token-revocations")

    pages.install(app)  # after the services: the page cache leans on them

    @app.after_server_start
    async def freeze_startup_objects(app: Sanic) -> None:
        """What starting made (modules, routes, models, the OpenAPI document, services) lives
        as long as the worker: out of the cyclic collector's way (`gc.freeze`), or each full
        collection walks it all again and stalls whatever request is running (hundreds of ms
        on a page rendered with the cache off, measured). Served over ASGI (the tests start
        the app for each test) it is left to the host."""
        if app.asgi:
            return
        gc.collect()
        gc.freeze()

    @app.main_process_ready
    async def start_background(app: Sanic) -> None:
        """The sweeper and deal timers run in a process of their own (`vendr worker`), managed
        with the HTTP workers: a pools rebuild no longer runs in a loop serving requests."""
        if settings.background == "on":
            app.manager.manage(
                "vendr-worker",
                worker.managed,
                {"settings": settings.model_dump(mode="json"), "ensure_schema": ensure_schema},
            )

    @app.main_process_ready
    async def watch_workers(app: Sanic) -> None:
        """An HTTP worker that dies (kill -9, the OOM killer) is started again: Sanic's manager
        only records that it failed, and the server would go on at reduced strength."""
        stopping = app.ctx.workers_watch = threading.Event()
        manager = app.manager

        def watch() -> None:
            restarted: dict[str, int | None] = {}
            while not stopping.wait(1.0):
                if manager._shutting_down:  # a worker that ends now was told to
                    continue
                for process in list(manager.transient_processes):
                    dead = not process.is_alive() and process.exitcode not in (None, 0)
                    if dead and restarted.get(process.name) != process.pid:
                        restarted[process.name] = process.pid  # once per dead process
                        logger.warning(
                            "worker %s died (%s); restarting it", process.name, process.exitcode
                        )
                        manager.monitor_publisher.send(f"{process.name}:")

        threading.Thread(target=watch, name="vendr-watch-workers", daemon=True).start()

    @app.main_process_stop
    async def stop_watching(app: Sanic) -> None:
        with contextlib.suppress(AttributeError):
            app.ctx.workers_watch.set()

    @app.before_server_stop
    async def stop_background(app: Sanic) -> None:
        # end background tasks while the loop still runs: a task Sanic has to cancel later,
        # in its shutdown, can leave the worker spinning
        with contextlib.suppress(Exception):
            await app.cancel_task("warm-browse", raise_exception=False)
        with contextlib.suppress(Exception):
            await app.cancel_task("token-revocations", raise_exception=False)
        app.purge_tasks()
        hub: Hub | None = getattr(app.ctx, "hub", None)
        if hub is not None:
            await hub.close()
            app.ctx.hub = None

    @app.after_server_stop
    async def stop_services(app: Sanic) -> None:
        services: Services | None = getattr(app.ctx, "services", None)
        if services is not None and getattr(app.ctx, "owns_services", False):
            await shutdown(services)
            app.ctx.services = None

    @app.on_request
    async def limit_reads(request: Request) -> None:
        """Reads per client address (writes have their own per-person limits in the routes):
        anonymous browsing is the cheapest way to make the server work."""
        if request.method not in ("GET", "HEAD") or not request.path.startswith("/v1/"):
            return
        route = request.route
        if route is not None:
            spec = openapi.SPECS.get(route.handler)
            if route.extra.websocket or (spec is not None and not spec.limited):
                return  # the socket has its own caps; the probes are declared unlimited
        rule = "image_ip" if request.path.startswith("/v1/images/") else "read_ip"
        await app.ctx.services.limiter.hit(rule, client_ip(request))

    if settings.images_base_url:

        @app.on_request
        async def images_on_cdn(request: Request) -> None:
            """Image URLs in this request's answers point at the CDN (api.models.image_url)."""
            models.images_base.set(settings.images_base_url.rstrip("/"))

    @app.on_request
    async def refuse_nul(request: Request) -> HTTPResponse | None:
        if "\x00" in unquote(request.path) or "\x00" in unquote(request.query_string):
            return problem(422, "Invalid input", "the URL must not contain NUL bytes")
        return None

    @app.on_request
    async def websocket_token(request: Request) -> HTTPResponse | None:
        """A token in the WebSocket URL is checked before the upgrade: a bad one never connects."""
        token = request.args.get("token") if request.path == "/v1/ws" else None
        if token and not await app.ctx.services.sessions.resolve(token):
            return problem(401, "Unauthorized", "the token is not valid")
        return None

    return app
