"""What notifies whom, on which channels by default, and how each notification reads.

Kinds are what a person switches per channel in their settings. `account` (verification codes,
password reset, security notices) cannot be switched off: it goes where the code must go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graph.infra.money import money_text

CHANNELS = ("app", "email", "sms")
KINDS = ("message", "offer", "order", "saved", "search", "review")
FIXED = "account"

# enabled (kind, channel) pairs for someone who never changed their settings
DEFAULTS: frozenset[str] = frozenset(
    f"{kind}:{channel}"
    for kind, channels in {
        "message": ("app", "email"),
        "offer": ("app", "email"),
        "order": ("app", "email"),
        "saved": ("app", "email"),
        "search": ("app", "email"),
        "review": ("app", "email"),
    }.items()
    for channel in channels
)


def enabled(stored: list[str] | None) -> frozenset[str]:
    """The `kind:channel` pairs a person receives (their settings, else the defaults)."""
    return DEFAULTS if stored is None else frozenset(stored)


def as_table(pairs: frozenset[str]) -> dict[str, dict[str, bool]]:
    return {kind: {ch: f"{kind}:{ch}" in pairs for ch in CHANNELS} for kind in KINDS}


def patched(pairs: frozenset[str], changes: dict[str, dict[str, bool]]) -> list[str]:
    out = set(pairs)
    for kind, channels in changes.items():
        for channel, on in channels.items():
            (out.add if on else out.discard)(f"{kind}:{channel}")
    return sorted(out)


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    link: str | None


def parse_data(raw: str | None) -> dict[str, Any]:
    """The `data` JSON of an outbox record or notification ({} when absent or not an object)."""
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def render(item: dict[str, Any]) -> Rendered:
    """The words of one outbox item (`type`, `text`, `data`, `title` of the listing it is
    about, `room_id`, `subject_id`). Names of people are never written into a notification:
    a deleted account leaves none behind in other people's inboxes."""
    kind, type_ = item["kind"], item["type"]
    data = parse_data(item.get("data"))
    listing = item.get("title") or "a listing"
    room = f"/rooms/{item['room_id']}" if item.get("room_id") else None
    product = f"/products/{item['subject_id']}"
    if kind in ("offer", "order"):
        noun = "Offer" if kind == "offer" else "Order"
        return Rendered(f"{noun} update: {listing}", item.get("text") or type_, room)
    if type_ == "message.unread":
        count = int(data.get("count", 1))
        plural = "message" if count == 1 else "messages"
        return Rendered(
            f"{count} unread {plural} about {listing}",
            "You have a reply waiting in your conversation.",
            room,
        )
    if type_ == "saved.price_drop":
        price = money_text(int(data["price"]), str(data["currency"]))
        was = money_text(int(data["was"]), str(data["currency"]))
        return Rendered(
            f"Price drop: {listing}", f"Now {price} (was {was}), on a listing you saved.", product
        )
    if type_ == "saved.sold":
        return Rendered(f"Sold: {listing}", "A listing you saved has been sold.", product)
    if type_ == "saved.expired":
        return Rendered(f"Expired: {listing}", "A listing you saved is no longer listed.", product)
    if type_ == "search.match":
        name = data.get("search_name") or "your saved search"
        return Rendered(f"New match for {name}", f"{listing} was just listed.", product)
    if type_ == "search.digest":
        items = data.get("items", [])
        lines = "\n".join(f"- {i.get('title')} {i.get('link')}" for i in items)
        return Rendered(f"{len(items)} new listings match your saved searches", lines, None)
    if type_ == "review.received":
        order = f"/orders/{data['order_id']}" if data.get("order_id") else room
        return Rendered(
            f"You have a new review: {listing}",
            "The other side of your deal reviewed you. Write your review of them to read it: "
            "both are published together, or when the review window closes.",
            order,
        )
    if type_ == "review.published":
        order = f"/orders/{data['order_id']}" if data.get("order_id") else room
        return Rendered(
            f"Review published: {listing}",
            "A review of your deal is now public on your profile. You can reply to it once.",
            order,
        )
    if type_ in ("verify.email", "verify.phone"):
        return Rendered(
            "Your Vendr verification code",
            "Your code is {code}. It expires in 10 minutes. If you did not ask for it, "
            "ignore this message.",
            None,
        )
    if type_ == "password.reset":
        return Rendered(
            "Reset your Vendr password",
            "Your password reset code is {code}. It expires in 30 minutes and works once. "
            "If you did not ask for it, ignore this message: your password stays as it is.",
            None,
        )
    if type_ == "password.changed":
        return Rendered(
            "Your Vendr password was changed",
            "Your password was just changed and every session was signed out. If this was not "
            "you, reset your password now.",
            None,
        )
    return Rendered(type_, item.get("text") or "", None)
