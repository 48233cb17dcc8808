"""The OpenAPI document (`/docs/openapi.json`) and a page to read it (`/docs`)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, json

from api.docs import document

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


@bp.get("/openapi.json")
async def spec(request: Request) -> HTTPResponse:
    app = request.app
    built = getattr(app.ctx, "openapi", None)
    if built is None:
        built = app.ctx.openapi = document(app, title=TITLE, version=VERSION, summary_text=SUMMARY)
    return json(built)


@bp.get("/")
async def page(request: Request) -> HTTPResponse:
    return html(REDOC)
