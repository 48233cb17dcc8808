from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from api.auth import authenticated, client_ip, services
from api.contract import openapi, refusals
from api.contract.openapi import PROBLEM
from api.parsing import json_body
from api.routes import users_models
from api.routes.auth_models import AuthOut, LoginIn, SignupIn
from graph.accounts.commands import Login, Signup
from graph.accounts.sessions import session_digest

bp = Blueprint("auth", url_prefix="/v1/auth")


@bp.post("/signup")
@openapi.refuses(refusals.PHONE)
@openapi.summary("Create a person or business account; returns the user and a token")
@openapi.body({"application/json": SignupIn})
@openapi.response(201, {"application/json": AuthOut})
@openapi.response(409, PROBLEM)
@openapi.response(422, PROBLEM)
async def signup(request: Request) -> HTTPResponse:
    svc = services(request)
    await svc.limiter.hit("signup_ip", client_ip(request))
    body = json_body(request, SignupIn)
    user, token = await svc.accounts.signup(Signup(**body.model_dump()))
    return json({"user": users_models.user_me(user), "token": token}, status=201)


@bp.post("/login")
@openapi.refuses(refusals.PHONE)
@openapi.summary("Log in by email or phone")
@openapi.body({"application/json": LoginIn})
@openapi.response(200, {"application/json": AuthOut})
@openapi.response(401, PROBLEM)
@openapi.response(429, PROBLEM)
async def login(request: Request) -> HTTPResponse:
    svc = services(request)
    address = client_ip(request)
    await svc.limiter.hit("login_ip", address)
    body = json_body(request, LoginIn)
    user, token = await svc.accounts.login(Login(**body.model_dump()), address)
    return json({"user": users_models.user_me(user), "token": token})


@bp.post("/logout")
@openapi.summary("Revoke the token used for this request")
@openapi.response(204, None)
@authenticated
async def logout(request: Request) -> HTTPResponse:
    svc = services(request)
    await svc.accounts.logout(request.ctx.token)
    # sockets opened with this token close with it, on every worker
    revoked = {"type": "session.revoked", "session": session_digest(request.ctx.token)}
    await svc.notifier.publish([request.ctx.user_id], revoked)
    return empty()
