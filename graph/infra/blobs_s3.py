"""The blob store on S3-compatible object storage (AWS S3, MinIO, S3Proxy…), beside the local
directory: `VENDR_BLOBS_URL=s3://bucket[/prefix]` with the `VENDR_S3_*` settings.

boto3, the synchronous client: the port (graph.infra.blobs.BlobStore) is synchronous and its
callers already run it in threads (`asyncio.to_thread`), as they do the local store; a boto3
client is thread-safe. aioboto3 would pin aiobotocore, and through it botocore, to narrow
versions, for no gain on a port that is thread-based anyway.

Layout in the bucket: the content-addressed blobs at `<prefix><sha256>` and
`<prefix><sha256>.thumb` (written once, never changed: served with a year's immutable cache
header, so a CDN whose origin is the bucket can hold them for good); raw direct uploads at
`<prefix>uploads/<upload id>` until the background worker has re-encoded them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from graph.infra.blobs import KEY_PATTERN, RawUpload

IMMUTABLE = "public, max-age=31536000, immutable"
UPLOADS = "uploads/"
# the checksum headers botocore sends by default since 1.36 are not implemented by every
# S3-compatible server (S3Proxy answers NotImplemented): only where an operation requires one
CONFIG = Config(
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
    retries={"max_attempts": 3, "mode": "standard"},
)
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # "" or ending with "/"


def parse_url(url: str) -> Location:
    """`s3://bucket[/prefix]` as a bucket and a key prefix."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"a blobs URL is s3://bucket[/prefix], not {url!r}")
    prefix = parts.path.strip("/")
    return Location(parts.netloc, prefix + "/" if prefix else "")


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


class S3BlobStore:
    """Blobs as objects of one bucket (see the module's docstring for the layout)."""

    def __init__(self, client: Any, location: Location, signer: Any = None) -> None:
        self._s3 = client
        # the client whose endpoint the pre-signed forms name: the one clients reach (a
        # compose network's `http://minio:9000` is not), by default the same
        self._signer = signer or client
        self.bucket = location.bucket
        self.prefix = location.prefix
        # when each key was written, as the last listing said: the sweeper asks modified_at of
        # every key it lists, which would otherwise be a HEAD request each
        self._listed: dict[str, float] = {}

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key: str = "",
        secret_key: str = "",
        public_endpoint_url: str = "",
    ) -> S3BlobStore:
        """A client for `url`; without keys, boto3's own chain (environment, instance role).
        `public_endpoint_url`: where clients reach the same storage, when not at
        `endpoint_url` (the pre-signed upload forms point there)."""

        def client(endpoint: str) -> Any:
            return boto3.client(
                "s3",
                endpoint_url=endpoint or None,
                region_name=region,
                aws_access_key_id=access_key or None,
                aws_secret_access_key=secret_key or None,
                config=CONFIG,
            )

        signer = client(public_endpoint_url) if public_endpoint_url else None
        return cls(client(endpoint_url), parse_url(url), signer)

    def ensure_bucket(self) -> bool:
        """Create the bucket when it is not there (tests, development); True if created."""
        try:
            self._s3.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if not _missing(exc):
                raise
        self._s3.create_bucket(Bucket=self.bucket)
        return True

    def _key(self, key: str) -> str:
        if not KEY_PATTERN.match(key):
            raise ValueError(f"bad blob key {key!r}")
        return self.prefix + key

    # ---- the BlobStore port ----------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        self._s3.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType="image/jpeg",  # every blob is a re-encoded JPEG
            CacheControl=IMMUTABLE,
        )

    def get(self, key: str) -> bytes | None:
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except ValueError:
            return None
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        body: bytes = answer["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        self._listed.pop(key, None)

    def modified_at(self, key: str) -> float:
        """Seconds since the epoch when the blob was written (inf when it is not there)."""
        if key in self._listed:
            return self._listed[key]
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ValueError:
            return float("inf")
        except ClientError as exc:
            if _missing(exc):
                return float("inf")
            raise
        return float(head["LastModified"].timestamp())

    def keys(self) -> list[str]:
        found: dict[str, float] = {}
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if KEY_PATTERN.match(name):  # not the raw uploads, nor a directory marker
                    found[name] = float(item["LastModified"].timestamp())
        self._listed = found
        return list(found)

    # ---- direct uploads: a client writes to uploads/<id> with a pre-signed POST -------------

    def _upload_key(self, upload_id: str) -> str:
        if not upload_id or "/" in upload_id:
            raise ValueError(f"bad upload id {upload_id!r}")
        return self.prefix + UPLOADS + upload_id

    def presign_upload(
        self, upload_id: str, content_type: str, max_bytes: int, expires_s: int
    ) -> dict[str, Any]:
        """A POST form (url, fields) that lets its holder write one object, uploads/<id>, of
        1 to `max_bytes` bytes and of exactly this Content-Type, for `expires_s` seconds: the
        bounds are in the signed policy (S3 and MinIO enforce them; S3Proxy checks only the
        signature, which is why confirming checks the object again)."""
        form: dict[str, Any] = self._signer.generate_presigned_post(
            Bucket=self.bucket,
            Key=self._upload_key(upload_id),
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_s,
        )
        return form

    def head_upload(self, upload_id: str) -> RawUpload | None:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=self._upload_key(upload_id))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return RawUpload(
            size=int(head["ContentLength"]),
            content_type=str(head.get("ContentType", "")),
            modified_at=float(head["LastModified"].timestamp()),
        )

    def get_upload(self, upload_id: str, max_bytes: int) -> bytes | None:
        """The uploaded bytes, at most `max_bytes + 1` of them (enough to tell it is too big)."""
        try:
            answer = self._s3.get_object(
                Bucket=self.bucket,
                Key=self._upload_key(upload_id),
                Range=f"bytes=0-{max_bytes}",
            )
        except ClientError as exc:
            if _missing(exc):
                return None
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # an empty object has no byte 0
            raise
        body: bytes = answer["Body"].read()
        return body

    def delete_upload(self, upload_id: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._upload_key(upload_id))

    def stale_uploads(self, older_than: float) -> list[str]:
        """Ids of raw uploads written before `older_than` (seconds since the epoch)."""
        found = []
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + UPLOADS
        )
        for page in pages:
            for item in page.get("Contents", []):
                if item["LastModified"].timestamp() < older_than:
                    found.append(item["Key"][len(self.prefix + UPLOADS) :])
        return [name for name in found if name and "/" not in name]
