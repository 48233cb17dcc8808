"""Refusals no schema can express: a request the contract's JSON Schema allows, refused
because of what is stored (whose upload an image is, the listing's currency, a code sent by
mail) or of tables the document does not carry (numbering plans, image formats).

Routes name the ones they may give (`docs.refuses`); the document lists them under the
answer's status (`x-refusals`, and in words in its description), so a client knows them
in advance and the fuzzer (tests/fuzzing.py) accepts exactly these and no other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    field: str  # the member of the problem's `errors` that names it
    reason: str  # a regular expression that member's text matches
    rule: str  # the rule, in words
    example: str  # a reason the server gives (the tests check `reason` matches it)
    status: int = 422

    def explains(self, field: str, reason: str) -> bool:
        return field == self.field and re.search(self.reason, reason) is not None

    def document(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "rule": self.rule}


CURSOR = Refusal(
    "cursor",
    r"^(malformed|other sort)$",
    "a cursor is one this server wrote, for the same sort",
    "other sort",
)
CODE = Refusal(
    "code",
    r"^(expired|wrong|invalid)$",
    "the code sent (or the provider's), unexpired, within its tries",
    "wrong",
)
IMAGE = Refusal(
    "image",
    r"^(unsupported|corrupt|too large|too many pixels)$",
    "a readable JPEG, PNG, WebP or GIF within the byte and pixel caps",
    "unsupported",
)
OWN_UPLOADS = Refusal(
    "image_ids", r"^not your upload", "images are the caller's own uploads", "not your upload: x"
)
OWN_LISTINGS = Refusal(
    "product_ids",
    r"^not your listing",
    "a collection holds the shop's own listings",
    "not your listing: x",
)
NOT_YOURSELF = Refusal("id", r"^(yourself|your own)$", "not about yourself", "yourself")
NOT_OWN_LISTING = Refusal("product_id", r"^your own$", "not your own listing", "your own")
PHONE = Refusal(
    "phone",
    r"^(not a phone number|not a valid phone number|invalid number)",
    "a number valid in its country's numbering plan",
    "not a valid phone number for its country",
)
PHONE_TO_VERIFY = Refusal(
    "phone",
    r"^(not a phone number|not a valid phone number|invalid number|required$)",
    "a valid number, given here or on the profile",
    "required",
)
SIGNATURE = Refusal(
    "stripe-signature",
    r"^not verified$",
    "signed by the payment provider over this body, recently",
    "not verified",
    status=400,
)
MIN_PRICE = Refusal("min_price", r"^above max$", "at most max_price", "above max")
MAX_PRICE = Refusal(
    "max_price", r"below min_price$", "at least min_price", "must not be below min_price"
)
SOCIAL_STATE = Refusal(
    "state",
    r"^invalid$",
    "a sign-in this server started, for this account and provider",
    "invalid",
)
SOCIAL_HANDLE = Refusal(
    "handle",
    r"^does not match$",
    "the account signed in at the provider is the one linked",
    "does not match",
)
SHOPS_ONLY = Refusal("quantity", r"^shops only$", "only shops list more than one", "shops only")
NEEDS_NEAR = Refusal("sort", r"^needs near$", "sorting by distance needs `near`", "needs near")
WORDS = Refusal("q", r"^no words$", "words that are not all stop words", "no words")
LISTING_CURRENCY = Refusal(
    "currency", r"^must be [A-Z]{3}$", "an offer is in the listing's currency", "must be EUR"
)
ASKING_PRICE = Refusal(
    "amount", r"^at most \d+$", "an offer is at most the asking price per unit", "at most 2500"
)
LOCATION = Refusal(
    "location",
    r"^required when your profile has none$",
    "a listing has a place, its own or its seller's",
    "required when your profile has none",
)
LISTING_STATUS = Refusal(
    "status",
    r"^not allowed from \w+$",
    "a listing's status moves only as its owner may (e.g. not out of `sold`)",
    "not allowed from sold",
)
SHIPPING = Refusal(
    "shipping",
    r"^(price in the old currency|neither pickup nor shipping|currency differs from the price's)$",
    "a shipping price in the listing's currency; pickup, shipping or both",
    "price in the old currency",
)

ALL = (
    CURSOR,
    CODE,
    IMAGE,
    OWN_UPLOADS,
    OWN_LISTINGS,
    NOT_YOURSELF,
    NOT_OWN_LISTING,
    PHONE,
    PHONE_TO_VERIFY,
    SIGNATURE,
    MIN_PRICE,
    MAX_PRICE,
    SOCIAL_STATE,
    SOCIAL_HANDLE,
    SHOPS_ONLY,
    NEEDS_NEAR,
    WORDS,
    LISTING_CURRENCY,
    ASKING_PRICE,
    LOCATION,
    LISTING_STATUS,
    SHIPPING,
)
