"""The production-like stack in docker-compose.yml (issue 15, finding 10): Redis has a
password, the notebooks cannot reach the API's Redis, and neither the API nor the notebooks
connect to Neo4j as the superuser; the API runs in production mode, without the development
shortcuts. (No Docker engine here: the file is read, not run.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_redis_requires_a_password_that_is_never_on_a_command_line(compose) -> None:
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "requirepass" in command and "$$REDIS_PASSWORD" in command
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])  # not `redis-cli -a`
    api_url = compose["services"]["api"]["environment"]["VENDR_REDIS_URL"]
    assert api_url.startswith("redis://:${REDIS_PASSWORD")


def test_the_notebooks_share_no_network_with_the_apis_redis(compose) -> None:
    services = compose["services"]
    notebooks, redis = set(services["notebooks"]["networks"]), set(services["redis"]["networks"])
    assert notebooks and redis and not notebooks & redis
    assert "@redis:" not in services["notebooks"]["environment"]["VENDR_REDIS_URL"]
    assert set(services["neo4j"]["networks"]) >= notebooks  # they still reach the graph


def test_no_service_connects_to_neo4j_as_the_superuser(compose) -> None:
    users = {
        name: compose["services"][name]["environment"]["VENDR_NEO4J_USER"]
        for name in ("api", "notebooks")
    }
    assert users == {"api": "vendr_app", "notebooks": "vendr_analyst"}
    for name in ("api", "notebooks"):
        after = compose["services"][name]["depends_on"]["neo4j-users"]
        assert after == {"condition": "service_completed_successfully"}
    script = (ROOT / "deploy" / "neo4j-users.sh").read_text()
    assert "GRANT ROLE reader TO vendr_analyst" in script
    assert "GRANT ROLE architect TO vendr_app" in script
    assert "$APP_DB_PASSWORD" not in script.split("CYPHER")[1]  # parameters, not spliced text
    subprocess.run(["sh", "-n", str(ROOT / "deploy" / "neo4j-users.sh")], check=True)


def test_the_api_runs_in_production_mode_without_development_shortcuts(compose) -> None:
    env = compose["services"]["api"]["environment"]
    assert env["VENDR_ENV"] == "${VENDR_ENV:-production}"
    assert "VENDR_SOCIAL_PROVIDER" not in env and "VENDR_ALLOW_DEV_ON_NETWORK" not in env
    assert all("--demo" not in str(part) for part in compose["services"]["api"].get("command", []))
    # the image listens on every interface: dev mode, if asked for, refuses to start there
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "VENDR_HOST=0.0.0.0" in dockerfile and "VENDR_ENV" not in dockerfile
