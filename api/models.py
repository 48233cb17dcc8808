"""The building blocks every resource's models share: text checked as sent against the
contract's own patterns, then folded or trimmed; places, money, currencies; the base classes
of bodies and queries; the problem document. Separate from stored entities: no hash or email
can leak by accident, and no client can set an id, owner or status by sending it."""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from graph.accounts.lifecycle import e164
from graph.catalog.tags import MAX_TAG_LENGTH, TAG_SENT
from graph.infra.errors import DomainError
from graph.infra.geo import public_place
from graph.infra.text import HIDDEN, SPACE, fold, strip_spaces

# an address: no spaces or control characters, one `@`, a dot in the domain; as sent, spaces
# around it and capitals are folded away before it is checked (graph.infra.text: the same classes
# for Python and for the contract's ECMA regular expressions)
_ADDRESS = f"[^@{SPACE}\\x00-\\x1f\\x7f]"


EMAIL_SENT = f"^[{SPACE}]*{_ADDRESS}{{1,64}}@{_ADDRESS}+\\.{_ADDRESS}+[{SPACE}]*$"


# ASCII letters in either case (checked before folding: `str.lower` turns the Kelvin sign
# into a `k`)
HANDLE_SENT = f"^[{SPACE}]*[A-Za-z0-9_]{{3,30}}[{SPACE}]*$"


def _sent_as(pattern: str, message: str, max_length: int | None = None) -> BeforeValidator:
    """Checks the text as sent against the contract's pattern (and length), then folds it."""

    def check(value: object) -> object:
        if not isinstance(value, str):
            return value
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"at most {max_length} characters")
        if not re.fullmatch(pattern, value):
            raise ValueError(message)
        return fold(value)

    return BeforeValidator(check)


Email = Annotated[
    str,
    _sent_as(EMAIL_SENT, "not an email address", max_length=254),
    WithJsonSchema({"type": "string", "maxLength": 254, "pattern": EMAIL_SENT}),
]


def _e164(value: object) -> object:
    """Phone numbers in any common writing (`+32 470 12 34 56`) become E.164, or fail."""
    if not isinstance(value, str):
        return value
    try:
        return e164(value.strip())
    except DomainError as exc:
        raise ValueError(exc.detail) from exc


Phone = Annotated[
    str,
    StringConstraints(max_length=40),
    AfterValidator(_e164),
]


Handle = Annotated[
    str,
    _sent_as(HANDLE_SENT, "a handle is 3-30 letters, digits and underscores"),
    WithJsonSchema({"type": "string", "pattern": HANDLE_SENT}),
]


Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


def _trim(value: str) -> str:
    return strip_spaces(value)


def _trim_nonblank(value: str) -> str:
    text = strip_spaces(value)
    if not text:
        raise ValueError("must not be blank")
    return text


# free text: the length is checked as sent, then spaces around it are trimmed (graph.infra.text,
# the same spaces the contract's patterns name); NONBLANK also refuses a text of spaces only
TRIMMED = AfterValidator(_trim)


NONBLANK = AfterValidator(_trim_nonblank)


def nonblank_schema(max_length: int) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": f"^[^\\x00]*[^\\x00{SPACE}][^\\x00]*$",
        }
    )


def _visible(value: object) -> object:
    """Names show as what they say: no control characters, no invisible or direction-changing
    ones (zero-width spaces and joiners, bidi overrides and isolates, the BOM: Unicode's Cc
    and Cf), with which a name can pass for another or hide what follows it."""
    if isinstance(value, str):
        hidden = sorted(
            {f"U+{ord(c):04X}" for c in value if unicodedata.category(c) in ("Cc", "Cf")}
        )
        if hidden:
            raise ValueError(
                f"invisible or control characters are not allowed ({', '.join(hidden)})"
            )
    return value


def visible_schema(max_length: int) -> WithJsonSchema:
    """The contract's view of a name: no control or invisible characters anywhere, and
    something besides whitespace (which is stripped)."""
    return WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": f"^[^{HIDDEN}]*[^{SPACE}{HIDDEN}][^{HIDDEN}]*$",
        }
    )


