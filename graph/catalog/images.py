"""Image intake: check the bytes are an image, decode safely, re-encode, thumbnail, store.

Re-encoding from pixels drops EXIF (GPS included), ICC tricks and anything appended to the file;
the stored id is the sha256 of the re-encoded bytes, so equal pictures share one blob.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from graph.infra.blobs import BlobStore
from graph.infra.errors import Invalid, NotFound
from graph.infra.ids import event
from graph.infra.store import GraphStore, statement

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
JPEG_QUALITY = 85


@dataclass(frozen=True)
class Processed:
    sha256: str
    data: bytes
    thumb: bytes
    width: int
    height: int


def sniff(data: bytes) -> str:
    """The format named by the file's magic bytes; anything else is refused before decoding."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise Invalid("not an image: JPEG, PNG, WebP or GIF expected", errors={"image": "unsupported"})


def _flatten(img: Image.Image) -> Image.Image:
    """RGB on white, upright. A plain RGB photo (most uploads) is not copied. (Shrinking an
    RGBA picture before flattening was measured: Pillow's premultiplied resize copies more.)"""
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")


def _jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def _too_many(width: int, height: int, cap: int) -> Invalid:
    return Invalid(
        f"image has {width}x{height} pixels, more than {cap}", errors={"image": "too many pixels"}
    )


def process(
    data: bytes,
    *,
    max_pixels: int,
    max_side: int,
    thumb_side: int,
    max_decode_pixels: int | None = None,
) -> Processed:
    """Check, decode and re-encode one upload. `max_pixels` bounds what a file may declare;
    `max_decode_pixels` bounds what is decoded into memory. A JPEG is decoded at the smallest
    DCT scale (1/2, 1/4, 1/8) still at least `max_side` wide, so a phone's 40 MP photo costs
    a few MP; other formats must fit the decode budget as they are."""
    budget = max_decode_pixels or max_pixels
    fmt = sniff(data)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
            width, height = probe.size
            if width * height > max_pixels:
                raise _too_many(width, height, max_pixels)
            probe.verify()
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            if fmt == "JPEG":  # the scale keeps both sides at least what the output needs
                shrink = max(1.0, max(width, height) / max_side)
                img.draft("RGB", (math.ceil(width / shrink), math.ceil(height / shrink)))
            if img.size[0] * img.size[1] > budget:
                raise _too_many(width, height, budget)
            img.seek(0)
            img.load()
            flat = _flatten(img)
            flat.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            main, size = _jpeg(flat), flat.size
            flat.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
            return Processed(
                sha256=hashlib.sha256(main).hexdigest(),
                data=main,
                thumb=_jpeg(flat),
                width=size[0],
                height=size[1],
            )
    except Image.DecompressionBombError as exc:  # Pillow's own cap tripped while reading the header
        raise Invalid(
            f"image has too many pixels: {exc}", errors={"image": "too many pixels"}
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Invalid(f"unreadable {fmt} image", errors={"image": "corrupt"}) from exc


SAVE_IMAGE = statement(
    "images.save",
    """
    MATCH (u:User {id: $user_id})
    MERGE (i:Image {id: $id})
      ON CREATE SET i.sha256 = $id, i.w = $w, i.h = $h, i.bytes = $bytes, i.created_at = $now
    MERGE (u)-[up:UPLOADED]->(i)
      ON CREATE SET up.at = $now
    CREATE (e:Event {id: $event_id, type: 'image.uploaded', at: $now, actor_id: $user_id,
                     subject_id: $id, data: $event_data})
    RETURN i.id AS id, i.w AS width, i.h AS height
    """,
    write=True,
)

GET_IMAGE = statement(
    "images.get",
    "MATCH (i:Image {id: $id}) RETURN i.id AS id, i.w AS width, i.h AS height",
)


class ImageService:
    def __init__(self, store: GraphStore, blobs: BlobStore, settings: Any) -> None:
        self._store = store
        self._blobs = blobs
        self._settings = settings
        # decodes at once in this worker: each holds up to max_decode_pixels times 4 bytes (and a
        # flattened copy), so a burst of uploads queues here instead of exhausting memory
        self._decodes = asyncio.Semaphore(settings.image_decodes)

    async def upload(self, user_id: str, data: bytes) -> dict[str, Any]:
        if not data:
            raise Invalid("empty upload", errors={"image": "required"})
        if len(data) > self._settings.max_image_bytes:
            raise Invalid("image file too large", errors={"image": "too large"})
        async with self._decodes:
            processed = await asyncio.to_thread(
                process,
                data,
                max_pixels=self._settings.max_image_pixels,
                max_side=self._settings.image_max_side,
                thumb_side=self._settings.thumb_side,
                max_decode_pixels=self._settings.max_decode_pixels,
            )
        # blobs first: a graph node never points at bytes that are not there
        await asyncio.to_thread(self._blobs.put, processed.sha256, processed.data)
        await asyncio.to_thread(self._blobs.put, processed.sha256 + ".thumb", processed.thumb)
        rows = await self._store.run(
            SAVE_IMAGE,
            {
                "user_id": user_id,
                "id": processed.sha256,
                "w": processed.width,
                "h": processed.height,
                "bytes": len(processed.data),
                **event(),
            },
        )
        if not rows:
            raise NotFound("user not found")
        return rows[0]

    async def read(self, image_id: str, *, thumb: bool) -> bytes:
        rows = await self._store.run(GET_IMAGE, {"id": image_id})
        if not rows:
            raise NotFound("no such image")
        key = image_id + ".thumb" if thumb else image_id
        data = await asyncio.to_thread(self._blobs.get, key)
        if data is None:
            raise NotFound("no such image")
        return data
