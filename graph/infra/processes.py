"""The database servers this machine runs for Vendr (embedded FalkorDB, a local Neo4j) are
child processes found again by pid: is one alive, collect one that died, stop one cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reap(pid: int) -> None:
    """Collect the exit status when the process is our own child, so it leaves no zombie
    (a zombie looks alive to `alive`)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int) -> bool:
    reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(pid: int, timeout: float) -> None:
    """SIGTERM (the server's clean shutdown), then SIGKILL after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        reap(pid)


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a server this process launched: SIGTERM (its clean shutdown), then SIGKILL after
    `timeout` seconds; collected either way, so it leaves no zombie."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
