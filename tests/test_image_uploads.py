"""Direct uploads through the app on object storage (a real S3Proxy, the `s3proxy` fixture), on
both backends: a pre-signed form, the file sent straight to the bucket, confirmation, the
background worker's processing; what is refused and when; and image URLs behind a CDN."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from graph import worker
from graph.bootstrap import Services
from graph.catalog import UploadService, run_uploads
from graph.infra.blobs_s3 import S3BlobStore
from graph.infra.s3proxy_local import S3ProxyInfo
from tests.conftest import Api, jpeg_bytes, png_bytes, read

CDN = "https://cdn.vendr.test/img"


@pytest.fixture
def upload_ttl() -> dict[str, Any]:
    """A test may parametrize this: {"upload_ttl_seconds": 1}."""
    return {}


@pytest.fixture
def settings_overrides(s3proxy: S3ProxyInfo, upload_ttl: dict[str, Any]) -> dict[str, Any]:
    bucket = f"u-{uuid.uuid4().hex[:12]}"
    values = s3proxy.settings(bucket, "images")
    S3BlobStore.connect(
        values["blobs_url"],
        endpoint_url=s3proxy.endpoint_url,
        access_key=s3proxy.access_key,
        secret_key=s3proxy.secret_key,
    ).ensure_bucket()
    return {**values, "images_base_url": CDN + "/", **upload_ttl}


def bucket_of(services: Services) -> S3BlobStore:
    assert isinstance(services.blobs, S3BlobStore)
    return services.blobs


async def ask(api: Api, token: str, data: bytes, content_type: str = "image/png") -> Any:
    body = {"content_type": content_type, "bytes": len(data)}
    form = await api.call("post", "/v1/images/uploads", token, json=body)
    assert form.status == 201, form.text
    return form.json


def send(form: dict[str, Any], data: bytes, content_type: str = "image/png") -> int:
    files = {"file": ("photo", data, content_type)}
    values = form["fields"] | {"Content-Type": content_type}
    return httpx.post(form["url"], data=values, files=files, timeout=10).status_code


async def uploaded(api: Api, token: str, data: bytes) -> dict[str, Any]:
    """Ask, send and confirm one picture: the form."""
    form = await ask(api, token, data)
    assert send(form, data) == 204
    confirmed = await api.call("post", f"/v1/images/uploads/{form['id']}/confirm", token)
    assert confirmed.status == 202, confirmed.text
    return form


async def state(api: Api, token: str, upload_id: str) -> dict[str, Any]:
    answer = await api.call("get", f"/v1/images/uploads/{upload_id}", token)
    assert answer.status == 200, answer.text
    return dict(answer.json)


def listing_body(image_ids: list[str]) -> dict[str, Any]:
    return {
        "title": "Oak table",
        "price": {"amount": 12_500, "currency": "EUR"},
        "location": {"lat": 52.37, "lon": 4.89},
        "tags": ["oak"],
        "image_ids": image_ids,
    }


async def images_in_graph(services: Services) -> int:
    return int((await read(services, "MATCH (i:Image) RETURN count(i) AS n"))[0]["n"])


async def test_a_picture_goes_straight_to_the_bucket_and_becomes_a_listing_photo(
    api: Api, services: Services
) -> None:
    _, token = await api.signup()
    picture = png_bytes((800, 600), color="navy")
    form = await ask(api, token, picture)
    assert form["max_bytes"] == len(picture) and form["expires_at"].endswith("Z")
    assert form["url"].startswith("http://127.0.0.1:")
    assert send(form, picture) == 204
    assert (await state(api, token, form["id"]))["status"] == "pending"
    url = f"/v1/images/uploads/{form['id']}/confirm"
    confirmed = await api.call("post", url, token)
    assert confirmed.status == 202 and confirmed.json == {"id": form["id"], "status": "processing"}
    again = await api.call("post", url, token)  # confirming twice queues it once
    assert again.status == 202 and again.json["status"] == "processing"
    assert await services.uploads.turn() == 1  # the background worker's step
    done = await state(api, token, form["id"])
    assert done["status"] == "ready", done
    image = done["image"]
    assert (image["width"], image["height"]) == (800, 600)
    # behind the CDN: the content-addressed object's URL, which never changes
    assert image["url"] == f"{CDN}/{image['id']}"
    assert image["thumb_url"] == f"{CDN}/{image['id']}.thumb"
    bucket = bucket_of(services)
    assert sorted(bucket.keys()) == [image["id"], image["id"] + ".thumb"]
    assert bucket.head_upload(form["id"]) is None  # the raw upload is gone
    product = await api.call("post", "/v1/products", token, json=listing_body([image["id"]]))
    assert product.status == 201, product.text
    assert product.json["images"][0]["url"] == f"{CDN}/{image['id']}"
    query = {"query": f'{{ product(id: "{product.json["id"]}") {{ images {{ thumbUrl }} }} }}'}
    graph = await api.call("post", "/graphql", token, json=query)
    assert graph.json["data"]["product"]["images"] == [{"thumbUrl": image["thumb_url"]}]
    # the API still serves the bytes, from the bucket, cached for good
    served = await api.call("get", f"/v1/images/{image['id']}?size=thumb")
    assert served.status == 200 and served.content[:3] == b"\xff\xd8\xff"
    assert "immutable" in served.headers["cache-control"]
    assert served.content == bucket.get(image["id"] + ".thumb")


async def test_an_upload_is_never_attachable_until_the_worker_made_an_image(
    api: Api, services: Services
) -> None:
    _, token = await api.signup()
    picture = png_bytes(color="olive")
    form = await ask(api, token, picture)
    assert send(form, picture) == 204
    for step in ("sent", "confirmed"):
        refused = await api.call("post", "/v1/products", token, json=listing_body([form["id"]]))
        assert refused.status == 422, (step, refused.text)
        assert "image_ids" in str(refused.json["errors"])
        assert await images_in_graph(services) == 0
        if step == "sent":
            url = f"/v1/images/uploads/{form['id']}/confirm"
            assert (await api.call("post", url, token)).status == 202
    # nor is the raw object's own address an image: only the re-encoded one has a node
    assert bucket_of(services).head_upload(form["id"]) is not None
    await services.uploads.turn()
    ready = await state(api, token, form["id"])
    product = await api.call(
        "post", "/v1/products", token, json=listing_body([ready["image"]["id"]])
    )
    assert product.status == 201, product.text


async def test_a_file_beyond_the_signed_size_is_refused_when_confirmed(
    api: Api, services: Services
) -> None:
    """S3Proxy lets the bigger file in (tests/test_blobs_s3.py): confirming refuses it."""
    _, token = await api.signup()
    form = await ask(api, token, png_bytes())
    assert send(form, png_bytes((640, 480), color="red", compress_level=0)) == 204
    refused = await api.call("post", f"/v1/images/uploads/{form['id']}/confirm", token)
    assert refused.status == 422 and refused.json["errors"] == {"image": "too large"}
    failed = await state(api, token, form["id"])
    assert failed["status"] == "failed" and "more than" in failed["error"]
    assert bucket_of(services).head_upload(form["id"]) is None


async def test_a_file_sent_as_another_type_is_refused_when_confirmed(
    api: Api, services: Services
) -> None:
    _, token = await api.signup()
    form = await ask(api, token, png_bytes())
    assert send(form, png_bytes(), "text/html") == 204
    refused = await api.call("post", f"/v1/images/uploads/{form['id']}/confirm", token)
    assert refused.status == 422 and refused.json["errors"] == {"image": "unsupported"}
    assert (await state(api, token, form["id"]))["status"] == "failed"


@pytest.mark.parametrize("upload_ttl", [{"upload_ttl_seconds": 1}])
async def test_a_file_sent_after_the_form_expired_is_refused(api: Api, services: Services) -> None:
    _, token = await api.signup()
    form = await ask(api, token, png_bytes())
    await asyncio.sleep(4.2)  # past the form's second and the allowed clock skew
    assert send(form, png_bytes()) == 204  # S3Proxy does not check the policy's expiry
    refused = await api.call("post", f"/v1/images/uploads/{form['id']}/confirm", token)
    assert refused.status == 409 and "expired" in refused.json["detail"]
    assert (await state(api, token, form["id"]))["status"] == "failed"
    assert bucket_of(services).head_upload(form["id"]) is None


async def test_what_is_not_a_picture_ends_failed_with_its_reason_and_no_image(
    api: Api, services: Services
) -> None:
    _, token = await api.signup()
    fake = b"<html>not a picture</html>"
    await uploaded(api, token, fake)
    form = await ask(api, token, jpeg_bytes()[:40])  # a JPEG cut short
    assert send(form, jpeg_bytes()[:40]) == 204
    assert (await api.call("post", f"/v1/images/uploads/{form['id']}/confirm", token)).status == 202
    assert await services.uploads.turn() == 2
    last = await state(api, token, form["id"])
    assert last["status"] == "failed" and "unreadable" in last["error"]
    assert await images_in_graph(services) == 0
    assert bucket_of(services).keys() == []


async def test_an_upload_is_its_owners_alone_and_must_be_sent_before_confirming(
    api: Api,
) -> None:
    _, owner = await api.signup()
    _, other = await api.signup()
    form = await ask(api, owner, png_bytes())
    url = f"/v1/images/uploads/{form['id']}"
    assert (await api.call("get", url, other)).status == 404
    assert (await api.call("post", url + "/confirm", other)).status == 404
    early = await api.call("post", url + "/confirm", owner)
    assert early.status == 409 and "nothing was uploaded" in early.json["detail"]
    assert (await api.call("get", "/v1/images/uploads/" + "0" * 32, owner)).status == 404
    assert (await api.call("get", "/v1/images/uploads/x", owner)).status == 404
    assert (await api.call("get", url)).status == 401
    too_big = {"content_type": "image/png", "bytes": 10 * 1024 * 1024 + 1}
    refused = await api.call("post", "/v1/images/uploads", owner, json=too_big)
    assert refused.status == 422 and refused.json["errors"] == {"image": "too large"}
    other_type = {"content_type": "image/svg+xml", "bytes": 100}
    assert (await api.call("post", "/v1/images/uploads", owner, json=other_type)).status == 422


async def test_two_workers_process_each_upload_once(api: Api, services: Services) -> None:
    _, token = await api.signup()
    forms = [await uploaded(api, token, png_bytes(color=c)) for c in ("red", "lime", "blue")]
    settings = services.settings
    second = UploadService(
        services.images, bucket_of(services), services.redis, settings.redis_prefix, settings
    )
    counts = await asyncio.gather(services.uploads.turn(), second.turn())
    assert sum(counts) == 3
    states = [await state(api, token, f["id"]) for f in forms]
    assert [s["status"] for s in states] == ["ready"] * 3
    assert await images_in_graph(services) == 3


async def test_an_upload_a_dead_worker_held_is_taken_up_again(api: Api, services: Services) -> None:
    _, token = await api.signup()
    form = await uploaded(api, token, png_bytes(color="pink"))
    prefix = services.settings.redis_prefix
    # a worker claimed it and died before taking its lease
    await services.redis.lmove(f"{prefix}uploads:queue", f"{prefix}uploads:processing")
    assert await services.uploads.process_next() is None  # nothing waits in the queue
    assert await services.uploads.requeue_lost() == 1
    assert await services.uploads.turn() == 1
    assert (await state(api, token, form["id"]))["status"] == "ready"


@pytest.mark.parametrize("loop", ["uploads", "worker"])
async def test_the_background_worker_processes_confirmed_uploads(
    api: Api, services: Services, loop: str
) -> None:
    """The uploads' loop alone, and `vendr worker`'s run, which starts it on object storage."""
    _, token = await api.signup()
    stop = asyncio.Event()
    running = (
        run_uploads(services.uploads, stop, poll_s=0.05)
        if loop == "uploads"
        else worker.run(services, stop)
    )
    task = asyncio.create_task(running)
    try:
        form = await uploaded(api, token, jpeg_bytes((300, 200)))
        deadline = time.monotonic() + 20
        while (found := await state(api, token, form["id"]))["status"] == "processing":
            assert time.monotonic() < deadline, "the loop did not process it"
            await asyncio.sleep(0.05)
        assert found["status"] == "ready"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_raw_uploads_nobody_confirmed_are_swept(api: Api, services: Services) -> None:
    _, token = await api.signup()
    form = await ask(api, token, png_bytes())
    assert send(form, png_bytes()) == 204
    assert await services.uploads.sweep() == 0  # still within its window
    assert await services.uploads.sweep(now=time.time() + 2 * 3600) == 1
    assert bucket_of(services).head_upload(form["id"]) is None


async def test_the_direct_upload_answers_are_as_the_contract_documents(
    api: Api, services: Services
) -> None:
    from tests.test_contract import Contract

    spec = (await api.call("get", "/docs/openapi.json")).json
    c = Contract(spec)
    _, token = await api.signup()
    picture = png_bytes(color="maroon")
    body = {"content_type": "image/png", "bytes": len(picture)}
    form = (await c.call(api, "post", "/v1/images/uploads", token, json=body)).json
    url = f"/v1/images/uploads/{form['id']}"
    await c.call(api, "post", url + "/confirm", token)  # 409: nothing uploaded yet
    assert send(form, picture) == 204
    await c.call(api, "get", url, token)  # pending
    await c.call(api, "post", url + "/confirm", token)
    await services.uploads.turn()
    ready = await c.call(api, "get", url, token)
    assert ready.json["status"] == "ready"
    big = await ask(api, token, picture[:10])
    assert send(big, picture) == 204
    await c.call(api, "post", f"/v1/images/uploads/{big['id']}/confirm", token)  # 422
    await c.call(api, "get", f"/v1/images/uploads/{big['id']}", token)  # failed
    await c.call(api, "get", "/v1/images/uploads/" + "0" * 32, token)  # 404
    await c.call(api, "post", "/v1/images/uploads", token, json={"bytes": 1})  # 422
    assert {s for _, _, s in c.checked} == {200, 201, 202, 404, 409, 422}
