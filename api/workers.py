"""Sanic's worker manager, with the two repairs `vendr serve` needs.

A stop signal (Ctrl-C, SIGTERM) that reaches the manager while it still waits for its workers
to say they are up sends them SIGINT, but the wait itself never ends: it passes the shutdown
message back into its own pipe and polls again, spinning a core forever (sanic-org/sanic#2997,
fix proposed in #3063, not released as of Sanic 25.12). The workers are gone, so the
acknowledgement it waits for never comes. A manager that is shutting down waits for nobody:
the wait ends and the manager goes on to its usual shutdown (the message is still in the pipe).

And Sanic stops the workers from inside the signal handler: `shutdown_signal` calls `shutdown`,
which writes each worker's state into `worker_state`, a multiprocessing manager proxy. The main
thread calls that proxy all the time (the start-up wait and the monitor read it every 0.1 s),
over one connection per thread; a handler that runs while the main thread waits for a reply
sends its own request on that connection and takes the reply meant for the call it interrupted.
The handler then fails (a TypeError) before it has told every worker to stop or marked the
manager as shutting down, `Sanic.serve` runs the main process's stop listeners (our database
goes) while the workers still run, and fails again on the proxy: exit status 1. So the handler
only notes the signal, and the manager acts on it in its own loop, between two calls to the
proxy: the start-up wait and the monitor both come round every 0.1 s.
"""

from __future__ import annotations

from signal import Signals
from types import FrameType

from sanic.log import logger
from sanic.worker.manager import MonitorCycle, WorkerManager

_all_workers_ack = WorkerManager._all_workers_ack
_poll_monitor = WorkerManager._poll_monitor
_shutdown_signal = WorkerManager.shutdown_signal


def _note_signal(self: WorkerManager, signum: int, frame: FrameType | None) -> None:
    if self._shutting_down:  # a second signal: Sanic's handler kills (no call to the proxy)
        _shutdown_signal(self, signum, frame)
    else:
        self._vendr_stop_signal = signum  # type: ignore[attr-defined]


def _act_on_signal(self: WorkerManager) -> None:
    """What Sanic's handler did, done where the main thread is between two calls to the proxy."""
    signum = getattr(self, "_vendr_stop_signal", None)
    if signum is not None and not self._shutting_down:
        logger.info("Received signal %s. Shutting down.", Signals(signum).name)
        self.monitor_publisher.send(None)  # the monitor's loop reads it and ends
        self.shutdown()


def _acked_or_stopping(self: WorkerManager) -> bool:
    _act_on_signal(self)
    return self._shutting_down or _all_workers_ack(self)


def _poll_or_stop(self: WorkerManager) -> MonitorCycle | None:
    _act_on_signal(self)
    return _poll_monitor(self)


def repair_startup_stop() -> None:
    """Make a stop signal during start-up end the start-up wait, and have the manager's loop,
    not the signal handler, stop the workers (idempotent; before the manager is made: it
    installs its handler as it is made)."""
    WorkerManager._all_workers_ack = _acked_or_stopping  # type: ignore[method-assign]
    WorkerManager._poll_monitor = _poll_or_stop  # type: ignore[method-assign]
    WorkerManager.shutdown_signal = _note_signal  # type: ignore[method-assign]
