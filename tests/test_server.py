"""`vendr serve` as `make run` runs it: a multi-worker server over its own embedded database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.common import free_port, wait_up
from graph.infra import embedded, neo4j_local
from seeds.loader import DEMO_PASSWORD

VENDR = Path(sys.executable).with_name("vendr")


def children(pid: int) -> list[str]:
    """Command names of the direct children of `pid` (from /proc)."""
    names = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            names.append(name)
    return names


def stop_server(proc: subprocess.Popen, data_dir: Path) -> str:
    """Ctrl-C, as a person would; if the server hangs, kill it and its database and say so."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=60)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its workers too: they hold the pipe open
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
        embedded.stop(data_dir)
        raise AssertionError("the server did not stop on SIGINT:\n" + output[-5000:]) from None


def serve(
    data_dir: Path, port: int, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """`vendr serve` on two workers in dev mode (as `make run` sets it), its output (and its
    workers') on one pipe."""
    env = (env or dict(os.environ)) | {
        "VENDR_ENV": "dev",
        "VENDR_DATA_DIR": str(data_dir),
        "VENDR_PORT": str(port),
        "VENDR_WORKERS": "2",
        "VENDR_ARGON2_MEMORY_KIB": "8192",
    }
    return subprocess.Popen(
        [str(VENDR), "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_make_run_serves_demo_data_on_two_workers_and_leaves_nothing_behind(tmp_path: Path) -> None:
    port = free_port()
    proc = serve(tmp_path, port, "--demo")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{base}/v1/heartbeat", proc)
        db = embedded.status(tmp_path)
        assert db is not None
        assert httpx.get(f"{base}/v1/ready").json()["checks"] == {"graph": True, "redis": True}
        login = httpx.post(
            f"{base}/v1/auth/login",
            json={"email": "anna@demo.vendr.test", "password": DEMO_PASSWORD},
        )
        assert login.status_code == 200, login.text
        assert login.json()["user"]["city"]
        spec = httpx.get(f"{base}/docs/openapi.json").json()
        assert "/v1/auth/signup" in spec["paths"]
        # both workers answer (a Ctrl-C while one still starts would test Sanic, not us)
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            with httpx.Client() as fresh:  # a new connection each time: spread over workers
                seen.add(fresh.get(f"{base}/v1/heartbeat").json()["worker"])
        assert len(seen) == 2, seen
        workers = [name for name in children(proc.pid) if "redis-server" not in name]
        assert len(workers) >= 2, workers
    finally:
        output = stop_server(proc, tmp_path)
    assert proc.returncode == 0, output[-3000:]
    # dev mode on loopback starts, and says so once (not once per worker), naming each shortcut
    assert output.count("DEV MODE (VENDR_ENV=dev) on 127.0.0.1") == 1, output[-3000:]
    assert "/v1/dev/socials" in output and "/v1/dev/payments" in output
    assert embedded.status(tmp_path) is None
    with pytest.raises(ProcessLookupError):  # the embedded database went with the server
        os.kill(db.pid, 0)


def test_ctrl_c_while_the_workers_start_stops_the_server(tmp_path: Path) -> None:
    """Sanic's manager used to spin forever on a stop signal that came before every worker
    had said it was up (api.workers): a person who starts `make run` and changes their mind at
    once must get their terminal back, with the database stopped."""
    proc = serve(tmp_path, free_port())
    assert proc.stdout is not None
    said = b""
    try:
        # a worker says it starts before it sets up its services and acknowledges: a signal
        # sent now reaches the manager while it waits for that acknowledgement
        while b"Starting worker" not in said:
            line = proc.stdout.readline()
            assert line, said.decode(errors="replace")[-3000:]  # it ended before a worker started
            said += line
        db = embedded.status(tmp_path)
        assert db is not None
    finally:
        said += stop_server(proc, tmp_path).encode()
    assert proc.returncode == 0, said.decode(errors="replace")[-3000:]
    assert b"restarting it" not in said, said.decode(errors="replace")[-3000:]  # not when stopping
    assert embedded.status(tmp_path) is None
    with pytest.raises(ProcessLookupError):
        os.kill(db.pid, 0)


def test_a_laptop_serves_on_neo4j_with_the_commands_the_readme_gives(tmp_path: Path) -> None:
    """`vendr db start --neo4j`, its export line, then `vendr serve` (what `make run` runs) on
    that Neo4j: demo data loaded into it, a login, and `vendr db stop --neo4j` leaves nothing."""
    env = os.environ | {"VENDR_DATA_DIR": str(tmp_path)}
    started = subprocess.run(
        [str(VENDR), "db", "start", "--neo4j"], env=env, capture_output=True, text=True, timeout=180
    )
    assert started.returncode == 0, started.stderr
    exported = started.stdout.split("export ", 1)[1].split()
    env |= dict(pair.split("=", 1) for pair in exported)
    assert env["VENDR_GRAPH_URL"].startswith("bolt://127.0.0.1:")
    port = free_port()
    small = {"VENDR_DEMO_USERS": "20", "VENDR_DEMO_PRODUCTS": "60"}
    proc = serve(tmp_path, port, "--demo", env=env | small)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{base}/v1/heartbeat", proc, timeout=300)
        assert httpx.get(f"{base}/v1/ready").json()["checks"] == {"graph": True, "redis": True}
        login = httpx.post(
            f"{base}/v1/auth/login",
            json={"email": "anna@demo.vendr.test", "password": DEMO_PASSWORD},
        )
        assert login.status_code == 200, login.text
    finally:
        output = stop_server(proc, tmp_path)
        stopped = subprocess.run(
            [str(VENDR), "db", "stop", "--neo4j"], env=env, capture_output=True, text=True
        )
    assert proc.returncode == 0, output[-3000:]
    assert stopped.stdout.strip() == "stopped"
    assert neo4j_local.recorded(tmp_path) is None and embedded.status(tmp_path) is None
