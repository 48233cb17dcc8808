"""What signing up and logging in take and answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    model_validator,
)

from api.models import Email, Handle, Input, Name, Password, Phone
from api.routes.users_models import UserMe

# strict: JSON integers are still valid degrees, but `false` is not 0


class SignupIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={  # a shop name exactly for business accounts
            "if": {"required": ["kind"], "properties": {"kind": {"const": "business"}}},
            "then": {"required": ["shop_name"], "properties": {"shop_name": {"type": "string"}}},
            "else": {"properties": {"shop_name": {"type": "null"}}},
        },
    )
    email: Email
    password: Password
    display_name: Name
    handle: Handle | None = None
    phone: Phone | None = None
    kind: Literal["person", "business"] = "person"
    shop_name: Name | None = None

    @model_validator(mode="after")
    def shop_for_business(self) -> SignupIn:
        if self.kind == "business" and not self.shop_name:
            raise ValueError("shop_name is required for a business account")
        if self.kind == "person" and self.shop_name:
            raise ValueError("shop_name is only for business accounts")
        return self


class LoginIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            # email or phone, not both (if/then/else: generated clients keep one model)
            "if": {"required": ["email"], "properties": {"email": {"type": "string"}}},
            "then": {"properties": {"phone": {"type": "null"}}},
            "else": {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
        },
    )
    email: Email | None = None
    phone: Phone | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def one_identifier(self) -> LoginIn:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give either email or phone")
        return self


class AuthOut(BaseModel):
    user: UserMe
    token: str
