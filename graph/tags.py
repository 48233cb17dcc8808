"""Tag names: lowercase, trimmed, a limited charset, at most ten per listing."""

from __future__ import annotations

import re

from graph.errors import Invalid

MAX_TAGS = 10
MAX_TAG_LENGTH = 32
# letters (any script) and digits, words joined by single hyphens
_TAG = re.compile(r"^[^\W_]+(?:-[^\W_]+)*$")
_SPACES = re.compile(r"[\s_]+")


def normalise(raw: str) -> str:
    tag = _SPACES.sub("-", raw.strip().lstrip("#").strip().lower())
    if not tag or len(tag) > MAX_TAG_LENGTH or not _TAG.match(tag):
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
