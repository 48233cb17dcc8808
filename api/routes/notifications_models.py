"""Notifications, their settings, and saved searches."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from api.models import (
    CURRENCIES,
    MAX_AMOUNT,
    NONBLANK,
    Condition,
    Currency,
    Cursor,
    Input,
    Name,
    PlaceIO,
    Query,
    TagText,
    nonblank_schema,
)

# ---- notifications, saved searches, verification, the account lifecycle, socials ----------

NotificationKind = Literal["message", "offer", "order", "saved", "search", "review", "account"]


class NotificationOut(BaseModel):
    id: str
    kind: NotificationKind
    type: str
    title: str
    body: str
    link: str | None
    data: dict[str, object]
    created_at: str
    read_at: str | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    unread: int
    next_cursor: str | None


class NotificationsQuery(Query):
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    unread: bool = Field(False, description="only the unread ones")


NotificationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


SearchText = Annotated[str, StringConstraints(max_length=200), NONBLANK, nonblank_schema(200)]


class NotificationsReadIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            # ids, or all: true
            "if": {"required": ["all"], "properties": {"all": {"const": True}}},
            "then": {"properties": {"ids": {"type": "null"}}},
            "else": {"required": ["ids"], "properties": {"ids": {"type": "array"}}},
        },
    )
    ids: Annotated[list[NotificationId], Field(max_length=100)] | None = None
    all: bool = False

    @model_validator(mode="after")
    def one_way(self) -> NotificationsReadIn:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true")
        return self


class UnreadOut(BaseModel):
    unread: int


class ChannelSwitches(BaseModel):
    app: bool
    email: bool
    sms: bool


class ChannelPatch(Input):
    app: bool | None = None
    email: bool | None = None
    sms: bool | None = None


class NotificationSettings(BaseModel):
    message: ChannelSwitches
    offer: ChannelSwitches
    order: ChannelSwitches
    saved: ChannelSwitches
    search: ChannelSwitches
    review: ChannelSwitches


class NotificationSettingsPatch(Input):
    message: ChannelPatch | None = None
    offer: ChannelPatch | None = None
    order: ChannelPatch | None = None
    saved: ChannelPatch | None = None
    search: ChannelPatch | None = None
    review: ChannelPatch | None = None


class SearchIn(Input):
    name: Name | None = None
    q: SearchText | None = None
    tags: Annotated[list[TagText], Field(max_length=10)] = []
    near: PlaceIO | None = None
    radius_km: Annotated[float, Field(gt=0, le=200)] | None = None
    min_price: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None
    max_price: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None
    currency: Currency | None = None
    condition: Condition | None = None

    # something to watch (a null is as good as leaving the field out), and a radius only
    # around a place
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "allOf": [
                {  # tags, else words, else a place
                    "if": {"required": ["tags"], "properties": {"tags": {"minItems": 1}}},
                    "else": {
                        "if": {"required": ["q"], "properties": {"q": {"type": "string"}}},
                        "else": {"required": ["near"], "properties": {"near": {"type": "object"}}},
                    },
                },
                {
                    "if": {
                        "required": ["radius_km"],
                        "properties": {"radius_km": {"type": "number"}},
                    },
                    "then": {"required": ["near"], "properties": {"near": {"type": "object"}}},
                },
            ],
        },
    )

    @model_validator(mode="after")
    def sensible(self) -> SearchIn:
        if self.currency is not None and self.currency not in CURRENCIES:
            raise ValueError(f"unsupported currency {self.currency}")
        if self.radius_km is not None and self.near is None:
            raise ValueError("radius_km needs near")
        if not (self.tags or self.q is not None or self.near is not None):
            raise ValueError("a saved search needs tags, words or a place to watch")
        return self


class SearchPlace(BaseModel):
    lat: float
    lon: float
    radius_km: float


class SearchOut(BaseModel):
    id: str
    name: str | None
    q: str | None
    tags: list[str]
    place: SearchPlace | None
    min_price: int | None
    max_price: int | None
    currency: str | None
    condition: Condition | None
    created_at: str


class SearchList(BaseModel):
    items: list[SearchOut]
