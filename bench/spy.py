"""py-spy on the API's worker processes while wrk drives one route: where a request's CPU
goes. `py-spy record --subprocesses` on `vendr serve`'s main pid samples every worker
(ptrace: root, or CAP_SYS_PTRACE); the raw (collapsed-stack) output is read back here and
summarised: each sample put in one group (graph queries, Redis by its caller, JSON,
models, Vendr's own code, Sanic, the event loop), and the frames with the most own and
total samples."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import BIN, ROOT

RATE = 200  # samples a second per process
FRAME = re.compile(r"^(?P<func>.+) \((?P<file>[^()]+)\)$")

# What a frame's file says it is; a sample is put in the group of the frame nearest the top of
# its stack that has one (its own time, by layer). Frames of asyncio and of native code (no
# file) are passed over: a socket write belongs to whoever asked for it. Redis is told apart by
# the nearest Vendr frame below it: FalkorDB's statements go through redis-py too. Coroutines
# run under asyncio.wait_for are tasks of their own, cut off from their caller: their Redis
# calls are "caller not on the stack".
V = str(ROOT)  # Vendr's own modules, not what is installed under the repo's .venv
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "graph queries (driver, statements, records)",
        ("/falkordb/", "/neo4j/", f"{V}/graph/infra/store"),
    ),
    ("Redis", ("/redis/", "hiredis")),
    ("auth", (f"{V}/api/auth.py", f"{V}/graph/accounts/sessions.py")),
    ("JSON encode/decode", ("/json/", "orjson", "ujson")),
    ("models, validation (pydantic)", ("/pydantic/", "/pydantic_core/")),
    ("cache (pages, versions)", (f"{V}/graph/infra/cache.py", f"{V}/graph/infra/pages.py")),
    ("Vendr code (handlers, services, shaping)", (f"{V}/api/", f"{V}/graph/", f"{V}/bench/")),
    (
        "Sanic (HTTP, routing, responses)",
        ("/sanic/", "/sanic_routing/", "/sanic_ext/", "httptools"),
    ),
)
REDIS_CALLERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("graph queries (driver, statements, records)", ("/falkordb/", f"{V}/graph/infra/store")),
    ("Redis: auth (token → account)", (f"{V}/api/auth.py", f"{V}/graph/accounts/")),
    ("Redis: cache (pages, versions)", (f"{V}/graph/infra/cache.py", f"{V}/graph/infra/pages.py")),
    ("Redis: rate limits", (f"{V}/graph/infra/ratelimit.py",)),
)
REDIS_OTHER = "Redis: other Vendr code (feed sessions, pools, queues)"
PASSED_OVER = (
    "/asyncio/",  # the standard library's (redis-py has an asyncio/ of its own)
    "<frozen",
    "/contextlib.py",
    "/typing.py",
    "/functools.py",
)
# the loop's own time: uvloop is native, so its sockets and callbacks show as the Python
# frame that started it
LOOP = ("_run_server_forever", "run_forever", "run_until_complete", "BaseSelector")
EVENT_LOOP = "event loop (uvloop: sockets, callbacks)"


@dataclass
class Profile:
    """One route's samples: by group, and by frame (own: the frame at the top of the stack;
    total: anywhere in it)."""

    samples: int = 0
    groups: Counter[str] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    processes: set[str] = field(default_factory=set)


def _short(frame: str) -> str:
    """`func (file)` with the file relative to the repo or to site-packages/the stdlib."""
    found = FRAME.match(frame)
    if not found:
        return frame
    path = found["file"]
    for base in (str(ROOT) + "/", "site-packages/", "lib/python3.11/"):
        if base in path:
            path = path.split(base, 1)[1]
            break
    return f"{found['func']} ({path})"


def _layer(path: str) -> str | None:
    stdlib = "site-packages" not in path
    if "/" not in path or (stdlib and any(m in path for m in PASSED_OVER)):
        return None
    return next((name for name, marks in LAYERS if any(m in path for m in marks)), "other")


def _group(frames: list[tuple[str, str]]) -> str:
    """(function, file) pairs root first -> the sample's group."""
    if frames[-1][0].split(".")[-1] in LOOP:
        return EVENT_LOOP
    for depth in range(len(frames) - 1, -1, -1):
        layer = _layer(frames[depth][1])
        if layer is None:
            continue
        if layer != "Redis":
            return layer
        # the nearest Vendr frame below decides: a feed's Redis reads made under the route's
        # auth wrapper are the feed's, not auth's
        for _, below in reversed(frames[:depth]):
            if below.startswith(V + "/") and not below.startswith(V + "/.venv/"):
                return next(
                    (name for name, marks in REDIS_CALLERS if any(m in below for m in marks)),
                    REDIS_OTHER,
                )
        return "Redis: caller not on the stack (under asyncio.wait_for)"
    return EVENT_LOOP


def parse(text: str) -> Profile:
    """py-spy's raw output: `frame;frame;...;frame count` a line, root first."""
    profile = Profile()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        processes = [f for f in frames if f.startswith("process ")]
        frames = [f for f in frames if FRAME.match(f)]
        if not frames:
            continue
        profile.samples += n
        profile.processes.add(processes[-1].split(":", 1)[0] if processes else "")
        pairs = [(m["func"], m["file"]) for m in map(FRAME.match, frames) if m]
        profile.groups[_group(pairs)] += n
        profile.own[_short(frames[-1])] += n
        for frame in {_short(f) for f in frames}:
            profile.total[frame] += n
    return profile


@contextmanager
def recording(pid: int, seconds: float, out: Path) -> Iterator[None]:
    """py-spy sampling `pid` and its children (the Sanic workers) for `seconds` while the
    block runs; the raw stacks in `out`, read with `parse`."""
    args = [
        str(BIN / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--duration",
        f"{seconds:.0f}",
        "--rate",
        str(RATE),
        "--format",
        "raw",
        "--nolineno",
        "--full-filenames",
        "--nonblocking",  # the workers are not paused to be read: less cost to what is measured
        "-o",
        str(out),
    ]
    spy = subprocess.Popen(  # noqa: S603 - our own arguments, no shell
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield
    finally:
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0:
            print(f"py-spy exited with {spy.returncode}: {err[-1000:]}", file=sys.stderr)


def uninteresting(frame: str) -> bool:
    """Frames every sample sits under (the worker's start, the loop's run): no information."""
    return any(
        mark in frame
        for mark in ("<module>", "run_forever", "_run_once", "_run (asyncio", "serve (sanic")
    ) or frame.startswith(("worker_serve", "serve_single", "run (", "_run_module", "main ("))


def summary(profile: Profile, top: int = 8) -> list[str]:
    """Markdown: the groups, then the top frames by own and by total samples."""
    if not profile.samples:
        return ["(no samples: was py-spy allowed to attach?)"]
    n = profile.samples
    lines = ["| where | share of samples |", "|---|---:|"]
    lines += [f"| {name} | {count / n:.0%} |" for name, count in profile.groups.most_common()]
    lines += ["", "Top frames by own samples (the function on CPU):", ""]
    lines += [f"- {c / n:.0%} `{frame}`" for frame, c in profile.own.most_common(top)]
    lines += ["", "Top frames by total samples (on the stack), Vendr's own code:", ""]
    ours = [
        (frame, c)
        for frame, c in profile.total.most_common()
        if re.search(r"\((api|graph)/", frame) and not uninteresting(frame)
    ]
    lines += [f"- {c / n:.0%} `{frame}`" for frame, c in ours[:top]]
    return lines
