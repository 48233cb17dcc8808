"""Walking every active listing in bounded steps: windows of expiry time.

Every active listing expires in the future and `expires_at` has a range index on both backends,
so each window is an index range: no step sorts the whole set, as `ORDER BY p.id ... LIMIT`
paging would on every page. Windows widen or narrow to keep each step near a target size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from graph.infra.ids import now_ms
from graph.infra.store import GraphStore, Statement, statement

DAY_MS = 86_400_000

EXTENT = statement(
    "windows.extent",
    "MATCH (p:Product) WHERE p.expires_at > $now RETURN max(p.expires_at) AS last",
)


async def by_expiry(
    store: GraphStore,
    st: Statement,
    params: dict[str, Any],
    *,
    target: int,
    size: Callable[[list[dict[str, Any]]], int] = len,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Run `st` once per window `$lo < p.expires_at <= $hi` from now to the last expiry, and
    yield each result; `size` tells how many listings a result covered."""
    now = now_ms()
    last = (await store.run(EXTENT, {"now": now}))[0]["last"]
    if last is None:
        return
    lo, span = now, DAY_MS
    while lo < last:
        hi = min(lo + span, last)
        rows = await store.run(st, params | {"lo": lo, "hi": hi, "now": now})
        yield rows
        lo, n = hi, size(rows)
        if n < target // 2:
            span *= 2
        elif n > target * 2:
            span = max(span // 2, 1000)
