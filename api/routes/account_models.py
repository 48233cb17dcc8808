"""The account lifecycle: verification codes, password reset and change, deletion, socials."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    StringConstraints,
    WithJsonSchema,
)

from api.models import (
    NONBLANK,
    Email,
    Input,
    Password,
    Phone,
    Query,
    _sent_as,
    _visible,
    visible_schema,
)
from graph.infra.text import SPACE


class VerifyIn(Input):
    phone: Phone | None = None


class CodeSent(BaseModel):
    channel: Literal["email", "phone"]
    sent_to: str
    expires_in: int


CODE_SENT = f"^[{SPACE}]*[0-9]{{6}}[{SPACE}]*$"


Code = Annotated[
    str,
    _sent_as(CODE_SENT, "the code is six digits"),
    WithJsonSchema({"type": "string", "pattern": CODE_SENT}),
]


class CodeIn(Input):
    code: Code


class ResetIn(Input):
    email: Email


class ResetConfirmIn(Input):
    email: Email
    code: Code
    password: Password


class PasswordChangeIn(Input):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    password: Password


class DeleteAccountIn(Input):
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


# the lists come from the settings: the contract names them (api.docs, `x-choices`)
Provider = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9_]{1,30}$"),
    WithJsonSchema({"type": "string", "x-choices": "provider"}),
]


SocialHandle = Annotated[
    str,
    BeforeValidator(_visible),
    StringConstraints(max_length=100),
    NONBLANK,
    visible_schema(100),
]


class SocialIn(Input):
    provider: Provider
    handle: SocialHandle


class SocialVerifyIn(Input):
    state: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    code: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class SocialOut(BaseModel):
    provider: str
    handle: str
    verified: bool
    verified_at: str | None


class SocialLinkOut(SocialOut):
    verify_url: str
    state: str


class SocialList(BaseModel):
    items: list[SocialOut]


class DevAuthorizeQuery(Query):
    state: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    handle: SocialHandle


class DevCode(BaseModel):
    code: str
    state: str
