"""The admin command line against the session's embedded database."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bench.common import free_port
from graph.accounts.commands import Signup
from graph.infra.ids import now_ms
from graph.infra.settings import Settings
from tests.conftest import settings_env

VENDR = Path(sys.executable).with_name("vendr")
ROOT = Path(__file__).resolve().parent.parent


def vendr(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | settings_env(settings)
    return subprocess.run(
        [str(VENDR), *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=60
    )


async def test_cypher_run_prints_a_table_and_honours_params(services, settings) -> None:
    for name in ("Ana", "Ben", "Cas"):
        await services.accounts.signup(
            Signup(email=f"{name}@example.org", password="long enough", display_name=name)
        )
    done = vendr(settings, "cypher", "run", "cypher/newest_users.cypher", "--param", "limit=2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "handle", "name"]
    assert [line.split()[2] for line in lines[2:4]] == ["Cas", "Ben"]
    assert lines[-1] == "(2 rows)"


def test_cypher_run_is_read_only_unless_asked(services, settings, tmp_path: Path) -> None:
    script = tmp_path / "write.cypher"
    script.write_text('// params: name="x"\nCREATE (t:Tag {name: $name}) RETURN t.name AS name\n')
    refused = vendr(settings, "cypher", "run", str(script))
    assert refused.returncode == 1
    assert "--write" in refused.stderr
    written = vendr(settings, "cypher", "run", str(script), "--write", "--param", "name=vintage")
    assert written.returncode == 0, written.stderr
    assert "vintage" in written.stdout


@pytest.mark.parametrize("bad", ["noequals", "1bad=2"])
def test_cypher_run_rejects_malformed_params(settings, bad: str) -> None:
    done = vendr(settings, "cypher", "run", "cypher/newest_users.cypher", "--param", bad)
    assert done.returncode == 2
    assert "--param" in done.stderr


def test_cypher_run_rejects_undeclared_params(settings) -> None:
    done = vendr(settings, "cypher", "run", "cypher/newest_users.cypher", "--param", "limt=3")
    assert done.returncode == 2
    assert "limt" in done.stderr


def test_cypher_run_on_a_graph_that_does_not_exist_says_so(settings) -> None:
    # a FalkorDB graph appears with its first write; a Neo4j database must be created
    missing = settings.model_copy(update={"graph_name": "nosuchdb"})
    done = vendr(
        missing if settings.graph_url != "embedded" else settings,
        "cypher",
        "run",
        "cypher/newest_users.cypher",
    )
    assert done.returncode == 1
    assert "does not exist yet" in done.stderr
    assert "Traceback" not in done.stderr


def test_db_status_reports_the_running_server(settings) -> None:
    done = vendr(settings, "db", "status")
    assert done.returncode == 0
    assert done.stdout.startswith("running: pid ")


# -- the library by name ----------------------------------------------------------------------


def test_cypher_list_shows_every_library_file_with_its_params(settings) -> None:
    done = vendr(settings, "cypher", "list")
    assert done.returncode == 0, done.stderr
    for name in ("stale_listings", "top_sellers", "user_audit_trail", "insights/listings"):
        assert re.search(rf"^{re.escape(name)}\s+\S", done.stdout, re.MULTILINE), name
    assert "days=21" in done.stdout
    assert re.search(r"\((\d+) files in ", done.stdout)


async def test_cypher_run_takes_a_library_name(services, settings) -> None:
    me, _ = await services.accounts.signup(
        Signup(email="trail@example.org", password="long enough", display_name="Trail")
    )
    done = vendr(settings, "cypher", "run", "user_audit_trail", "--param", f"user_id={me['id']}")
    assert done.returncode == 0, done.stderr
    assert "user.signed_up" in done.stdout
    assert done.stdout.splitlines()[-1] == "(1 row)"


def test_cypher_run_prints_headers_for_an_empty_result(services, settings) -> None:
    done = vendr(settings, "cypher", "run", "stale_listings")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == ["id", "title", "seller"]
    assert done.stdout.splitlines()[-1] == "(0 rows)"


def test_cypher_run_names_the_known_files_for_an_unknown_one(settings) -> None:
    done = vendr(settings, "cypher", "run", "stale_listing")
    assert done.returncode == 2
    assert "stale_listings" in done.stderr and "Traceback" not in done.stderr


# -- the event log as JSON Lines ----------------------------------------------------------------

PLANT_EVENTS = """
UNWIND range(0, $n - 1) AS i
CREATE (:Event {id: 'ev-' + toString(1000 + i), type: CASE WHEN i % 3 = 0 THEN 'offer.made'
                ELSE 'user.logged_in' END, at: $at + i / 4, actor_id: 'someone',
                subject_id: 'something', data: '{"i":' + toString(i) + '}'})
