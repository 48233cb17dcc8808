"""The account lifecycle over HTTP: verification codes, password reset and change, account
deletion, linked social accounts."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from api.auth import authenticated, client_ip, limit_writes, services
from api.contract import openapi, refusals
from api.contract.openapi import PROBLEM
from api.parsing import json_body, query_args
from api.routes.account_models import (
    CodeIn,
    CodeSent,
    DeleteAccountIn,
    DevAuthorizeQuery,
    DevCode,
    PasswordChangeIn,
    ResetConfirmIn,
    ResetIn,
    SocialIn,
    SocialLinkOut,
    SocialList,
    SocialOut,
    SocialVerifyIn,
    VerifyIn,
)
from graph.accounts.socials import DevSocialProvider
from graph.infra.errors import NotFound

auth = Blueprint("account_auth", url_prefix="/v1/auth")
users = Blueprint("account_users", url_prefix="/v1/users/me")
# registered in dev mode only (api.routes.blueprints): production has no such path at all
dev = Blueprint("account_dev", url_prefix="/v1/dev")


@auth.post("/verify/<channel:email|phone>")
@openapi.refuses(refusals.PHONE_TO_VERIFY)
@openapi.summary("Send a 6-digit code to your email, or to a phone number (SMS)")
@openapi.description(
    "For phone, `phone` sets or changes the number to verify (E.164 after normalisation); "
    "without it the account's number is used. One code a minute, five an hour."
)
@openapi.body({"application/json": VerifyIn})
@openapi.response(202, {"application/json": CodeSent})
@openapi.response(409, PROBLEM)
@openapi.response(422, PROBLEM)
@openapi.response(429, PROBLEM)
@authenticated
async def send_code(request: Request, channel: str) -> HTTPResponse:
    svc = services(request)
    await limit_writes(request, "code_user")
    body = json_body(request, VerifyIn)
    sent = await svc.lifecycle.send_code(request.ctx.user_id, channel, body.phone)
    return json(sent, status=202)


@auth.post("/verify/<channel:email|phone>/confirm")
@openapi.refuses(refusals.CODE)
@openapi.summary("Confirm the code: the email or phone is verified")
@openapi.description(
    "A wrong code is a 422 with `attempts_left`; a code with no tries left, expired or used "
    "is a 422 asking for a new one, and a new one always works. 409 when the email changed, "
    "or another account verified the number, since the code was sent. Wrong codes are "
    "counted per client address (429 past 20 an hour)."
)
@openapi.body({"application/json": CodeIn})
@openapi.response(204, None)
@openapi.response(409, PROBLEM)
@openapi.response(422, PROBLEM)
@openapi.response(429, PROBLEM)
@authenticated
async def confirm_code(request: Request, channel: str) -> HTTPResponse:
    body = json_body(request, CodeIn)
    await services(request).lifecycle.confirm_code(
        request.ctx.user_id, channel, body.code, client_ip(request)
    )
    return empty()


@auth.post("/password/reset")
@openapi.summary("Email a reset code; the answer is the same whether the email exists or not")
@openapi.body({"application/json": ResetIn})
@openapi.response(202, None)
@openapi.response(429, PROBLEM)
async def request_reset(request: Request) -> HTTPResponse:
    svc = services(request)
    address = client_ip(request)
    await svc.limiter.hit("reset_ip", address)
    body = json_body(request, ResetIn)
    await svc.lifecycle.request_reset(body.email, address)
    return empty(status=202)


@auth.post("/password/reset/confirm")
@openapi.refuses(refusals.CODE)
@openapi.summary("Set a new password with the emailed code; every session is signed out")
@openapi.description(
    "Any code that does not work (wrong, expired, used, its tries spent) gets the same 422 "
    "(`errors.code`: `invalid`), and so does any code for an email with no account: the "
    "answer never tells whether the email has one. A code takes five wrong tries from the "
    "client address that asked for it and five from everywhere else together, so others "
    "guessing cannot void it where it was asked for; a code asked for again is new. Wrong "
    "codes are counted per client address (429 past 20 an hour)."
)
@openapi.body({"application/json": ResetConfirmIn})
@openapi.response(204, None)
@openapi.response(422, PROBLEM)
@openapi.response(429, PROBLEM)
async def confirm_reset(request: Request) -> HTTPResponse:
    svc = services(request)
    address = client_ip(request)
    await svc.limiter.hit("reset_ip", address)
    body = json_body(request, ResetConfirmIn)
    await svc.lifecycle.reset(body.email, body.code, body.password, address)
    return empty()


@auth.post("/password")
@openapi.summary("Change your password; every session is signed out, log in again")
@openapi.body({"application/json": PasswordChangeIn})
@openapi.response(204, None)
@openapi.response(403, PROBLEM)
@authenticated
async def change_password(request: Request) -> HTTPResponse:
    await limit_writes(request, "code_user")
    body = json_body(request, PasswordChangeIn)
    await services(request).lifecycle.change_password(
        request.ctx.user_id, body.current_password, body.password
    )
    return empty()


@users.delete("")
@openapi.summary("Delete your account: personal data erased, listings removed, sessions ended")
@openapi.body({"application/json": DeleteAccountIn})
@openapi.response(204, None)
@openapi.response(403, PROBLEM)
@authenticated
async def delete_me(request: Request) -> HTTPResponse:
    await limit_writes(request, "code_user")
    body = json_body(request, DeleteAccountIn)
    await services(request).lifecycle.delete_account(request.ctx.user_id, body.password)
    return empty()


@users.get("/socials")
@openapi.summary("Your linked social accounts")
@openapi.response(200, {"application/json": SocialList})
@authenticated
async def my_socials(request: Request) -> HTTPResponse:
    return json({"items": await services(request).socials.mine(request.ctx.user_id)})


@users.post("/socials")
@openapi.summary("Link a social account; sign in at `verify_url` to prove it is yours")
@openapi.body({"application/json": SocialIn})
@openapi.response(201, {"application/json": SocialLinkOut})
@openapi.response(422, PROBLEM)
@openapi.response(503, PROBLEM, "this server has no social provider configured")
@authenticated
async def link_social(request: Request) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, SocialIn)
    link = await services(request).socials.link(request.ctx.user_id, body.provider, body.handle)
    return json(link, status=201)


@users.post("/socials/<provider:str>/verify")
@openapi.refuses(refusals.SOCIAL_STATE, refusals.CODE, refusals.SOCIAL_HANDLE)
@openapi.summary("Finish the sign-in: the provider's code and the state from linking")
@openapi.body({"application/json": SocialVerifyIn})
@openapi.response(200, {"application/json": SocialOut})
@openapi.response(409, PROBLEM)
@openapi.response(422, PROBLEM)
@openapi.response(503, PROBLEM, "no social provider configured, or it is not answering")
@authenticated
async def verify_social(request: Request, provider: str) -> HTTPResponse:
    await limit_writes(request)
    body = json_body(request, SocialVerifyIn)
    link = await services(request).socials.verify(
        request.ctx.user_id, provider, body.state, body.code
    )
    return json(link)


@users.delete("/socials/<provider:str>")
@openapi.summary("Unlink a social account")
@openapi.response(204, None)
@openapi.response(404, PROBLEM)
@authenticated
async def unlink_social(request: Request, provider: str) -> HTTPResponse:
    await limit_writes(request)
    await services(request).socials.unlink(request.ctx.user_id, provider)
    return empty()


@dev.get("/socials/<provider:str>/authorize")
@openapi.query(DevAuthorizeQuery)
@openapi.summary("Development only: the stand-in provider's sign-in; returns the code")
@openapi.response(200, {"application/json": DevCode})
@openapi.response(404, PROBLEM)
@openapi.response(422, PROBLEM)
async def dev_authorize(request: Request, provider: str) -> HTTPResponse:
    provider_impl = services(request).socials.provider
    if not isinstance(provider_impl, DevSocialProvider):
        raise NotFound("the development provider is off (VENDR_SOCIAL_PROVIDER=oauth)")
    if provider not in provider_impl.providers():
        raise NotFound(f"no provider {provider!r}", errors={"provider": "unknown"})
    query = query_args(request, DevAuthorizeQuery)
    return json({"code": provider_impl.sign(provider, query.handle), "state": query.state})
