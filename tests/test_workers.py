"""api.workers: the repairs to Sanic's worker manager that `vendr serve` installs."""

from __future__ import annotations

import signal
from multiprocessing import Pipe, get_context
from typing import Any

from sanic.worker.manager import WorkerManager

from api.workers import repair_startup_stop


class Busy(dict):
    """The workers' shared state while the main thread waits on it: a signal handler that used
    it would read the reply meant for the call it interrupted."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the signal handler called the worker_state proxy")

    __getitem__ = __setitem__ = values = get = _refuse  # type: ignore[assignment]


def test_a_stop_signal_is_acted_on_in_the_managers_loop_not_in_its_handler() -> None:
    repair_startup_stop()
    sub, pub = Pipe(False)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:  # the manager installs its handlers as it is made: the test process keeps its own
        manager = WorkerManager(1, print, {}, get_context("spawn"), (pub, sub), {})
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    state, manager.worker_state = manager.worker_state, Busy()
    manager.shutdown_signal(signal.SIGINT, None)
    assert not manager._shutting_down and not sub.poll()  # noted, nothing else
    manager.worker_state = state
    assert manager._all_workers_ack()  # the start-up wait acts on it, and ends
    assert manager._shutting_down
    assert sub.poll() and sub.recv() is None  # the message that ends the monitor's loop
