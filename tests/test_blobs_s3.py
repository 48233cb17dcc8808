"""The S3 blob store against a real S3-compatible server (S3Proxy, started by the `s3proxy`
fixture): the port's operations, pre-signed forms (what the server enforces, and what it does
not), `vendr blobs move`, and a server on local disk refusing direct uploads."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.cli import main as vendr
from graph.infra.blobs import LocalBlobStore
from graph.infra.blobs_s3 import IMMUTABLE, S3BlobStore, parse_url
from graph.infra.s3proxy_local import S3ProxyInfo
from tests.conftest import Api, png_bytes

SHA = "ab" * 32


def store_on(s3proxy: S3ProxyInfo, url: str) -> S3BlobStore:
    return S3BlobStore.connect(
        url,
        endpoint_url=s3proxy.endpoint_url,
        access_key=s3proxy.access_key,
        secret_key=s3proxy.secret_key,
    )


@pytest.fixture
def bucket(s3proxy: S3ProxyInfo) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    assert store_on(s3proxy, f"s3://{name}").ensure_bucket()
    return name


@pytest.fixture
def store(s3proxy: S3ProxyInfo, bucket: str) -> S3BlobStore:
    return store_on(s3proxy, f"s3://{bucket}/images")


def send_form(form: dict[str, Any], data: bytes, content_type: str, **fields: str) -> int:
    """POST a pre-signed form as a browser does: its fields, then the file."""
    values = form["fields"] | fields
    files = {"file": ("photo", data, content_type)}
    return httpx.post(form["url"], data=values, files=files, timeout=10).status_code


def test_a_blobs_url_names_a_bucket_and_a_prefix() -> None:
    assert parse_url("s3://pics").bucket == "pics" and parse_url("s3://pics").prefix == ""
    assert parse_url("s3://pics/prod/eu/").prefix == "prod/eu/"
    with pytest.raises(ValueError):
        parse_url("/var/blobs")


def test_the_store_puts_gets_lists_and_deletes_blobs(
    s3proxy: S3ProxyInfo, bucket: str, store: S3BlobStore
) -> None:
    before = time.time()
    store.put(SHA, b"full")
    store.put(SHA + ".thumb", b"thumb")
    assert store.get(SHA) == b"full" and store.get(SHA + ".thumb") == b"thumb"
    assert sorted(store.keys()) == [SHA, SHA + ".thumb"]
    assert before - 2 <= store.modified_at(SHA) <= time.time() + 1
    # under the prefix, immutable, a JPEG: what a CDN in front of the bucket serves for good
    head = store._s3.head_object(Bucket=bucket, Key="images/" + SHA)
    assert head["CacheControl"] == IMMUTABLE and head["ContentType"] == "image/jpeg"
    assert store_on(s3proxy, f"s3://{bucket}/other").keys() == []  # another prefix
    store.put(SHA, b"full")  # content-addressed: writing it again changes nothing
    assert store.get(SHA) == b"full"
    store.delete(SHA)
    store.delete(SHA)  # deleting what is gone is no error
    assert store.get(SHA) is None and store.modified_at(SHA) == float("inf")
    assert store.keys() == [SHA + ".thumb"]
    assert store.get("../etc/passwd") is None
    with pytest.raises(ValueError):
        store.put("not-a-hash", b"x")


def test_a_fresh_store_knows_the_listing_time_without_asking(store: S3BlobStore) -> None:
    """The sweeper asks `modified_at` of every key it lists: answered from the listing."""
    store.put(SHA, b"x")
    assert store.keys() == [SHA]
    calls: list[str] = []
    store._s3.meta.events.register("before-call.s3.HeadObject", lambda **kw: calls.append("h"))
    assert store.modified_at(SHA) < time.time() + 1 and calls == []


def test_a_presigned_form_takes_a_file_within_its_bounds(store: S3BlobStore) -> None:
    form = store.presign_upload("u1", "image/png", 1000, 60)
    assert form["fields"]["Content-Type"] == "image/png"
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert send_form(form, png_bytes(), "image/png") == 204
    head = store.head_upload("u1")
    assert head is not None and head.size == len(png_bytes())
    assert head.content_type == "image/png"
    assert store.get_upload("u1", 10_000) == png_bytes()
    assert store.get_upload("u1", 10) == png_bytes()[:11]  # a read is bounded
    assert "u1" not in store.keys()  # raw uploads are not blobs
    store.delete_upload("u1")
    assert store.head_upload("u1") is None and store.get_upload("u1", 10) is None


def test_forms_name_the_endpoint_clients_reach_and_upload_there(
    s3proxy: S3ProxyInfo, bucket: str
) -> None:
    """The server reaches the storage on a private name (a compose network's `minio:9000`),
    clients on a public one: the form points at the public one, and a file sent there lands
    where the server reads it."""
    public = s3proxy.endpoint_url.replace("127.0.0.1", "localhost")
    assert public != s3proxy.endpoint_url
    store = S3BlobStore.connect(
        f"s3://{bucket}",
        endpoint_url=s3proxy.endpoint_url,
        access_key=s3proxy.access_key,
        secret_key=s3proxy.secret_key,
        public_endpoint_url=public,
    )
    form = store.presign_upload("u2", "image/png", 1000, 60)
    assert form["url"].startswith(public + "/")
    assert send_form(form, png_bytes(), "image/png") == 204
    assert store.get_upload("u2", 10_000) == png_bytes()


def test_the_server_refuses_a_form_whose_signature_is_forged(
    s3proxy: S3ProxyInfo, bucket: str, store: S3BlobStore
) -> None:
    form = store.presign_upload("u2", "image/png", 100, 60)
    assert send_form(form, b"x" * 10, "image/png", **{"x-amz-signature": "0" * 64}) == 403
    # the policy widened to a gigabyte, under the signature of the narrow one
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    policy["conditions"] = [
        ["content-length-range", 1, 2**30] if isinstance(c, list) else c
        for c in policy["conditions"]
    ]
    widened = base64.b64encode(json.dumps(policy).encode()).decode()
    assert send_form(form, b"x" * 10, "image/png", policy=widened) == 403
    # signed with another secret
    other = S3BlobStore.connect(
        f"s3://{bucket}/images",
        endpoint_url=s3proxy.endpoint_url,
        access_key=s3proxy.access_key,
        secret_key="not-" + s3proxy.secret_key,
    )
    assert send_form(other.presign_upload("u2", "image/png", 100, 60), b"x", "image/png") == 403
    assert store.head_upload("u2") is None


def test_an_expired_presigned_url_is_refused(store: S3BlobStore) -> None:
    store.put(SHA, b"full")
    url = store._s3.generate_presigned_url(
        "get_object", Params={"Bucket": store.bucket, "Key": "images/" + SHA}, ExpiresIn=1
    )
    assert httpx.get(url).status_code == 200
    time.sleep(2.2)
    assert httpx.get(url).status_code == 403


def test_s3proxy_checks_no_condition_of_a_form_so_confirming_must(store: S3BlobStore) -> None:
    """Measured on S3Proxy 3.0.0: a correctly signed form is accepted beyond its size range,
    with another Content-Type and after its expiry (AWS S3 and MinIO refuse all three). The
    bounds therefore hold through the confirm step's own check of the object
    (tests/test_image_uploads.py), not through the bucket."""
    big = store.presign_upload("u3", "image/png", 10, 60)
    assert send_form(big, b"x" * 100, "image/png") == 204
    other_type = store.presign_upload("u4", "image/png", 100, 60)
    assert send_form(other_type, b"x" * 10, "text/html", **{"Content-Type": "text/html"}) == 204
    late = store.presign_upload("u5", "image/png", 100, 1)
    time.sleep(2.2)
    assert send_form(late, b"x" * 10, "image/png") == 204


def test_vendr_blobs_move_copies_the_local_blobs_once(
    s3proxy: S3ProxyInfo,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local = LocalBlobStore(tmp_path / "blobs")
    keys = [f"{n:064x}" for n in range(3)]
    for key in keys:
        local.put(key, key.encode())
        local.put(key + ".thumb", b"t" + key.encode())
    for name, value in {
        "VENDR_DATA_DIR": str(tmp_path),
        "VENDR_S3_ENDPOINT_URL": s3proxy.endpoint_url,
        "VENDR_S3_ACCESS_KEY": s3proxy.access_key,
        "VENDR_S3_SECRET_KEY": s3proxy.secret_key,
    }.items():
        monkeypatch.setenv(name, value)
    url = f"s3://{bucket}/moved"
    assert vendr(["blobs", "move", "--to", url]) == 0
    assert "6 copied, 0 already there, 0 deleted" in capsys.readouterr().out
    target = store_on(s3proxy, url)
    assert sorted(target.keys()) == sorted(local.keys())
    assert target.get(keys[1]) == keys[1].encode()
    assert vendr(["blobs", "move", "--to", url]) == 0  # again: nothing twice
    assert "0 copied, 6 already there, 0 deleted" in capsys.readouterr().out
    local.put("f" * 64, b"new")
    monkeypatch.setenv("VENDR_BLOBS_URL", url)  # the configured store, no --to
    assert vendr(["blobs", "move", "--delete"]) == 0
    assert "1 copied, 6 already there, 7 deleted" in capsys.readouterr().out
    assert local.keys() == [] and len(target.keys()) == 7
    # a bucket that is not there is made on request
    fresh = f"s3://{bucket}-new"
    assert vendr(["blobs", "move", "--to", fresh, "--create-bucket"]) == 0
    assert "created bucket" in capsys.readouterr().out


async def test_a_server_keeping_images_on_disk_refuses_direct_uploads(api: Api) -> None:
    _, token = await api.signup()
    body = {"content_type": "image/png", "bytes": 1000}
    refused = await api.call("post", "/v1/images/uploads", token, json=body)
    assert refused.status == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "POST /v1/images" in refused.json["detail"]
    files = {"image": ("p.png", png_bytes(), "image/png")}
    assert (await api.call("post", "/v1/images", token, files=files)).status == 201


def test_vendr_blobs_s3proxy_runs_a_local_bucket_until_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VENDR_DATA_DIR", str(tmp_path))
    try:
        assert vendr(["blobs", "s3proxy", "start"]) == 0
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in capsys.readouterr().out.splitlines()
            if line.startswith("export ")
        )
        assert exports["VENDR_BLOBS_URL"] == "s3://vendr"
        store = S3BlobStore.connect(
            exports["VENDR_BLOBS_URL"],
            endpoint_url=exports["VENDR_S3_ENDPOINT_URL"],
            access_key=exports["VENDR_S3_ACCESS_KEY"],
            secret_key=exports["VENDR_S3_SECRET_KEY"],
        )
        store.put(SHA, b"kept on disk")
        assert store.get(SHA) == b"kept on disk"
        assert vendr(["blobs", "s3proxy", "start"]) == 0  # again: the same server
        assert "already running" in capsys.readouterr().out
        assert vendr(["blobs", "s3proxy", "status"]) == 0
    finally:
        assert vendr(["blobs", "s3proxy", "stop"]) == 0
    assert "stopped" in capsys.readouterr().out
    assert vendr(["blobs", "s3proxy", "status"]) == 1
