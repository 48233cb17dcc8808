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

from graph import trust
from graph.bootstrap import Services, bootstrap, shutdown
from graph.commands import Signup, UpdateProfile
from graph.ids import iso, new_id
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
    assert trust.baseline({"created_at": now}, now=now)["score"] == 0


def test_trust_components_are_capped_and_sum_to_the_score() -> None:
    now = 1_800_000_000_000
    row = {
        "created_at": now - 5 * 365 * trust.DAY_MS,
        "email_verified": True,
        "phone_verified": True,
        "socials": 10,
        "completed_orders": 500,
        "reviews": 100,
        "rating": 5.0,
    }
    result = trust.baseline(row, now=now)
    assert result["score"] == 100
    assert result["components"]["verified_socials"] == 15


def test_a_perfect_rating_from_one_review_counts_little() -> None:
    now = 1_800_000_000_000
    one = trust.baseline({"created_at": now, "reviews": 1, "rating": 5.0}, now=now)
    many = trust.baseline({"created_at": now, "reviews": 20, "rating": 5.0}, now=now)
    assert one["components"]["rating"] < many["components"]["rating"] / 5
