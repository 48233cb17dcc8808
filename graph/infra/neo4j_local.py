"""Neo4j Community on this machine, for the tests and for `vendr db start --neo4j`: the JVM
runs deploy/neo4j/VendrNeo4j.java against the jars `make neo4j` fetched from Maven Central
into .neo4j/ (Bolt on a free loopback port, no HTTP, a generated password, memory sized for a
small machine).

One server per data dir, its files under `<data_dir>/neo4j`: the store, its password (the
owner's alone), the launcher's log and `server.json` (pid, port), so a second start for the
same data dir reuses the running server, as the embedded FalkorDB does.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from graph.infra import processes

READY_TIMEOUT_S = 120.0  # a cold JVM on a loaded 2-core machine took 15 s; room for worse
STOP_TIMEOUT_S = 30.0
DIST = Path(__file__).resolve().parents[2] / ".neo4j"
# memory for a 2-core test machine: a 512 MiB heap and a 256 MiB page cache; a benchmark-sized
# graph wants more (`launch(..., heap_mb=, pagecache_mb=)`)
HEAP_MB, PAGECACHE_MB = 512, 256
JVM_FLAGS = [
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # compiles fast: tests are short-lived
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
]


class Neo4jError(RuntimeError):
    """The local Neo4j would not start (not installed, a port taken, a failed store)."""


@dataclass(frozen=True)
class Neo4jInfo:
    pid: int
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"


def _home(data_dir: Path) -> Path:
    return data_dir.resolve() / "neo4j"


def _state_file(data_dir: Path) -> Path:
    return _home(data_dir) / "server.json"


def installed(dist: Path = DIST) -> bool:
    return (dist / ".installed").exists()


def _command(home: Path, port: int, dist: Path, attached: bool, heap_mb: int) -> list[str]:
    if not installed(dist):
        raise Neo4jError(f"Neo4j is not installed in {dist}: run `make neo4j` (Maven Central)")
    java = shutil.which("java")
    if java is None:
        raise Neo4jError("no `java` on PATH: Neo4j 5.26 needs Java 17 or newer")
    classpath = f"{dist / 'lib'}/*{os.pathsep}{dist / 'classes'}"
    tail = ["--until-stdin-closes"] if attached else []
    heap = [f"-Xms{min(heap_mb, 256)}m", f"-Xmx{heap_mb}m"]
    return [java, *heap, *JVM_FLAGS, "-cp", classpath, "VendrNeo4j", str(home), str(port), *tail]


def _password(home: Path) -> str:
    secret = home / "password"
    if not secret.exists():
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(24))
    return secret.read_text().strip()


def launch(
    home: Path,
    *,
    dist: Path = DIST,
    attached: bool = False,
    heap_mb: int = HEAP_MB,
    pagecache_mb: int = PAGECACHE_MB,
) -> tuple[subprocess.Popen[bytes], Neo4jInfo]:
    """Start a server on `home` and wait for its ready line. `attached`: it stops when the
    returned process's stdin is closed, so it never outlives the Python process holding it
    (the tests); otherwise only a signal stops it (`vendr db start`)."""
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    password = _password(home)
    port = processes.free_port()
    log_path = home / "launcher.log"
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        proc = subprocess.Popen(  # noqa: S603 - java from PATH, fixed arguments
            _command(home, port, dist, attached, heap_mb),
            stdin=subprocess.PIPE if attached else subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=os.environ | {"NEO4J_PASSWORD": password, "NEO4J_PAGECACHE_MB": str(pagecache_mb)},
            start_new_session=True,  # a terminal's Ctrl-C is for the command that started it
            umask=0o077,
        )
    finally:
        os.close(log)
    info = Neo4jInfo(pid=proc.pid, port=port, password=password)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while "READY bolt://" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None:
            said = log_path.read_text(errors="replace")[-3000:]
            raise Neo4jError(f"Neo4j exited with {proc.returncode}:\n{said}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise Neo4jError(f"Neo4j was not ready in {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.1)
    return proc, info


def terminate(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop a server this process launched: SIGTERM runs its clean shutdown."""
    processes.terminate(proc, timeout)
    if proc.stdin is not None:
        proc.stdin.close()


@contextlib.contextmanager
def running(home: Path, *, dist: Path = DIST) -> Iterator[Neo4jInfo]:
    """A server for as long as the block runs (and no longer than this process)."""
    proc, info = launch(home, dist=dist, attached=True)
    try:
        yield info
    finally:
        terminate(proc)


def recorded(data_dir: Path) -> Neo4jInfo | None:
    """The server recorded for this data dir, if its process lives."""
    try:
        info = Neo4jInfo(**json.loads(_state_file(data_dir).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if processes.alive(info.pid) else None


def start(
    data_dir: Path, *, dist: Path = DIST, heap_mb: int = HEAP_MB, pagecache_mb: int = PAGECACHE_MB
) -> tuple[Neo4jInfo, bool]:
    """Start (or reuse) the server for data_dir; (info, started_by_us). It runs until
    `stop`, whatever happens to the command that started it."""
    running_now = recorded(data_dir)
    if running_now is not None:
        return running_now, False
    proc, info = launch(_home(data_dir), dist=dist, heap_mb=heap_mb, pagecache_mb=pagecache_mb)
    fd = os.open(_state_file(data_dir), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(asdict(info)))
    del proc  # not waited for here: it outlives this command
    return info, True


def stop(data_dir: Path, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the server for data_dir cleanly; False if none ran."""
    info = recorded(data_dir)
    if info is None:
        return False
    processes.stop(info.pid, timeout)
    _state_file(data_dir).unlink(missing_ok=True)
    return True
