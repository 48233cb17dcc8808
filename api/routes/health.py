from __future__ import annotations

import asyncio
import secrets

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from api.auth import services
from api.contract import openapi
from api.contract.openapi import PROBLEM
from api.errors import problem

bp = Blueprint("health", url_prefix="/v1")

# names the worker process that answered: shows how a load balancer spreads requests
WORKER = secrets.token_hex(4)
ALIVE = {
    "type": "object",
    "properties": {"status": {"const": "ok"}, "worker": {"type": "string"}},
    "required": ["status", "worker"],
}
READY = {
    "type": "object",
    "properties": {
        "status": {"const": "ready"},
        "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
    },
    "required": ["status", "checks"],
}


@bp.get("/heartbeat")
@openapi.summary("Liveness: the process answers")
@openapi.unlimited()
@openapi.response(200, {"application/json": ALIVE})
async def heartbeat(request: Request) -> HTTPResponse:
    return json({"status": "ok", "worker": WORKER})


@bp.get("/ready")
@openapi.summary("Readiness: the graph and Redis are reachable")
@openapi.unlimited()
@openapi.response(200, {"application/json": READY})
@openapi.response(503, PROBLEM, "the graph or Redis does not answer")
async def ready(request: Request) -> HTTPResponse:
    svc = services(request)
    graph_ok = await svc.store.ping()
    try:
        redis_ok = bool(await asyncio.wait_for(svc.redis.ping(), timeout=2))
    except (OSError, TimeoutError, ConnectionError):
        redis_ok = False
    except Exception:  # redis raises its own hierarchy; any failure means not ready
        redis_ok = False
    checks = {"graph": graph_ok, "redis": redis_ok}
    if all(checks.values()):
        return json({"status": "ready", "checks": checks})
    return problem(503, "Service unavailable", f"not ready: {checks}")
