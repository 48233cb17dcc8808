"""The store and small pure pieces: values round-trip as parameters, ids, trust maths."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from graph.accounts.commands import Signup, UpdateProfile
from graph.bootstrap import Services, bootstrap, shutdown
from graph.infra.errors import Conflict, StoreError, Unavailable
from graph.infra.ids import iso, new_id
from graph.trust import score
from tests.conftest import make_settings

# any text a client might send, NUL excepted (refused at the edge)
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
)


@pytest.fixture(scope="module")
def loop_and_services(data_dir: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Services, str]]:
    loop = asyncio.new_event_loop()
    services = loop.run_until_complete(bootstrap(make_settings(data_dir)))
    user, _ = loop.run_until_complete(
        services.accounts.signup(
            Signup(email="rt@example.org", password="long enough", display_name="RT")
        )
    )
    yield loop, services, user["id"]
    loop.run_until_complete(services.store.drop_all())
    loop.run_until_complete(shutdown(services))
    loop.close()


@given(text=TEXT)
@hsettings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_text_round_trips_through_parameters_unchanged(
    loop_and_services: Any, text: str
) -> None:
    loop, services, user_id = loop_and_services
    row = loop.run_until_complete(
        services.accounts.update_profile(UpdateProfile(user_id, bio=text))
    )
    assert row["bio"] == text
    assert loop.run_until_complete(services.accounts.me(user_id))["bio"] == text


def test_cypher_in_a_value_stays_a_value(loop_and_services: Any) -> None:
    loop, services, user_id = loop_and_services
    evil = '"}) MATCH (n) DETACH DELETE n //'
    loop.run_until_complete(services.accounts.update_profile(UpdateProfile(user_id, bio=evil)))
    assert loop.run_until_complete(services.accounts.me(user_id))["bio"] == evil


def test_ids_are_unique_and_sort_by_creation_time() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)
    assert ids == sorted(ids)  # text order is creation order, within a millisecond too


def test_iso_times_are_utc_with_milliseconds() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(None) is None


def test_trust_of_a_new_unverified_account_is_zero() -> None:
    now = 1_800_000_000_000
    result = score.score(score.Person(id="u", created_at=now), {}, now)
    assert result["score"] == 0
    assert all(c["points"] == 0 and c["why"] for c in result["components"].values())


def test_trust_components_are_capped_and_sum_to_the_score() -> None:
    now = 1_800_000_000_000
    trusted = {f"r{i}": 1.0 for i in range(50)} | {"u": 1.0}
    person = score.Person(
        id="u",
        created_at=now - 5 * 365 * score.DAY_MS,
        email_verified=True,
        phone_verified=True,
        socials=10,
        partners=[f"r{i}" for i in range(50)],
        reviews=[(f"r{i}", 5) for i in range(50)],
    )
    result = score.score(person, trusted, now)
    assert result["score"] == 100
    assert {k: c["points"] for k, c in result["components"].items()} == score.POINTS
    # partial strengths round to whole points that still add up to the score
    for age_days in range(0, 400, 7):
        half = score.Person(
            id="u",
            created_at=now - age_days * score.DAY_MS,
            socials=1,
            partners=["r1", "r2"],
            reviews=[("r1", 4)],
        )
        got = score.score(half, {"r1": 0.3, "r2": 0.7, "u": 0.41}, now)
        parts = got["components"].values()
        assert sum(c["points"] for c in parts) == got["score"]
        assert all(0 <= c["points"] <= c["max"] for c in parts)


def test_a_perfect_rating_from_untrusted_reviewers_counts_for_nothing() -> None:
    now = 1_800_000_000_000
    fakes = score.Person(id="u", created_at=now, reviews=[(f"f{i}", 5) for i in range(20)])
    honest = score.Person(id="v", created_at=now, reviews=[("anchor", 5)])
    network = {f"f{i}": 0.0 for i in range(20)} | {"anchor": 1.0}
    assert score.ratings(fakes, network)[0] == 0
    assert "none yet from reviewers Vendr trusts" in score.ratings(fakes, network)[1]
    assert score.ratings(honest, network)[0] > 0.15


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        # a statement the server ended at its timeout (waiting for a lock a queue holds on a
        # loaded machine): nothing was written, the client is told to retry (503)
        ("Neo.ClientError.Transaction.LockClientStopped", Unavailable),
        ("Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration", Unavailable),
        ("Neo.TransientError.Transaction.DeadlockDetected", Unavailable),
        ("Neo.ClientError.Schema.ConstraintValidationFailed", Conflict),
        ("Neo.ClientError.Statement.SyntaxError", StoreError),  # a bug of ours: a 500
    ],
)
def test_neo4j_errors_become_the_domain_errors_a_client_can_act_on(code: str, kind: type) -> None:
    from neo4j.exceptions import Neo4jError

    from graph.infra.store.neo4j import translate

    error = Neo4jError._hydrate_neo4j(code=code, message="from the server")
    assert type(translate(error)) is kind
