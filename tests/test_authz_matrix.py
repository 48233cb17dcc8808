"""Who may touch what (issue 15): every route that takes an id, read from the route table so a
new route is covered (or fails here until it is placed), called with the ids of one owner's
things by a stranger, someone the owner blocked, a suspended account, a deleted account and
nobody. No route lets any of them change or read what is not theirs; and nothing of the
owner's has changed afterwards."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from graph.infra.blobs_s3 import S3BlobStore
from graph.infra.s3proxy_local import S3ProxyInfo
from tests.conftest import Api, png_bytes, read
from tests.test_deals_api import offer, order, parties
from tests.test_image_uploads import ask, send
from tests.test_moderation import report

# path parameters that are not someone's thing: the caller's own channel or provider, a
# development provider's outcome
SELF_PARAMS = {"channel", "provider", "outcome"}
DEV_PREFIX = "/v1/dev/"

# what anyone signed in may do with someone else's listing or profile: look at it, and act
# as a buyer (offer, order, swipe, save, cart) or block them
OPEN_TO_ALL = {
    ("GET", "/v1/products/{product_id}"),
    ("GET", "/v1/users/{user_id}"),
    ("GET", "/v1/users/{user_id}/collections"),
    ("GET", "/v1/users/{user_id}/products"),
    ("GET", "/v1/users/{user_id}/reviews"),
    ("GET", "/v1/collections/{collection_id}"),
    ("GET", "/v1/images/{image_id}"),
    ("POST", "/v1/products/{product_id}/offers"),
    ("POST", "/v1/products/{product_id}/orders"),
    ("POST", "/v1/products/{product_id}/swipe"),
    ("PUT", "/v1/cart/items/{product_id}"),
    ("DELETE", "/v1/cart/items/{product_id}"),
    ("PUT", "/v1/users/me/saved/{product_id}"),
    ("DELETE", "/v1/users/me/saved/{product_id}"),
    ("POST", "/v1/users/{user_id}/block"),
    ("DELETE", "/v1/users/{user_id}/block"),
}
# what someone the owner blocked may still do: see pictures, block or unblock back, and take
# the listing out of their own cart and saved list
OPEN_WHEN_BLOCKED = {
    ("GET", "/v1/images/{image_id}"),
    ("POST", "/v1/users/{user_id}/block"),
    ("DELETE", "/v1/users/{user_id}/block"),
    ("DELETE", "/v1/cart/items/{product_id}"),
    ("DELETE", "/v1/users/me/saved/{product_id}"),
}
# lists scoped to the caller: someone else gets an empty list, never the owner's items
SCOPED_LISTS = {
    ("GET", "/v1/products/{product_id}/promotions"),
    ("GET", "/v1/users/{user_id}/collections"),
}
# bodies that would succeed for the owner or the other party, so a refusal is about who
# calls, not about what was sent
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/products/{product_id}"): {"title": "Hijacked"},
    ("POST", "/v1/products/{product_id}/offers"): {"amount": 9_000},
    ("POST", "/v1/products/{product_id}/orders"): {"quantity": 1},
    ("POST", "/v1/products/{product_id}/swipe"): {"dir": "left"},
    ("PUT", "/v1/cart/items/{product_id}"): {"quantity": 1},
    ("POST", "/v1/products/{product_id}/promotions"): {"plan": "day"},
    ("PATCH", "/v1/collections/{collection_id}"): {"name": "Hijacked"},
    ("POST", "/v1/offers/{offer_id}/counter"): {"amount": 1},
    ("POST", "/v1/orders/{order_id}/review"): {"rating": 1, "comment": "hijacked"},
    ("POST", "/v1/orders/{order_id}/payment"): {},
    ("POST", "/v1/reviews/{review_id}/reply"): {"text": "hijacked"},
    ("POST", "/v1/rooms/{room_id}/messages"): {"text": "hijacked"},
    ("DELETE", "/v1/products/{product_id}"): {},
}
PARAM = re.compile(r"<(\w+)(?::[^>]+)?>")


def routes_with_ids(api: Api) -> list[tuple[str, str, list[str]]]:
    out = []
    for route in api.app.router.routes:
        names = PARAM.findall(route.uri)
        if not names or route.extra.websocket or route.uri.startswith(DEV_PREFIX):
            continue
        if set(names) & SELF_PARAMS:
            continue
        template = PARAM.sub(lambda m: "{" + m.group(1) + "}", route.uri)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            out.append((method, template, names))
    return sorted(out)


@pytest.fixture
def settings_overrides(s3proxy: S3ProxyInfo) -> dict[str, Any]:
    """Images in a bucket (a real S3Proxy): the direct-upload routes take an upload's id."""
    values = s3proxy.settings(f"authz-{uuid.uuid4().hex[:12]}", "images")
    S3BlobStore.connect(
        values["blobs_url"],
        endpoint_url=s3proxy.endpoint_url,
        access_key=s3proxy.access_key,
        secret_key=s3proxy.secret_key,
    ).ensure_bucket()
    return dict(values)


