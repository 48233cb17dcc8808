"""The OpenAPI document (`/docs/openapi.json`) and a page to read it (`/docs`)."""

from __future__ import annotations

import uuid
from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, html, json

from api.contract.openapi import document
from api.routes import blueprints
from graph.accounts.socials import make_provider
from graph.infra.settings import Settings
from graph.payments.promotions import plans

bp = Blueprint("contract", url_prefix="/docs")

TITLE = "Vendr"
VERSION = "1"
SUMMARY = (
    "Graph-native second-hand and local marketplace. Errors are problem+json documents "
    "(RFC 9457) with `errors` naming each invalid field. Realtime pushes arrive on the "
    "WebSocket at `/v1/ws` (not described here: see the README)."
)

REDOC = """<!doctype html>
<html><head><title>Vendr API</title><meta charset="utf-8"></head>
<body><redoc spec-url="/docs/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"></script>
</body></html>"""


def contract(app: Sanic, settings: Settings) -> dict[str, Any]:
    """The document of `app` as configured by `settings` (its plans and social providers);
    served at /docs/openapi.json and printed by `vendr openapi`."""
    providers = make_provider(
        settings.social_provider, settings.oauth_providers, b"", settings.public_url
    ).providers()
    choices = {"plan": sorted(plans(settings))}
    if providers:  # none configured: linking answers 503, and an empty enum is no schema
        choices["provider"] = list(providers)
    return document(app, title=TITLE, version=VERSION, summary_text=SUMMARY, choices=choices)


def offline(settings: Settings) -> dict[str, Any]:
    """The document without a server (`vendr openapi`, the fuzzing tests): from the route
    table of a bare app holding the same blueprints as the served one, never started."""
    app = Sanic(f"vendr_openapi_{uuid.uuid4().hex[:6]}")
    for blueprint in (*blueprints(settings), bp):
        app.blueprint(blueprint)
    app.router.finalize()
    return contract(app, settings)


@bp.get("/openapi.json")
async def spec(request: Request) -> HTTPResponse:
    app = request.app
    built = getattr(app.ctx, "openapi", None)
    if built is None:
        built = app.ctx.openapi = contract(app, app.ctx.settings)
    return json(built)


@bp.get("/")
async def page(request: Request) -> HTTPResponse:
    return html(REDOC)
