"""Relay connections over the keyset cursors REST uses: `edges { node cursor }` and
`pageInfo { hasNextPage endCursor }`; `first` and `after` are REST's `limit` and `cursor`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from api.graphql.errors import user_input

T = TypeVar("T")

MAX_FIRST = 100  # as REST's `limit`


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str | None = strawberry.field(
        description="where a page after this edge starts (null when only the page's end is known)"
    )


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def first(value: int) -> int:
    """`first` checked as REST checks `limit`."""
    if not 1 <= value <= MAX_FIRST:
        raise user_input(f"first is 1 to {MAX_FIRST}", "first")
    return value


def connection(
    nodes: Sequence[T],
    end_cursor: str | None,
    cursor_of: Callable[[int], str | None] | None = None,
) -> Connection[T]:
    """A page of `nodes`; `end_cursor` continues after the last (None: the last page);
    `cursor_of(i)` the cursor after node i when each can be named."""
    edges = [
        Edge(node=node, cursor=cursor_of(i) if cursor_of else None) for i, node in enumerate(nodes)
    ]
    if edges and edges[-1].cursor is None:
        edges[-1].cursor = end_cursor
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=end_cursor is not None, end_cursor=end_cursor)
    )


def keyset(
    rows: list[dict[str, Any]], limit: int, encode: Callable[[dict[str, Any]], str]
) -> tuple[list[dict[str, Any]], Callable[[int], str], str | None]:
    """For services that answer `limit + 1` rows sorted by a keyset: the page, each row's
    cursor, and the end cursor when there is more."""
    page = rows[:limit]
    cursors = [encode(row) for row in page]  # sealed once: the last edge's is the end cursor
    end = cursors[-1] if len(rows) > limit and cursors else None
    return page, lambda i: cursors[i], end
