"""The embedded engine: one server per data dir, reused, stopped cleanly, and durable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph.accounts.commands import Login, Signup
from graph.bootstrap import bootstrap, shutdown
from graph.infra import embedded
from tests.conftest import make_settings


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
            os.kill(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive")


def test_start_reuses_a_running_server_for_the_same_data_dir(tmp_path: Path) -> None:
    first, started = embedded.start(tmp_path)
    try:
        again, started_again = embedded.start(tmp_path)
        other, _ = embedded.start(tmp_path / "other")
        assert started and not started_again
        assert again == first
        assert other.port != first.port and other.pid != first.pid
        assert embedded.status(tmp_path) == first
    finally:
        embedded.stop(tmp_path / "other")
        embedded.stop(tmp_path)
    assert embedded.status(tmp_path) is None
    _wait_dead(first.pid)
    assert not embedded.stop(tmp_path)


def test_the_server_listens_on_loopback_with_a_password(tmp_path: Path) -> None:
    import redis

    info, _ = embedded.start(tmp_path)
    try:
        anonymous = redis.Redis(host="127.0.0.1", port=info.port)
        try:
            with pytest.raises(redis.AuthenticationError):
                anonymous.ping()
        finally:
            anonymous.close()
        config = redis.Redis.from_url(info.url).config_get("appendfsync")
        assert config == {"appendfsync": "always"}
        assert (tmp_path / "falkordb" / "password").stat().st_mode & 0o077 == 0
    finally:
        embedded.stop(tmp_path)


async def test_an_acknowledged_signup_survives_kill_9_of_the_database(tmp_path: Path) -> None:
    info, _ = embedded.start(tmp_path)
    settings = make_settings(tmp_path)
    services = await bootstrap(settings)
    try:
        user, _ = await services.accounts.signup(
            Signup(email="durable@example.org", password="survives crashes", display_name="D")
        )
    finally:
        await shutdown(services)

    os.kill(info.pid, signal.SIGKILL)
    _wait_dead(info.pid)
    assert embedded.status(tmp_path) is None

    restarted, started = embedded.start(tmp_path)
    try:
        assert started and restarted.pid != info.pid
        services = await bootstrap(settings)
        try:
            me, _ = await services.accounts.login(
                Login(email="durable@example.org", password="survives crashes")
            )
            assert me["id"] == user["id"]
        finally:
            await shutdown(services)
    finally:
        embedded.stop(tmp_path)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}


def test_no_other_local_user_can_read_the_database_or_its_password(tmp_path: Path) -> None:
    data = tmp_path / "data"
    info, _ = embedded.start(data)
    try:
        services_dir = data / "falkordb"
        assert (services_dir / "server.json").exists()
        for name, mode in _modes(data).items():
            assert mode & 0o077 == 0, f"{name} is {oct(mode)}: others may read it"
        cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes().replace(b"\0", b" ")
        assert info.password.encode() not in cmdline  # `ps` shows the command line to all
        assert b"requirepass" not in cmdline
    finally:
        embedded.stop(data)


def test_the_server_does_not_hold_the_output_of_the_command_that_started_it(
    tmp_path: Path,
) -> None:
    """`vendr db start | cat` must end: a server that outlives its starter keeps none of its
    pipes open (what it prints goes to its own log)."""
    script = "from pathlib import Path; import sys; from graph.infra import embedded; " + (
        f"embedded.start(Path({str(tmp_path)!r})); print('up'); print('err', file=sys.stderr)"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, timeout=60, check=True
        )
        assert done.stdout == b"up\n" and done.stderr == b"err\n"
        info = embedded.status(tmp_path)
        assert info is not None
        for fd in (1, 2):
            target = os.readlink(f"/proc/{info.pid}/fd/{fd}")
            assert target == str(tmp_path / "falkordb" / "server.log"), (fd, target)
    finally:
        embedded.stop(tmp_path)
