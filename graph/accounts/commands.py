"""What a caller asks of accounts: small frozen records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from graph.infra.geo import Place

Kind = Literal["person", "business"]


@dataclass(frozen=True)
class Signup:
    email: str
    password: str
    display_name: str
    kind: Kind = "person"
    handle: str | None = None
    phone: str | None = None
    shop_name: str | None = None


@dataclass(frozen=True)
class Login:
    password: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class UpdateProfile:
    user_id: str
    display_name: str | None = None
    handle: str | None = None
    bio: str | None = None
    city: str | None = None
    location: Place | None = None
    show_city: bool | None = None
    shop_name: str | None = None
