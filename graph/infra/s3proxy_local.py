"""S3Proxy on this machine: a real S3-compatible server (SigV4, pre-signed URLs and POST forms)
for the object-storage tests and for trying Vendr on S3 without a cloud account. The JVM runs
the one jar `make s3proxy` fetched from Maven Central into .s3proxy/, on a free loopback port,
with a generated properties file (random identity and credential, the owner's alone) and
objects kept in memory (`transient`) or in files under the server's directory (`filesystem`).

Known gap, measured: S3Proxy 3.0.0 checks a POST form's signature but not its policy's
conditions (size range, Content-Type, key, expiry): Vendr's confirm step checks the object
again (graph.catalog.uploads), which is what makes the bounds hold on such a server.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from graph.infra import processes

READY_TIMEOUT_S = 60.0  # 1.2-2 s alone; a loaded 2-core machine takes longer
STOP_TIMEOUT_S = 10.0
DIST = Path(__file__).resolve().parents[2] / ".s3proxy"
JAR = "s3proxy-3.0.0-jar-with-dependencies.jar"
JVM_FLAGS = ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


class S3ProxyError(RuntimeError):
    """The local S3Proxy would not start (not installed, no Java, a port taken)."""


@dataclass(frozen=True)
class S3ProxyInfo:
    pid: int
    port: int
    access_key: str
    secret_key: str

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The Vendr settings that put the blobs in `bucket` of this server."""
        return {
            "blobs_url": f"s3://{bucket}/{prefix}".rstrip("/"),
            "s3_endpoint_url": self.endpoint_url,
            "s3_access_key": self.access_key,
            "s3_secret_key": self.secret_key,
        }


def jar(dist: Path = DIST) -> Path:
    return dist / "lib" / JAR


def installed(dist: Path = DIST) -> bool:
    return (dist / ".installed").exists() and jar(dist).exists()


def _properties(home: Path, port: int, store: Literal["transient", "filesystem"]) -> Path:
    identity, credential = "vendr-" + secrets.token_hex(6), secrets.token_urlsafe(24)
    lines = [
        f"s3proxy.endpoint=http://127.0.0.1:{port}",
        "s3proxy.authorization=aws-v2-or-v4",
        f"s3proxy.identity={identity}",
        f"s3proxy.credential={credential}",
        "s3proxy.cors-allow-all=true",
        f"jclouds.provider={store}",
        f"jclouds.identity={identity}",
        f"jclouds.credential={credential}",
    ]
    if store == "filesystem":
        (home / "objects").mkdir(exist_ok=True)
        lines.append(f"jclouds.filesystem.basedir={home / 'objects'}")
    path = home / "s3proxy.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _read_keys(conf: Path) -> tuple[str, str]:
    values = dict(line.split("=", 1) for line in conf.read_text().splitlines() if "=" in line)
    return values["s3proxy.identity"], values["s3proxy.credential"]


def _answers(port: int) -> bool:
    """Any HTTP answer (an anonymous request is refused with 403) means it serves."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def launch(
    home: Path,
    *,
    dist: Path = DIST,
    store: Literal["transient", "filesystem"] = "transient",
) -> tuple[subprocess.Popen[bytes], S3ProxyInfo]:
    """Start a server with its files under `home` and wait until it answers."""
    if not installed(dist):
        raise S3ProxyError(f"S3Proxy is not installed in {dist}: run `make s3proxy`")
    java = shutil.which("java")
    if java is None:
        raise S3ProxyError("no `java` on PATH: S3Proxy 3 needs Java 17 or newer")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    port = processes.free_port()
    conf = _properties(home, port, store)
    log_path = home / "s3proxy.log"
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        proc = subprocess.Popen(  # noqa: S603 - java from PATH, fixed arguments
            [java, *JVM_FLAGS, "-jar", str(jar(dist)), "--properties", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a terminal's Ctrl-C is for the command that started it
            umask=0o077,
        )
    finally:
        os.close(log)
    identity, credential = _read_keys(conf)
    info = S3ProxyInfo(pid=proc.pid, port=port, access_key=identity, secret_key=credential)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _answers(port):
        if proc.poll() is not None:
            said = log_path.read_text(errors="replace")[-3000:]
            raise S3ProxyError(f"S3Proxy exited with {proc.returncode}:\n{said}")
        if time.monotonic() > deadline:
            processes.stop(proc.pid, STOP_TIMEOUT_S)
            raise S3ProxyError(f"S3Proxy was not answering in {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.1)
    return proc, info


def terminate(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop a server this process launched (SIGTERM, then SIGKILL)."""
    processes.terminate(proc, timeout)


@contextlib.contextmanager
def running(
    home: Path, *, dist: Path = DIST, store: Literal["transient", "filesystem"] = "transient"
) -> Iterator[S3ProxyInfo]:
    """A server for as long as the block runs."""
    proc, info = launch(home, dist=dist, store=store)
    try:
        yield info
    finally:
        terminate(proc)


def _state_file(home: Path) -> Path:
    return home / "server.json"


def recorded(home: Path) -> S3ProxyInfo | None:
    """The server started for `home` by `start`, if its process lives."""
    try:
        info = S3ProxyInfo(**json.loads(_state_file(home).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if processes.alive(info.pid) else None


def start(home: Path, *, dist: Path = DIST) -> tuple[S3ProxyInfo, bool]:
    """Start (or reuse) a server keeping its objects in files under `home`; (info,
    started_by_us). It runs until `stop`, whatever happens to the command that started it."""
    running_now = recorded(home)
    if running_now is not None:
        return running_now, False
    proc, info = launch(home, dist=dist, store="filesystem")
    fd = os.open(_state_file(home), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(asdict(info)))
    del proc  # not waited for here: it outlives this command
    return info, True


def stop(home: Path, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the server recorded for `home`; False if none ran."""
    info = recorded(home)
    if info is None:
        return False
    processes.stop(info.pid, timeout)
    _state_file(home).unlink(missing_ok=True)
    return True