async def world(api: Api) -> dict[str, Any]:
    """The owner (a shop) and the things of theirs the routes take ids of, with a buyer as
    the other party in a room, an offer, an order and a review."""
    owner, party, stranger, product = await parties(api, quantity=5)
    owner_id = product["seller"]["id"]
    room = await api.call("post", "/v1/rooms", party, json={"product_id": product["id"]})
    room_id = room.json["id"]
    await api.call("post", f"/v1/rooms/{room_id}/messages", party, json={"text": "Hello"})
    made = await offer(api, party, product["id"], 10_000)
    placed = await order(api, party, product["id"])
    order_id = placed.json["id"]
    assert (await api.call("post", f"/v1/orders/{order_id}/confirm", owner)).status == 200
    assert (await api.call("post", f"/v1/orders/{order_id}/complete", party)).status == 200
    written = await api.call(
        "post", f"/v1/orders/{order_id}/review", owner, json={"rating": 5, "comment": "Quick"}
    )
    collection = await api.call(
        "post", "/v1/collections", owner, json={"name": "Summer", "product_ids": [product["id"]]}
    )
    promotion = await api.call(
        "post", f"/v1/products/{product['id']}/promotions", owner, json={"plan": "day"}
    )
    search = await api.call("post", "/v1/users/me/searches", owner, json={"q": "lamp"})
    upload = await ask(api, owner, png_bytes())  # sent, not yet confirmed: a stranger may not
    assert send(upload, png_bytes()) == 204
    ids = {
        "product_id": product["id"],
        "user_id": owner_id,
        "room_id": room_id,
        "offer_id": made.json["id"],
        "order_id": order_id,
        "review_id": written.json["id"],
        "collection_id": collection.json["id"],
        "promotion_id": promotion.json["id"],
        "search_id": search.json["id"],
        "image_id": product["images"][0]["id"],
        "upload_id": upload["id"],
    }
    assert all(ids.values()), ids
    return {"owner": owner, "party": party, "stranger": stranger, "ids": ids}


async def callers(api: Api, services, owner: str) -> dict[str, str | None]:
    _, blocked = await api.signup(display_name="Blocked")
    blocked_id = (await api.call("get", "/v1/users/me", blocked)).json["id"]
    assert (await api.call("post", f"/v1/users/{blocked_id}/block", owner)).status in (200, 204)
    suspended_user, suspended = await api.signup(display_name="Suspended")
    _, reporter = await api.signup(display_name="Reporter")
    filed = await report(api, reporter, "user", suspended_user["id"], "scam")
    await services.moderation.resolve(filed.json["id"], "suspend", "mod_ann", "scam")
    _, deleted = await api.signup(display_name="Deleted")
    gone = await api.call(
        "delete", "/v1/users/me", deleted, json={"password": "correct horse battery"}
    )
    assert gone.status == 204
    return {"blocked": blocked, "suspended": suspended, "deleted": deleted, "nobody": None}


async def test_nobody_touches_what_is_not_theirs(api: Api, services) -> None:
    w = await world(api)
    ids = w["ids"]
    who = {"stranger": w["stranger"]} | await callers(api, services, w["owner"])
    before = await snapshot(services, ids)
    wrong: list[str] = []
    checked = 0
    for method, template, names in routes_with_ids(api):
        missing = [n for n in names if n not in ids]
        assert not missing, f"{method} {template}: give the matrix an owner's {missing}"
        url = template.format(**{n: ids[n] for n in names})
        body = BODIES.get((method, template))
        for role, token in who.items():
            kw = {"json": body} if body is not None else {}
            response = await api.call(method.lower(), url, token, **kw)
            checked += 1
            status = response.status
            key = (method, template)
            public = method == "GET" and key in OPEN_TO_ALL
            empty = status == 200 and key in SCOPED_LISTS and response.json["items"] == []
            if role in ("suspended", "deleted"):
                # their tokens are dead everywhere a token is read; public pictures need none
                ok = status == 401 or (key == ("GET", "/v1/images/{image_id}") and status == 200)
            elif role == "nobody":
                ok = status == 401 or (public and status < 500)
            else:
                allowed = OPEN_TO_ALL if role == "stranger" else OPEN_WHEN_BLOCKED
                ok = status < 500 and (status >= 400 or key in allowed or empty)
            if not ok:
                wrong.append(f"{role:9} {method:6} {template} -> {status} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)
    assert checked > 5 * 40
    assert await snapshot(services, ids) == before


async def snapshot(services, ids: dict[str, str]) -> dict[str, Any]:
    """What of the owner's a stranger's request must not change."""
    product = await read(
        services,
        "MATCH (p:Product {id: $id}) RETURN p.title AS title, p.status AS status, p.price AS price",
        id=ids["product_id"],
    )
    messages = await read(
        services,
        "MATCH (m:Message)-[:IN]->(:Room {id: $id}) RETURN count(m) AS n",
        id=ids["room_id"],
    )
    states = await read(
        services,
        "MATCH (o:Offer {id: $offer}) MATCH (d:Order {id: $order})"
        " MATCH (c:Collection {id: $collection})"
        " RETURN o.status AS offer, d.status AS order, c.name AS collection",
        offer=ids["offer_id"],
        order=ids["order_id"],
        collection=ids["collection_id"],
    )
    uploads = await read(
        services,
        "MATCH (p:Product {id: $id})<-[:LISTED]-(u:User) RETURN u.id AS owner",
        id=ids["product_id"],
    )
    upload = await services.uploads.status(uploads[0]["owner"], ids["upload_id"])
    return {
        "product": product,
        "messages": messages,
        "states": states,
        "upload": upload["status"],
    }
