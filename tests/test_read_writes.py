"""Reads that write, bounded (issue 15, finding 5): a view is recorded once per person, listing
and period and within a per-person rate; marking a room read writes only when there was
something unread; high-volume events are purged after the retention period, the rest kept."""

from __future__ import annotations

from graph.catalog.windows import DAY_MS
from graph.infra.ids import now_ms
from tests.conftest import Api, limits_on, read
from tests.test_catalog_api import listing


async def views_of(services, product_id: str) -> tuple[int, int]:
    await services.jobs.flush_views()  # views are queued, and counted by the worker's round
    edges = await read(
        services,
        "MATCH (:User)-[v:VIEWED]->(:Product {id: $id}) RETURN coalesce(sum(v.count), 0) AS n",
        id=product_id,
    )
    events = await read(
        services,
        "MATCH (e:Event {type: 'product.viewed', subject_id: $id}) RETURN count(e) AS n",
        id=product_id,
    )
    return int(edges[0]["n"]), int(events[0]["n"])


async def test_reloading_a_listing_records_one_view(api: Api, services) -> None:
    _, seller = await api.signup(display_name="Seller")
    _, viewer = await api.signup(display_name="Viewer")
    product = await listing(api, seller)
    for _ in range(5):
        assert (await api.call("get", f"/v1/products/{product['id']}", viewer)).status == 200
    assert await views_of(services, product["id"]) == (1, 1)


async def test_views_past_the_rate_are_served_but_not_recorded(api: Api, services) -> None:
    _, seller = await api.signup(display_name="Seller")
    viewer, token = await api.signup(display_name="Crawler")
    products = [await listing(api, seller, title=f"Chair {n}") for n in range(2)]
    with limits_on(services):
        for _ in range(299):  # the view budget (300/hour) but one
            await services.limiter.count("view_user", viewer["id"])
        for product in products:
            got = await api.call("get", f"/v1/products/{product['id']}", token)
            assert got.status == 200  # the read itself is never refused for this
    assert await views_of(services, products[0]["id"]) == (1, 1)
    assert await views_of(services, products[1]["id"]) == (0, 0)


async def test_marking_a_room_read_writes_only_when_something_was_unread(
    api: Api, services
) -> None:
    _, seller = await api.signup(display_name="Seller")
    _, buyer = await api.signup(display_name="Buyer")
    product = await listing(api, seller)
    room = (await api.call("post", "/v1/rooms", buyer, json={"product_id": product["id"]})).json
    sent = await api.call("post", f"/v1/rooms/{room['id']}/messages", buyer, json={"text": "Hi"})
    assert sent.status == 201
    for _ in range(4):
        assert (await api.call("post", f"/v1/rooms/{room['id']}/read", seller)).status == 204
    count = "MATCH (e:Event {type: 'room.read', actor_id: $me}) RETURN count(e) AS n"
    seller_id = (await api.call("get", "/v1/users/me", seller)).json["id"]
    assert (await read(services, count, me=seller_id))[0]["n"] == 1
    await api.call("post", f"/v1/rooms/{room['id']}/messages", buyer, json={"text": "Still?"})
    assert (await api.call("post", f"/v1/rooms/{room['id']}/read", seller)).status == 204
    assert (await read(services, count, me=seller_id))[0]["n"] == 2
    rooms = (await api.call("get", "/v1/rooms", seller)).json["items"]
    assert rooms[0]["unread"] == 0


async def test_volume_events_are_purged_after_retention_and_decisions_kept(services) -> None:
    old = now_ms() - int(services.settings.event_retention_days * DAY_MS) - DAY_MS
    recent = now_ms() - DAY_MS
    rows = [
        ("product.viewed", old),
        ("room.read", old),
        ("user.logged_in", old),
        ("product.viewed", recent),
        ("order.placed", old),
        ("moderation.suspend", old),
    ]
    for n, (kind, at) in enumerate(rows):
        await services.store.run_text(
            "CREATE (:Event {id: $id, type: $type, at: $at, actor_id: 'u', subject_id: 's',"
            " data: '{}'})",
            {"id": f"ev{n}", "type": kind, "at": at},
            write=True,
        )
    report = await services.jobs.run_once()
    assert report.purged_events == 3
    left = await read(
        services,
        "MATCH (e:Event) WHERE e.id STARTS WITH 'ev' RETURN e.type AS t, e.at AS at ORDER BY e.id",
    )
    assert [(r["t"], r["at"]) for r in left] == [
        ("product.viewed", recent),
        ("order.placed", old),
        ("moderation.suspend", old),
    ]
