"""Background tasks that stop when asked.

A loop stopped by `task.cancel()` must not rely on the cancellation reaching it as an
exception: some awaits swallow one that lands at the wrong moment (Python 3.11's
`asyncio.wait_for` when the awaited answer comes in at the same time; redis-py's subscribe while
it connects), and a loop that catches the error it then sees and goes round again never ends,
nor does whoever awaits it. The task's own count of cancel requests still says it was asked.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop, even if the request was swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