"""


async def test_events_export_writes_every_event_once_as_json_lines(
    services, settings, tmp_path: Path
) -> None:
    from graph.eventlog import export

    old = now_ms() - 10 * 86_400_000
    await services.store.run_text(PLANT_EVENTS, {"n": 30, "at": old}, write=True)
    # four events share each millisecond: a small page must neither repeat nor skip one
    paged = [e async for e in export.events(services.store, 0, None, page=3)]
    assert [e["id"] for e in paged] == [f"ev-{1000 + i}" for i in range(30)]
    assert paged[5]["data"] == {"i": 5}

    out = tmp_path / "events.jsonl"
    done = vendr(settings, "events", "export", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["id"] for e in lines] == [f"ev-{1000 + i}" for i in range(30)]
    assert set(lines[0]) == {"id", "type", "at", "actor_id", "subject_id", "data"}
    assert "exported 30 events" in done.stderr

    only = vendr(settings, "events", "export", "--type", "offer.made")
    assert only.returncode == 0, only.stderr
    offers = [json.loads(line) for line in only.stdout.splitlines()]
    assert len(offers) == 10 and {e["type"] for e in offers} == {"offer.made"}

    await services.accounts.signup(
        Signup(email="fresh@example.org", password="long enough", display_name="Fresh")
    )
    recent = vendr(settings, "events", "export", "--since", "1d")
    assert [json.loads(line)["type"] for line in recent.stdout.splitlines()] == ["user.signed_up"]


@pytest.mark.parametrize("since", ["yesterday", "7x", "2026-13-01"])
def test_events_export_explains_a_bad_since(settings, since: str) -> None:
    done = vendr(settings, "events", "export", "--since", since)
    assert done.returncode == 2
    assert "--since wants" in done.stderr


def test_since_reads_spans_and_iso_dates() -> None:
    from graph.eventlog.export import parse_since

    now = 1_800_000_000_000
    assert parse_since("7d", now) == now - 7 * 86_400_000
    assert parse_since("90m", now) == now - 90 * 60_000
    assert parse_since("2026-11-01") == 1_793_491_200_000  # midnight UTC
    assert parse_since("2026-11-01T01:00:00+01:00") == 1_793_491_200_000


def test_lab_serves_jupyterlab_and_ends_cleanly_on_ctrl_c(settings) -> None:
    unused_port = free_port()
    env = (
        os.environ
        | settings_env(settings)
        | {
            "JUPYTER_RUNTIME_DIR": str(settings.data_dir / "jupyter-runtime"),
        }
    )
    lab = subprocess.Popen(
        [str(VENDR), "lab", "--no-browser", "--port", str(unused_port)],
        env=env,
        cwd=ROOT,
        start_new_session=True,  # its own process group, as a terminal would give it
        # a shell's background job would ignore SIGINT; a terminal's foreground job does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{unused_port}/api", timeout=2) as r:
                    status = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.5)
        assert status and "version" in status, lab.stderr.read() if lab.poll() is not None else ""
        # a terminal's Ctrl-C reaches the whole group; twice skips JupyterLab's question. An
        # impatient person keeps pressing it while the lab and the database stop: each
        # press after JupyterLab is gone must not cut `vendr lab` short either
        deadline = time.monotonic() + 30
        while lab.poll() is None and time.monotonic() < deadline:
            os.killpg(lab.pid, signal.SIGINT)
            time.sleep(0.1)
        assert lab.wait(timeout=5) == 0
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
    # what `vendr lab` stopped may take a moment to be gone (the database's last write, on a
    # loaded machine); left behind is what is still there after that
    deadline = time.monotonic() + 15
    while True:
        leftover = subprocess.run(
            ["pgrep", "-g", str(lab.pid)], capture_output=True, text=True, check=False
        ).stdout.strip()
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not leftover, f"JupyterLab left processes behind: {leftover}"


async def test_ledger_check_says_ok_on_a_whole_ledger_and_names_what_is_broken(
    services, settings
) -> None:
    # a charge booked as the payments book it: buyers paid 1000, the seller holds 950, fee 50
    await services.store.run_text(
        """
        CREATE (e:LedgerEntry {id: 'charge:p1', kind: 'charge', currency: 'EUR', at: 1})
        CREATE (b:Account {key: 'buyers/cards/EUR', owner: 'buyers', bucket: 'cards',
                           currency: 'EUR', balance: -1000})
        CREATE (s:Account {key: 'seller:u1/pending/EUR', owner: 'seller:u1', bucket: 'pending',
                           currency: 'EUR', balance: 950})
        CREATE (f:Account {key: 'platform/fees/EUR', owner: 'platform', bucket: 'fees',
                           currency: 'EUR', balance: 50})
        CREATE (e)-[:POSTS {amount: -1000}]->(b), (e)-[:POSTS {amount: 950}]->(s),
               (e)-[:POSTS {amount: 50}]->(f)
        """,
        {},
        write=True,
    )
    done = vendr(settings, "ledger", "check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["EUR: 3 accounts, total 0", "ledger: ok"]

    await services.store.run_text(
        "MATCH (a:Account {key: 'seller:u1/pending/EUR'}) SET a.balance = 990", {}, write=True
    )
    broken = vendr(settings, "ledger", "check", "--json")
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert report["ok"] is False
    assert report["drifted"] == [{"key": "seller:u1/pending/EUR", "balance": 990, "posted": 950}]
    assert report["currencies"] == [{"currency": "EUR", "total": 40, "accounts": 3}]


async def test_payments_failed_lists_calls_refused_for_good(services, settings) -> None:
    empty = vendr(settings, "payments", "failed")
    assert empty.returncode == 0 and "no provider call has failed" in empty.stdout
    await services.store.run_text(
        """
        CREATE (:Payment {id: 'pay1', key: 'order:o1', purpose: 'order', subject_id: 'o1',
                          status: 'refunding', owed: 'refund', owed_amount: 500,
                          owed_error: 'Stripe: charge already refunded', updated_at: 5})
        """,
        {},
        write=True,
    )
    listed = vendr(settings, "payments", "failed")
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith("pay1")]
    assert "refund" in row and "500" in row and "charge already refunded" in row
    missing = vendr(settings, "payments", "retry", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "vendr: payment nope: no provider call is owed on this payment"
