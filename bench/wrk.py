"""wrk, the load generator behind bench/http.py: Debian's package and LuaJIT unpacked into
.wrk/ by the Makefile (`make bench`; no root, nothing installed system-wide), or a `wrk` on
PATH. One run: `-t threads -c connections -d seconds --latency` with bench/wrk.lua, which adds a
bearer token when asked (one, or many in turn) and prints the figures as one line of JSON at
the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / ".wrk"
SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
MARK = "WRK_JSON "


class WrkMissing(RuntimeError):
    """Neither .wrk/ (`make wrk`) nor a `wrk` on PATH."""


def command(dist: Path = DIST) -> tuple[list[str], dict[str, str]]:
    """The wrk binary and the environment it needs: the one the Makefile unpacked (its LuaJIT
    beside it), else one on PATH."""
    unpacked = dist / "root" / "usr" / "bin" / "wrk"
    if unpacked.exists():
        libs = dist / "root" / "usr" / "lib" / "x86_64-linux-gnu"
        path = os.pathsep.join(filter(None, [str(libs), os.environ.get("LD_LIBRARY_PATH", "")]))
        return [str(unpacked)], {"LD_LIBRARY_PATH": path}
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing(
            f"no wrk: run `make wrk` (Debian's package unpacked into {dist}) or put `wrk` on PATH"
        )
    return [found], {}


@dataclass(frozen=True)
class Result:
    """One wrk run: counts, and latency percentiles in milliseconds."""

    requests: int
    seconds: float
    bytes: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connect, read, write and timeouts
    non_2xx: int  # answers outside 2xx/3xx

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def bytes_each(self) -> float:
        return self.bytes / self.requests if self.requests else 0.0


def parse(output: str) -> Result:
    line = next((ln for ln in output.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{output[-2000:]}")
    raw = json.loads(line.removeprefix(MARK))
    return Result(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        bytes=raw["bytes"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        non_2xx=raw["status"],
    )


def run(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    token: str = "",
    tokens: tuple[str, ...] = (),
) -> Result:
    """`wrk -t threads -c connections -d seconds --latency` on one URL: a bearer `token` on
    every request when given, or `tokens` in turn."""
    argv, env = command()
    threads = min(threads, connections)
    args = [
        *argv,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
    ]
    done = subprocess.run(  # noqa: S603 - our own binary and arguments, no shell
        args,
        env=os.environ | env | {"WRK_TOKEN": token, "WRK_TOKENS": ",".join(tokens)},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr[-2000:]}")
    return parse(done.stdout)


def version() -> str:
    argv, env = command()
    done = subprocess.run(  # noqa: S603 - our own binary, no shell
        [*argv, "-v"], env=os.environ | env, capture_output=True, text=True, check=False
    )
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()