Name = Annotated[
    str,
    BeforeValidator(_visible),
    StringConstraints(max_length=80),
    NONBLANK,
    visible_schema(80),
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _whole(cls, value: object) -> object:
        """JSON has one number type: 2.0 is the integer 2 to JSON Schema, so it is to us too
        (strict mode refuses every float where an integer is wanted; a float field takes
        the integer as it is)."""
        return int(value) if isinstance(value, float) and value.is_integer() else value


class PlaceIO(Input):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = None


CURRENCIES = frozenset(
    "EUR USD GBP CHF SEK NOK DKK ISK PLN CZK HUF RON BGN TRY UAH CAD AUD NZD JPY CNY HKD SGD "
    "KRW INR IDR THB MYR PHP VND BRL MXN ARS CLP COP PEN ZAR NGN KES EGP MAD ILS AED SAR".split()
)


# checked against the list by the models (with a message naming the currency); the contract
# names the list
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    WithJsonSchema({"type": "string", "enum": sorted(CURRENCIES)}),
]


# normalised by graph.catalog.tags (checked there, with a message naming the tag); the
# contract shows what is accepted as sent
TagText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": TAG_SENT}
    ),
]


Condition = Literal["new", "used", "not_specified"]


MAX_AMOUNT = 10**10  # minor units: a hundred million in any currency, more than any listing


# `lat,lon` in degrees as written in a query string: the ranges are in the pattern, so the
# contract and the parser agree on every string (the contract shows this, not the place)
_LAT = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"


_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"


NEAR_PATTERN = f"^[{SPACE}]*({_LAT})[{SPACE}]*,[{SPACE}]*({_LON})[{SPACE}]*$"


NEAR_TEXT = {
    "type": "string",
    "pattern": NEAR_PATTERN,
    "description": "lat,lon in degrees",
    "examples": ["52.37,4.89"],
}


def _near(value: object) -> object:
    """`near=52.37,4.89` into a place."""
    if isinstance(value, str):
        found = re.fullmatch(NEAR_PATTERN, value)
        if found is None:
            raise ValueError("near is `lat,lon` in degrees (-90..90, -180..180)")
        return {"lat": float(found[1]), "lon": float(found[2])}
    return value


Near = Annotated[PlaceIO, BeforeValidator(_near), WithJsonSchema(NEAR_TEXT)]


class Query(BaseModel):
    """Query strings arrive as text: these models convert, and refuse unknown parameters."""

    model_config = ConfigDict(extra="forbid")


# a page cursor is opaque (sealed by the server, graph.infra.cursors): hand back `next_cursor`
Cursor = Annotated[
    str,
    StringConstraints(max_length=512, pattern=r"^[A-Za-z0-9_-]+$"),
    Field(description="the `next_cursor` of the page before, as it came"),
]


class PageQuery(Query):
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


EntityId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


Note = Annotated[str, StringConstraints(max_length=2000), NONBLANK, nonblank_schema(2000)]


class Money(BaseModel):
    amount: int
    currency: str


# VENDR_IMAGES_BASE_URL, a CDN in front of the bucket: set for each request by the app
# (api.app), so every answer built in it, REST or GraphQL, points its image URLs there
images_base: ContextVar[str] = ContextVar("images_base", default="")


def image_url(image_id: str | None, *, thumb: bool = False) -> str | None:
    """The API's own URL of an image, or with a CDN base the content-addressed object's
    (`<base>/<sha256>`, `.thumb`), which never changes."""
    if not image_id:
        return None
    if base := images_base.get():
        return f"{base}/{image_id}" + (".thumb" if thumb else "")
    return f"/v1/images/{image_id}" + ("?size=thumb" if thumb else "")


def place(value: dict[str, float] | None) -> dict[str, float] | None:
    if not value:
        return None
    return {"lat": round(value["latitude"], 6), "lon": round(value["longitude"], 6)}


def listing_place(row: dict[str, Any], *, owner: bool = False) -> dict[str, float] | None:
    """Where a listing is shown: its public place, a grid cell's centre (graph.infra.geo), and
    nowhere at all when the seller keeps their city to themselves; to its owner, the point
    they gave."""
    if owner:
        return place(row.get("location"))
    if not row.get("seller_shows_place", True):
        return None
    stored = row.get("place")
    if stored:
        return {"lat": round(stored["latitude"], 5), "lon": round(stored["longitude"], 5)}
    location = row.get("location")  # listed before places were stored: the sweeper adds one
    if not location:
        return None
    lat, lon = public_place(location["latitude"], location["longitude"])
    return {"lat": lat, "lon": lon}
