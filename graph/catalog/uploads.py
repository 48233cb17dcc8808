"""Direct uploads: a client asks for a pre-signed form, sends the picture straight to the bucket,
then confirms; the background worker checks, re-encodes and stores it exactly as an upload
through the API is (ImageService.upload), and only then is there an Image a listing can show.

An upload is a Redis hash (owner, declared type and size, status) that lives for the form's
validity and an hour after, and a day once confirmed (so its status can be read). Confirmed
uploads wait in a Redis list; a worker claims one by moving it to a processing list (LMOVE: one
worker gets it) and holding a lease; one whose worker died is put back once its lease lapses.
Every step is safe to redo: the status is checked before work, the image is content-addressed.

The bucket may not enforce the form's policy (S3Proxy checks only its signature): confirming
checks the object itself — there, of the declared size at most, of the declared type, written
before the form expired — and deletes what fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from graph.catalog.images import ImageService
from graph.infra.blobs import DirectUploads
from graph.infra.errors import Conflict, Invalid, NotFound
from graph.infra.ids import iso

log = logging.getLogger("vendr.uploads")

CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
CONFIRM_GRACE_S = 3600  # an upload may be confirmed this long after its form expired
KEEP_S = 24 * 3600  # a confirmed upload's status can be read this long
LEASE_S = 300  # a claimed upload whose worker is gone this long is claimed again
MAX_ATTEMPTS = 3  # an upload that fails this often for reasons of ours (an outage) fails
CLOCK_SKEW_S = 2  # between this server's clock and the bucket's
SWEEP_S = 3600  # raw objects nobody confirmed are deleted this often
POLL_S = 1.0

# pending → processing, once: the confirmation that queues it
_QUEUE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'processing')
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Refusal:
    """Why a confirmation is refused: the error answered, the reason the status keeps."""

    error: Conflict | Invalid
    reason: str


class UploadService:
    def __init__(
        self,
        images: ImageService,
        direct: DirectUploads | None,
        redis: aioredis.Redis,
        prefix: str,
        settings: Any,
    ) -> None:
        self._images = images
        self._direct = direct
        self._redis = redis
        self._prefix = prefix
        self._settings = settings
        self._queue_key = f"{prefix}uploads:queue"
        self._processing = f"{prefix}uploads:processing"
        self._queue = redis.register_script(_QUEUE)

    @property
    def enabled(self) -> bool:
        """Direct uploads need a store a client can upload to: object storage."""
        return self._direct is not None

    def _bucket(self) -> DirectUploads:
        if self._direct is None:
            raise Conflict(
                "direct uploads need object storage (VENDR_BLOBS_URL=s3://…) and this server "
                "keeps images on its disk: send the picture to POST /v1/images instead"
            )
        return self._direct

    def _key(self, upload_id: str) -> str:
        return f"{self._prefix}upload:{upload_id}"

    async def start(self, user_id: str, content_type: str, size: int) -> dict[str, Any]:
        """A pre-signed form for one picture of `content_type` and at most `size` bytes."""
        bucket = self._bucket()
        if content_type not in CONTENT_TYPES:
            raise Invalid("JPEG, PNG, WebP or GIF expected", errors={"image": "unsupported"})
        if size < 1:
            raise Invalid("an empty file is no picture", errors={"bytes": "at least 1"})
        if size > self._settings.max_image_bytes:
            raise Invalid("image file too large", errors={"image": "too large"})
        upload_id = secrets.token_hex(16)
        ttl = int(self._settings.upload_ttl_seconds)
        expires_at = time.time() + ttl
        form = await asyncio.to_thread(bucket.presign_upload, upload_id, content_type, size, ttl)
        key = self._key(upload_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "owner": user_id,
                    "content_type": content_type,
                    "max_bytes": size,
                    "expires_at": expires_at,
                    "status": "pending",
                },
            )
            pipe.expire(key, ttl + CONFIRM_GRACE_S)
            await pipe.execute()
        return {
            "id": upload_id,
            "url": form["url"],
            "fields": form["fields"],
            "expires_at": iso(int(expires_at * 1000)),
            "max_bytes": size,
        }

    async def _read(self, key: str) -> dict[str, str]:
        raw = await self._redis.hgetall(key)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def _record(self, user_id: str, upload_id: str) -> dict[str, str]:
        record = await self._read(self._key(upload_id))
        if not record or record.get("owner") != user_id:
            raise NotFound("no such upload")
        return record

    async def _fail(self, upload_id: str, detail: str, reason: str) -> None:
        key = self._key(upload_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": "failed", "error": detail, "reason": reason})
            pipe.expire(key, KEEP_S)
            await pipe.execute()

    async def confirm(self, user_id: str, upload_id: str) -> dict[str, Any]:
        """The client says the picture is in the bucket: check it is what was signed for and
        queue it for the worker. Confirming again answers the status it has."""
        bucket = self._bucket()
        record = await self._record(user_id, upload_id)
        if record["status"] != "pending":
            return {"id": upload_id, "status": record["status"]}
        head = await asyncio.to_thread(bucket.head_upload, upload_id)
        if head is None:
            raise Conflict("nothing was uploaded yet: POST the file to the form's url first")
        refusal: Refusal | None = None
        if head.modified_at > float(record["expires_at"]) + CLOCK_SKEW_S:
            refusal = Refusal(
                Conflict("the file came after the form expired: ask for a new one"), "expired"
            )
        elif head.size > int(record["max_bytes"]):
            refusal = Refusal(
                Invalid(
                    f"the file has {head.size} bytes, more than the {record['max_bytes']} "
                    "signed for",
                    errors={"image": "too large"},
                ),
                "too large",
            )
        elif head.content_type.split(";")[0].strip() != record["content_type"]:
            refusal = Refusal(
                Invalid(
                    f"the file was sent as {head.content_type or 'no type'}, not as the "
                    f"{record['content_type']} signed for",
                    errors={"image": "unsupported"},
                ),
                "unsupported",
            )
        if refusal is not None:
            await asyncio.to_thread(bucket.delete_upload, upload_id)
            await self._fail(upload_id, refusal.error.detail, refusal.reason)
            raise refusal.error
        await self._queue(keys=[self._key(upload_id), self._queue_key], args=[upload_id, KEEP_S])
        return {"id": upload_id, "status": "processing"}

    async def status(self, user_id: str, upload_id: str) -> dict[str, Any]:
        record = await self._record(user_id, upload_id)
        out: dict[str, Any] = {"id": upload_id, "status": record["status"]}
        if record["status"] == "ready":
            out["image"] = {
                "id": record["image_id"],
                "width": int(record["width"]),
                "height": int(record["height"]),
            }
        elif record["status"] == "failed":
            out["error"] = record.get("error", "")
            out["reason"] = record.get("reason", "")
        return out

    # ---- the background worker's side ---------------------------------------------------------

    async def process_next(self) -> str | None:
        """Claim one confirmed upload and process it: its id, or None when none waits."""
        raw = await self._redis.lmove(self._queue_key, self._processing, "LEFT", "RIGHT")
        if raw is None:
            return None
        upload_id = _text(raw)
        lease = f"{self._key(upload_id)}:lease"
        if await self._redis.set(lease, "1", nx=True, ex=LEASE_S):
            try:
                await self._process(upload_id)
            finally:
                await self._redis.delete(lease)
        await self._redis.lrem(self._processing, 1, upload_id)
        return upload_id

    async def _process(self, upload_id: str) -> None:
        key = self._key(upload_id)
        record = await self._read(key)
        if record.get("status") != "processing":
            return  # done already (a claim put back while its worker was only slow)
        if await self._redis.hincrby(key, "attempts", 1) > MAX_ATTEMPTS:
            await self._fail(upload_id, "the picture could not be processed", "failed")
            return
        bucket = self._bucket()
        limit = int(self._settings.max_image_bytes)
        data = await asyncio.to_thread(bucket.get_upload, upload_id, limit)
        if data is None:
            await self._fail(upload_id, "the uploaded file is gone", "missing")
            return
        try:
            row = await self._images.upload(record["owner"], data)
        except (Invalid, NotFound) as exc:
            reason = next(iter(exc.errors.values()), "invalid") if exc.errors else "invalid"
            await self._fail(upload_id, exc.detail, reason)
        else:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    key,
                    mapping={
                        "status": "ready",
                        "image_id": row["id"],
                        "width": row["width"],
                        "height": row["height"],
                    },
                )
                pipe.expire(key, KEEP_S)
                await pipe.execute()
        await asyncio.to_thread(bucket.delete_upload, upload_id)

    async def requeue_lost(self) -> int:
        """Put back the claimed uploads whose worker's lease lapsed (it died mid-way)."""
        claimed = await self._redis.lrange(self._processing, 0, -1)
        moved = 0
        for raw in claimed:
            upload_id = _text(raw)
            if await self._redis.exists(f"{self._key(upload_id)}:lease"):
                continue
            if await self._redis.lrem(self._processing, 1, upload_id):  # one requeuer wins
                await self._redis.rpush(self._queue_key, upload_id)
                moved += 1
        return moved

    async def turn(self, stop: asyncio.Event | None = None) -> int:
        """Process what is confirmed, put back what a dead worker held, and once an hour (one
        worker: a Redis lock) sweep the bucket of raw uploads nobody confirmed."""
        done = 0
        while (stop is None or not stop.is_set()) and await self.process_next() is not None:
            done += 1
        await self.requeue_lost()
        if await self._redis.set(f"{self._prefix}uploads:sweep", "1", nx=True, ex=SWEEP_S):
            dropped = await self.sweep()
            if dropped:
                log.info("swept %d raw uploads nobody confirmed", dropped)
        return done

    async def sweep(self, now: float | None = None) -> int:
        """Delete raw objects left in the bucket by uploads nobody confirmed (or whose
        confirmation was refused before the object could go)."""
        if self._direct is None:
            return 0
        bucket = self._direct
        horizon = (now or time.time()) - (
            self._settings.upload_ttl_seconds + CONFIRM_GRACE_S + LEASE_S
        )
        dropped = 0
        for upload_id in await asyncio.to_thread(bucket.stale_uploads, horizon):
            status = await self._redis.hget(self._key(upload_id), "status")
            if status in (b"processing", "processing"):
                continue
            await asyncio.to_thread(bucket.delete_upload, upload_id)
            dropped += 1
        return dropped


async def run_uploads(uploads: UploadService, stop: asyncio.Event, poll_s: float = POLL_S) -> None:
    """The worker's loop: a turn every `poll_s` until `stop` is set."""
    while not stop.is_set():
        try:
            await uploads.turn(stop)
        except Exception:  # an outage must not end the loop; the next turn retries
            log.exception("direct uploads: a turn failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_s)
