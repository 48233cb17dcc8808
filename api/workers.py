"""Sanic's worker manager, with the one repair `vendr serve` needs.

A stop signal (Ctrl-C, SIGTERM) that reaches the manager while it still waits for its workers
to say they are up sends them SIGINT, but the wait itself never ends: it passes the shutdown
message back into its own pipe and polls again, spinning a core forever (sanic-org/sanic#2997,
fix proposed in #3063, not released as of Sanic 25.12). The workers are gone, so the
acknowledgement it waits for never comes. A manager that is shutting down waits for nobody:
the wait ends and the manager goes on to its usual shutdown (the message is still in the pipe).
"""

from __future__ import annotations

from sanic.worker.manager import WorkerManager

_all_workers_ack = WorkerManager._all_workers_ack


def _acked_or_stopping(self: WorkerManager) -> bool:
    return self._shutting_down or _all_workers_ack(self)


def repair_startup_stop() -> None:
    """Make a stop signal during start-up end the start-up wait (idempotent)."""
    WorkerManager._all_workers_ack = _acked_or_stopping  # type: ignore[method-assign]
