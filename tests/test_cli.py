"""The admin command line against the session's embedded database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph.commands import Signup
from graph.settings import Settings

VENDR = Path(sys.executable).with_name("vendr")
ROOT = Path(__file__).resolve().parent.parent


def vendr(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "VENDR_DATA_DIR": str(settings.data_dir),
        "VENDR_GRAPH_NAME": settings.graph_name,
    }
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
    done = vendr(settings, "cypher", "run", "cypher/newest_users.cypher")
    assert done.returncode == 1
    assert "does not exist yet" in done.stderr
    assert "Traceback" not in done.stderr


def test_db_status_reports_the_running_server(settings) -> None:
    done = vendr(settings, "db", "status")
    assert done.returncode == 0
    assert done.stdout.startswith("running: pid ")
