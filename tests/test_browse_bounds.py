"""Anonymous browse with bounded work (issue 15, finding 6): currencies are checked on reads,
a filter that matches nothing costs a handful of queries, it does not teach the next caller
to start wide, and reads are limited per client address."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, limits_on
from tests.test_catalog_api import listing


def count_statements(services) -> list[dict[str, Any]]:
    """Record the parameters of every statement the graph runs (the real store still runs it)."""
    calls: list[dict[str, Any]] = []
    real = services.store.run

    async def run(st, params=None, *args, **kwargs):
        calls.append({"name": st.name, **(params or {})})
        return await real(st, params, *args, **kwargs)

    services.store.run = run
    return calls


async def test_unknown_currencies_are_refused_on_reads(api: Api) -> None:
    response = await api.call("get", "/v1/products?currency=QQQ&sort=price_desc")
    assert response.status == 422
    assert "currency" in response.json["errors"]


async def test_a_filter_matching_nothing_runs_a_handful_of_queries(api: Api, services) -> None:
    _, seller = await api.signup(display_name="Seller")
    for n in range(3):
        await listing(
            api, seller, title=f"Table {n}", price={"amount": 1000 + n, "currency": "EUR"}
        )
    calls = count_statements(services)
    for min_price in (5, 6, 7):  # varying a bound defeats the cache: each is computed
        url = f"/v1/products?currency=USD&sort=price_desc&min_price={min_price}"
        response = await api.call("get", url)
        assert response.status == 200 and response.json["items"] == []
    windows = [c for c in calls if c["name"].startswith("browse.")]
    assert 0 < len(windows) <= 3 * 10  # was ~57 windows per request

    # and the next caller's ordinary first page starts narrow, not where the miss ended
    calls.clear()
    page = await api.call("get", "/v1/products?sort=price_desc&limit=2")
    assert [p["title"] for p in page.json["items"]] == ["Table 2", "Table 1"]
    first = next(c for c in calls if c["name"].startswith("browse."))
    assert first["lo"] > 1000  # the first window tried, not the whole range


async def test_reads_are_limited_per_address(api: Api, services) -> None:
    with limits_on(services):
        for _ in range(1199):
            await services.limiter.hit("read_ip", "127.0.0.1")
        assert (await api.call("get", "/v1/products")).status == 200
        refused = await api.call("get", "/v1/products")
        assert refused.status == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        assert (await api.call("get", "/v1/heartbeat")).status == 200  # probes are not reads
