"""The production-like stack in docker-compose.yml (issue 15, finding 10): Redis has a
password, the notebooks cannot reach the API's Redis, and neither the API nor the notebooks
connect to Neo4j as the superuser; the API runs in production mode, without the development
shortcuts. Issue 35: the nodes sit behind a health-checked balancer (its config checked by
HAProxy itself), share object storage and leave the background to a worker; the Neo4j cluster
variant has three primaries and a secondary. (No Docker engine here: the files are read, not
run.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from graph.infra import haproxy_local

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


def test_the_api_nodes_are_reached_through_a_health_checked_balancer(compose) -> None:
    services = compose["services"]
    assert "ports" not in services["api"]  # nodes are not reached one by one
    balancer = services["balancer"]
    assert balancer["ports"] == ["127.0.0.1:8000:8000"]
    config = ROOT / "deploy" / "haproxy-compose.cfg"
    assert f"./deploy/{config.name}:" in balancer["volumes"][0]
    text = config.read_text()
    assert "uri /v1/heartbeat" in text and "server-template api" in text
    # HAProxy's own check of the file (the binary `make test` unpacks from Debian's package)
    argv, env = haproxy_local.command()
    checked = subprocess.run(
        [*argv, "-c", "-f", str(config)],
        env=os.environ | env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_node_shares_object_storage_and_one_worker_runs_the_background(compose) -> None:
    services = compose["services"]
    api, worker = services["api"]["environment"], services["worker"]["environment"]
    for env in (api, worker):
        assert env["VENDR_BLOBS_URL"].startswith("${VENDR_BLOBS_URL:-s3://")
        assert env["VENDR_S3_SECRET_KEY"] == "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD}"
    assert api["VENDR_BACKGROUND"] == "off" and worker["VENDR_BACKGROUND"] == "on"
    assert services["worker"]["command"] == ["vendr", "worker"]
    bucket = services["minio-bucket"]
    assert "mc mb --ignore-existing local/vendr-images" in bucket["entrypoint"][-1]
    assert services["api"]["depends_on"]["minio-bucket"] == {
        "condition": "service_completed_successfully"
    }


def test_the_cluster_variant_has_three_primaries_and_a_secondary_behind_one_routing_url(
    compose,
) -> None:
    cluster = yaml.safe_load((ROOT / "deploy" / "compose.cluster.yml").read_text())["services"]
    modes = {
        name: svc["environment"]["NEO4J_initial_server_mode__constraint"]
        for name, svc in cluster.items()
    }
    assert sorted(modes.values()) == ["PRIMARY", "PRIMARY", "PRIMARY", "SECONDARY"]
    primaries = {name for name, mode in modes.items() if mode == "PRIMARY"}
    endpoints = cluster["neo4j"]["environment"]["NEO4J_dbms_cluster_discovery_endpoints"]
    assert {e.split(":")[0] for e in endpoints.split(",")} == primaries
    assert all(svc["image"].endswith("-enterprise") for svc in cluster.values())
    # the first primary is the single server's name: the API's routing URL stays as it is
    assert "neo4j" in primaries
    assert compose["services"]["api"]["environment"]["VENDR_GRAPH_URL"] == "neo4j://neo4j:7687"
