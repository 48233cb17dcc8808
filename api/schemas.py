"""Request and response models. Separate from stored entities: no hash or email can leak by
accident, and no client can set an id, owner or status by sending it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
HANDLE_PATTERN = r"^[a-z0-9_]{3,30}$"


def _folded(value: object) -> object:
    """Emails and handles compare case-insensitively: fold before the pattern is checked."""
    return value.strip().lower() if isinstance(value, str) else value


Email = Annotated[
    str, BeforeValidator(_folded), StringConstraints(max_length=254, pattern=EMAIL_PATTERN)
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=PHONE_PATTERN)]
Handle = Annotated[str, BeforeValidator(_folded), StringConstraints(pattern=HANDLE_PATTERN)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Bio = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
City = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PlaceIO(Input):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]

    model_config = ConfigDict(extra="forbid", strict=False)  # JSON integers are valid degrees


class SignupIn(Input):
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
    email: Email | None = None
    phone: Phone | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def one_identifier(self) -> LoginIn:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give either email or phone")
        return self


class ProfilePatch(Input):
    display_name: Name | None = None
    handle: Handle | None = None
    bio: Bio | None = None
    city: City | None = None
    location: PlaceIO | None = None
    show_city: bool | None = None
    shop_name: Name | None = None


class Trust(BaseModel):
    score: int
    components: dict[str, float]


class Shop(BaseModel):
    id: str
    name: str
    verified: bool


class UserPublic(BaseModel):
    id: str
    handle: str
    display_name: str
    kind: Literal["person", "business"]
    bio: str
    city: str | None
    created_at: str
    avatar_url: str | None
    shop: Shop | None
    email_verified: bool
    phone_verified: bool
    trust: Trust
    rating: dict[str, float | int | None]


class UserMe(BaseModel):
    id: str
    handle: str
    display_name: str
    kind: Literal["person", "business"]
    bio: str
    city: str | None
    location: PlaceIO | None
    show_city: bool
    created_at: str
    avatar_url: str | None
    shop: Shop | None
    email: str
    phone: str | None
    email_verified: bool
    phone_verified: bool


class AuthOut(BaseModel):
    user: UserMe
    token: str


class ImageOut(BaseModel):
    id: str
    url: str
    thumb_url: str
    width: int
    height: int


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = None
