"""HAProxy on this machine, in front of several `vendr serve` nodes, for the tests and `make
scale-demo`: Debian's package unpacked into .haproxy/ by `make haproxy` (no root, nothing
installed system-wide), or a `haproxy` on PATH. deploy/haproxy.cfg is filled in (the
frontend's port, the nodes, an admin socket) and HAProxy runs in the foreground as a child of
the caller, which stops it by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from graph.infra import processes

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / ".haproxy"
TEMPLATE = ROOT / "deploy" / "haproxy.cfg"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
CHECK_INTER_MS = 500


class HAProxyError(RuntimeError):
    """HAProxy is not installed, refused its configuration, or did not start."""


@dataclass(frozen=True)
class Node:
    """One API node behind the balancer."""

    name: str
    port: int
    host: str = "127.0.0.1"


@dataclass
class Balancer:
    """A running HAProxy: its process, frontend port, admin socket and log."""

    proc: subprocess.Popen[bytes]
    port: int
    socket_path: Path
    log_path: Path
    config_path: Path
    nodes: list[Node] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, line: str, timeout: float = 2.0) -> str:
        """One command on the admin socket (`show stat`, `disable server api/n1`...)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def stats(self) -> list[dict[str, str]]:
        """`show stat` as rows (one per frontend, node and backend)."""
        lines = [line for line in self.command("show stat").splitlines() if line.strip()]
        if not lines or not lines[0].startswith("# "):
            return []
        header = lines[0][2:].split(",")
        return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]

    def status(self) -> dict[str, str]:
        """Each node's state as the health checks see it: UP, DOWN, `UP 1/2` (going down)..."""
        return {
            row["svname"]: row["status"]
            for row in self.stats()
            if row.get("pxname") == "api" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_status(self, wanted: dict[str, str], timeout: float = 30.0) -> None:
        """Until every named node is in the wanted state (UP, DOWN)."""
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            self.alive()
            seen = self.status()
            if all(seen.get(name) == state for name, state in wanted.items()):
                return
            time.sleep(0.05)
        raise HAProxyError(f"nodes not {wanted} in {timeout:.0f} s: {seen}\n{self.log()}")

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise HAProxyError(f"HAProxy exited with {self.proc.returncode}:\n{self.log()}")

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def command(dist: Path = DIST) -> tuple[list[str], dict[str, str]]:
    """The haproxy binary to run and the environment it needs: the one `make haproxy`
    unpacked (with its libraries beside it), else one on PATH."""
    unpacked = dist / "root" / "usr" / "sbin" / "haproxy"
    if unpacked.exists():
        libs = dist / "root" / "usr" / "lib" / "x86_64-linux-gnu"
        env = {
            "LD_LIBRARY_PATH": os.pathsep.join(
                filter(None, [str(libs), os.environ.get("LD_LIBRARY_PATH", "")])
            )
        }
        return [str(unpacked)], env
    found = shutil.which("haproxy")
    if found is None:
        raise HAProxyError(
            f"no HAProxy: run `make haproxy` (Debian's package unpacked into {dist}) or put "
            "`haproxy` on PATH"
        )
    return [found], {}


def installed(dist: Path = DIST) -> bool:
    try:
        command(dist)
    except HAProxyError:
        return False
    return True


def render(
    port: int,
    nodes: Sequence[Node],
    socket_path: Path,
    *,
    check_inter_ms: int = CHECK_INTER_MS,
    template: Path = TEMPLATE,
) -> str:
    """deploy/haproxy.cfg with the frontend's port, the nodes and the admin socket."""
    if not nodes:
        raise HAProxyError("a balancer needs at least one node")
    servers = "\n".join(f"    server {n.name} {n.host}:{n.port}" for n in nodes)
    return Template(template.read_text()).substitute(
        bind=f"127.0.0.1:{port}",
        stats_socket=str(socket_path),
        check_inter=str(check_inter_ms),
        servers=servers,
    )


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def launch(
    workdir: Path,
    nodes: Sequence[Node],
    *,
    port: int | None = None,
    check_inter_ms: int = CHECK_INTER_MS,
    wait_up: bool = True,
    dist: Path = DIST,
) -> Balancer:
    """Write the configuration under `workdir`, check it (`haproxy -c`), start HAProxy in the
    foreground and wait for its frontend and socket (and, with `wait_up`, every node UP)."""
    binary, env = command(dist)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or processes.free_port()
    socket_path = workdir / "haproxy.sock"
    config_path = workdir / "haproxy.cfg"
    config_path.write_text(render(port, nodes, socket_path, check_inter_ms=check_inter_ms))
    checked = subprocess.run(  # noqa: S603 - the binary found above, fixed arguments
        [*binary, "-c", "-q", "-f", str(config_path)],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if checked.returncode != 0:
        raise HAProxyError(f"HAProxy refused {config_path}:\n{checked.stdout}{checked.stderr}")
    log_path = workdir / "haproxy.log"
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        proc = subprocess.Popen(  # noqa: S603 - the binary found above, fixed arguments
            [*binary, "-db", "-f", str(config_path)],
            env=os.environ | env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a terminal's Ctrl-C is for whoever started it
        )
    finally:
        os.close(log)
    balancer = Balancer(proc, port, socket_path, log_path, config_path, list(nodes))
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (socket_path.exists() and _answers(port)):
            balancer.alive()
            if time.monotonic() > deadline:
                raise HAProxyError(f"HAProxy was not ready in {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        if wait_up:
            balancer.wait_status({n.name: "UP" for n in nodes})
    except BaseException:
        terminate(balancer)
        raise
    return balancer


def terminate(balancer: Balancer, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop it by its pid: SIGTERM (HAProxy's hard stop: open connections end at once), then
    SIGKILL if it has not gone after `timeout` seconds."""
    processes.terminate(balancer.proc, timeout)
    balancer.socket_path.unlink(missing_ok=True)


@contextlib.contextmanager
def running(
    workdir: Path,
    nodes: Sequence[Node],
    *,
    port: int | None = None,
    check_inter_ms: int = CHECK_INTER_MS,
    wait_up: bool = True,
) -> Iterator[Balancer]:
    """HAProxy for as long as the block runs."""
    balancer = launch(workdir, nodes, port=port, check_inter_ms=check_inter_ms, wait_up=wait_up)
    try:
        yield balancer
    finally:
        terminate(balancer)
