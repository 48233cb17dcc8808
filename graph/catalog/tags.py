"""Tag names: lowercase, trimmed, words joined by hyphens, at most ten per listing."""

from __future__ import annotations

import re

from graph.infra.errors import Invalid
from graph.infra.text import SPACE, WORD_CHAR, fold

MAX_TAGS = 10
MAX_TAG_LENGTH = 32
# words (letters, digits or symbols of any script: graph.infra.text.WORD_CHAR) joined by hyphens
_TAG = re.compile(f"^{WORD_CHAR}+(?:-{WORD_CHAR}+)*$")
_SEPARATORS = re.compile(f"[{SPACE}_]+")
# a tag as a person may write it: `#Vintage Bikes`, `vintage_bikes`, `vintage-bikes`; at most
# MAX_TAG_LENGTH characters, so the tag it becomes is never longer (the API contract shows
# this pattern; it reads the same to Python and to ECMA-262)
TAG_SENT = f"^[{SPACE}]*#?[{SPACE}]*{WORD_CHAR}+(?:(?:[{SPACE}_]+|-){WORD_CHAR}+)*[{SPACE}]*$"


def normalise(raw: str) -> str:
    tag = _SEPARATORS.sub("-", fold(fold(raw).lstrip("#")))
    if (
        len(raw) > MAX_TAG_LENGTH
        or not re.fullmatch(TAG_SENT, raw)
        or len(tag) > MAX_TAG_LENGTH
        or not _TAG.match(tag)
    ):
        raise ValueError(f"tag {raw!r} must be 1-{MAX_TAG_LENGTH} letters, digits and hyphens")
    return tag


def normalise_all(raw: list[str], *, field: str = "tags") -> list[str]:
    tags: list[str] = []
    for item in raw:
        try:
            tag = normalise(item)
        except ValueError as exc:
            raise Invalid(str(exc), errors={field: str(exc)}) from exc
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise Invalid(f"at most {MAX_TAGS} tags", errors={field: f"at most {MAX_TAGS} tags"})
    return tags
