"""bench/http.py's pieces that can go wrong without a long run: wrk's figures read back from
bench/wrk.lua (on the bare endpoint, when wrk is installed: `make wrk`), and py-spy's stacks
put in the right group."""

from __future__ import annotations

import pytest

from bench import spy, wrk
from bench.common import BIN, free_port, server

V = str(spy.ROOT)
SITE = f"{V}/.venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"


def _installed() -> bool:
    try:
        wrk.command()
    except wrk.WrkMissing:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason="no wrk: `make wrk`")
def test_wrk_drives_the_bare_endpoint_and_its_figures_are_read_back() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/bare"
    env = {"BARE_PORT": str(port), "BARE_WORKERS": "1"}
    with server([str(BIN / "python"), "-m", "bench.bare"], env, url):
        result = wrk.run(url, connections=2, seconds=1, tokens=("a", "b"))
    assert result.requests > 100
    assert result.non_2xx == 0 and result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    assert result.bytes_each > 1000  # the bare endpoint's 20 items


def test_wrk_output_without_the_scripts_line_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no figures"):
        wrk.parse("Running 1s test @ http://127.0.0.1/\n")


def _stack(*frames: tuple[str, str], count: int = 3) -> str:
    head = 'process 1:"vendr serve";process 2:"worker"'
    return ";".join([head, *(f"{func} ({path})" for func, path in frames)]) + f" {count}"


def test_a_graph_statement_s_socket_write_counts_for_the_graph_not_for_asyncio() -> None:
    profile = spy.parse(
        _stack(
            ("_run_server_forever", f"{SITE}/sanic/server/runners.py"),
            ("messages", f"{V}/api/routes/rooms.py"),
            ("FalkorStore._query", f"{V}/graph/infra/store/falkordb.py"),
            ("AsyncGraph.ro_query", f"{SITE}/falkordb/asyncio/graph.py"),
            ("AbstractConnection._send_packed_command", f"{SITE}/redis/asyncio/connection.py"),
            ("StreamWriter.writelines", f"{STDLIB}/asyncio/streams.py"),
        )
    )
    assert profile.groups == {"graph queries (driver, statements, records)": 3}
    assert profile.processes == {"process 2"}


def test_redis_is_told_apart_by_its_caller_and_the_loop_s_own_time_is_the_loop_s() -> None:
    text = "\n".join(
        [
            _stack(
                ("wrapper", f"{V}/api/auth.py"),
                ("Sessions.resolve", f"{V}/graph/accounts/sessions.py"),
                ("Redis.execute_command", f"{SITE}/redis/asyncio/client.py"),
                count=2,
            ),
            _stack(
                ("_run_server_forever", f"{SITE}/sanic/server/runners.py"),
                ("AbstractConnection._send_packed_command", f"{SITE}/redis/asyncio/connection.py"),
                count=1,
            ),
            # a route's own Redis reads under the auth wrapper are the route's, not auth's
            _stack(
                ("wrapper", f"{V}/api/auth.py"),
                ("feed", f"{V}/api/routes/feed.py"),
                ("Pools.candidates", f"{V}/graph/catalog/pools.py"),
                ("Pipeline.execute", f"{SITE}/redis/asyncio/client.py"),
                count=5,
            ),
            _stack(("_run_server_forever", f"{SITE}/sanic/server/runners.py"), count=4),
        ]
    )
    groups = spy.parse(text).groups
    assert groups["Redis: auth (token → account)"] == 2
    assert groups["Redis: caller not on the stack (under asyncio.wait_for)"] == 1
    assert groups[spy.REDIS_OTHER] == 5
    assert groups[spy.EVENT_LOOP] == 4
