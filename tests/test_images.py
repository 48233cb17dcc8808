"""Image intake: only real images, bombs refused, re-encoded without metadata, thumbnails."""

from __future__ import annotations

import asyncio
import io
import os
import struct
import threading
import time
import zlib

import pytest
from PIL import Image

import graph.background.jobs
import graph.catalog.images
from graph.catalog.images import process, sniff
from graph.infra.errors import Invalid
from tests.conftest import Api, jpeg_bytes, png_bytes, read


def gps_jpeg() -> bytes:
    img = Image.new("RGB", (120, 80), "navy")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    gps = {1: "N", 2: (52.0, 22.0, 5.0), 3: "E", 4: (4.0, 53.0, 2.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims a huge size: the classic decompression bomb."""
    data = bytearray(png_bytes((8, 8)))
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def upload(image: bytes, name: str = "photo.jpg") -> dict:
    return {"files": {"image": (name, image, "application/octet-stream")}}


async def test_upload_then_fetch_full_and_thumbnail(api: Api) -> None:
    _, token = await api.signup()
    response = await api.call("post", "/v1/images", token, **upload(png_bytes((1000, 600))))
    assert response.status == 201, response.text
    body = response.json
    assert (body["width"], body["height"]) == (1000, 600)
    full = await api.call("get", body["url"])
    thumb = await api.call("get", body["thumb_url"])
    assert full.status == thumb.status == 200
    assert full.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(full.body)).size == (1000, 600)
    assert max(Image.open(io.BytesIO(thumb.body)).size) == 320
    assert "immutable" in full.headers["cache-control"]


async def test_the_same_picture_twice_is_one_blob(api: Api, services) -> None:
    _, token = await api.signup()
    first = await api.call("post", "/v1/images", token, **upload(png_bytes()))
    second = await api.call("post", "/v1/images", token, **upload(png_bytes()))
    assert first.json["id"] == second.json["id"]
    rows = await read(
        services, "MATCH (i:Image {id: $id}) RETURN count(i) AS n", id=first.json["id"]
    )
    assert rows[0]["n"] == 1


async def test_exif_and_gps_are_stripped(api: Api) -> None:
    original = gps_jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the fixture has GPS
    _, token = await api.signup()
    response = await api.call("post", "/v1/images", token, **upload(original))
    stored = await api.call("get", response.json["url"])
    reopened = Image.open(io.BytesIO(stored.body))
    assert not reopened.getexif()
    assert b"SpyCam" not in stored.body


@pytest.mark.parametrize(
    "payload",
    [
        b"just some text, not a picture",
        b"%PDF-1.7\n1 0 obj",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        jpeg_bytes()[:40],  # truncated JPEG
        png_bytes()[:-20],  # PNG cut short
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # PNG magic, garbage after it
    ],
)
async def test_non_images_and_broken_images_are_422(api: Api, payload: bytes) -> None:
    _, token = await api.signup()
    response = await api.call("post", "/v1/images", token, **upload(payload))
    assert response.status == 422
    assert response.json["errors"]["image"]


async def test_a_decompression_bomb_is_422(api: Api) -> None:
    _, token = await api.signup()
    response = await api.call("post", "/v1/images", token, **upload(png_claiming(60_000, 60_000)))
    assert response.status == 422
    assert "pixels" in response.json["detail"]


async def test_uploads_need_a_token_and_a_file(api: Api) -> None:
    assert (await api.call("post", "/v1/images", **upload(png_bytes()))).status == 401
    _, token = await api.signup()
    missing = await api.call(
        "post", "/v1/images", token, files={"other": ("a", b"x", "text/plain")}
    )
    assert missing.status == 422


async def test_unknown_or_malformed_image_ids_are_404(api: Api) -> None:
    assert (await api.call("get", "/v1/images/" + "0" * 64)).status == 404
    assert (await api.call("get", "/v1/images/../../etc/passwd")).status == 404
    assert (await api.call("get", "/v1/images/abc")).status == 404


async def test_avatar_upload_shows_on_own_and_public_profile(api: Api) -> None:
    user, token = await api.signup()
    response = await api.call("put", "/v1/users/me/avatar", token, **upload(jpeg_bytes((400, 400))))
    assert response.status == 200, response.text
    avatar = response.json["avatar_url"]
    assert avatar.startswith("/v1/images/")
    public = await api.call("get", f"/v1/users/{user['id']}")
    assert public.json["avatar_url"] == avatar
    replaced = await api.call("put", "/v1/users/me/avatar", token, **upload(png_bytes((50, 50))))
    assert replaced.json["avatar_url"] != avatar
    bad = await api.call("put", "/v1/users/me/avatar", token, **upload(b"not an image"))
    assert bad.status == 422
    me = await api.call("get", "/v1/users/me", token)
    assert me.json["avatar_url"] == replaced.json["avatar_url"]


def test_sniff_accepts_webp_and_gif_magic() -> None:
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff(b"GIF89a....") == "GIF"
    with pytest.raises(Invalid):
        sniff(b"BM bitmap")


def test_transparent_and_animated_images_are_flattened_to_jpeg() -> None:
    rgba = io.BytesIO()
    Image.new("RGBA", (30, 30), (255, 0, 0, 0)).save(rgba, "PNG")
    out = process(rgba.getvalue(), max_pixels=10_000, max_side=100, thumb_side=10)
    assert Image.open(io.BytesIO(out.data)).getpixel((5, 5)) == (255, 255, 255)
    frames = [Image.new("P", (20, 20), i) for i in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    assert process(gif.getvalue(), max_pixels=10_000, max_side=100, thumb_side=10).width == 20


def test_large_images_are_scaled_down() -> None:
    out = process(png_bytes((3000, 1500)), max_pixels=10**8, max_side=2048, thumb_side=320)
    assert (out.width, out.height) == (2048, 1024)


# ---- memory (issue 15, finding 11) --------------------------------------------------------


async def test_a_solid_png_beyond_the_decode_budget_is_refused(api: Api) -> None:
    """A few KB of solid PNG at 20 MP decoded to ~460 MB before (the 40 MP header cap let it
    through); what gets decoded now has a budget of its own (16 MP)."""
    _, token = await api.signup()
    solid = png_bytes((5000, 4000), color="white")
    assert len(solid) < 100_000
    response = await api.call("post", "/v1/images", token, **upload(solid, "solid.png"))
    assert response.status == 422
    assert response.json["errors"]["image"] == "too many pixels"


def test_a_large_jpeg_is_decoded_scaled_down_within_the_budget() -> None:
    photo = jpeg_bytes((6000, 4000), color="olive")  # 24 MP, as a phone takes it
    out = process(
        photo, max_pixels=40_000_000, max_side=2048, thumb_side=320, max_decode_pixels=7_000_000
    )
    assert (out.width, out.height) == (2048, 1365)  # decoded at 1/2 scale: 6 MP, in budget
    same_size_png = png_bytes((6000, 4000))
    with pytest.raises(Invalid, match="more than 7000000"):  # no scaled decoding for PNG
        process(
            same_size_png,
            max_pixels=40_000_000,
            max_side=2048,
            thumb_side=320,
            max_decode_pixels=7_000_000,
        )


async def test_uploads_decode_a_few_at_a_time(
    api: Api, services, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    real = graph.catalog.images.process

    def watched(*args, **kwargs):  # the real decode, with a count of how many run at once
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(graph.catalog.images, "process", watched)
    _, token = await api.signup()
    bodies = [upload(png_bytes((64, 64), color=c)) for c in ("red", "blue", "lime", "gold")]
    bodies += [upload(jpeg_bytes((64, 64), color=c)) for c in ("navy", "teal")]
    results = await asyncio.gather(*(api.call("post", "/v1/images", token, **b) for b in bodies))
    assert [r.status for r in results] == [201] * 6
    assert most == services.settings.image_decodes == 2


async def test_the_sweeper_drops_orphan_blobs_past_their_grace_once_an_hour(
    api: Api, services
) -> None:
    """A blob no Image node names (a purge that died half-way, an upload whose node never
    came) goes once it is older than the grace period; an image's blobs stay; and the listing
    of every blob is not repeated within the hour."""
    _, token = await api.signup()
    kept = (await api.call("post", "/v1/images", token, **upload(png_bytes()))).json["id"]
    orphan, young = "e" * 64, "f" * 64
    for key in (orphan, orphan + ".thumb", young):
        services.blobs.put(key, b"bytes")
    old = time.time() - graph.background.jobs.BLOB_GRACE_S - 60
    for key in (orphan, orphan + ".thumb"):
        path = services.blobs._path(key)
        os.utime(path, (old, old))
    jobs = services.jobs
    jobs._orphans_swept_at = -float(graph.background.jobs.ORPHAN_SWEEP_S)
    assert await jobs.purge_orphan_blobs() == 2
    assert services.blobs.get(orphan) is None and services.blobs.get(orphan + ".thumb") is None
    assert services.blobs.get(young) == b"bytes"  # within its grace: an upload on its way
    assert services.blobs.get(kept) is not None and services.blobs.get(kept + ".thumb")
    services.blobs.put(orphan, b"again")
    os.utime(services.blobs._path(orphan), (old, old))
    assert await jobs.purge_orphan_blobs() == 0  # not again within the hour
    assert services.blobs.get(orphan) == b"again"
