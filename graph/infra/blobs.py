"""Content-addressed blob store port and its local-directory adapter (the S3 one is in
graph.infra.blobs_s3), and the port of direct uploads, which only object storage offers."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

KEY_PATTERN = re.compile(r"^[0-9a-f]{64}(\.[a-z]+)?$")


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> list[str]: ...
    def modified_at(self, key: str) -> float: ...


@dataclass(frozen=True)
class RawUpload:
    """What the store says of an object a client uploaded straight to it."""

    size: int
    content_type: str
    modified_at: float  # seconds since the epoch (the store's clock, to the second)


class DirectUploads(Protocol):
    """A store a client uploads to itself, with a pre-signed form (graph.infra.blobs_s3)."""

    def presign_upload(
        self, upload_id: str, content_type: str, max_bytes: int, expires_s: int
    ) -> dict[str, Any]: ...
    def head_upload(self, upload_id: str) -> RawUpload | None: ...
    def get_upload(self, upload_id: str, max_bytes: int) -> bytes | None: ...
    def delete_upload(self, upload_id: str) -> None: ...
    def stale_uploads(self, older_than: float) -> list[str]: ...


class LocalBlobStore:
    """Blobs as files under root/ab/cd/<key>; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.match(key):
            raise ValueError(f"bad blob key {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def modified_at(self, key: str) -> float:
        """Seconds since the epoch when the blob was written (inf when it is not there)."""
        try:
            return self._path(key).stat().st_mtime
        except (FileNotFoundError, ValueError):
            return float("inf")

    def keys(self) -> list[str]:
        if not self.root.exists():
            return []
        return [p.name for p in self.root.glob("*/*/*") if KEY_PATTERN.match(p.name)]


@dataclass
class Moved:
    copied: int = 0
    present: int = 0  # already in the target: a move run again copies nothing twice
    deleted: int = 0  # removed from the source once the target had them


def move_blobs(source: BlobStore, target: BlobStore, *, delete: bool = False) -> Moved:
    """Copy every blob of `source` that `target` lacks (content-addressed: a key present is
    the same bytes); with `delete`, remove each from the source once the target has it."""
    there = set(target.keys())
    done = Moved()
    for key in sorted(source.keys()):
        if key in there:
            done.present += 1
        else:
            data = source.get(key)
            if data is None:  # gone meanwhile (a purge)
                continue
            target.put(key, data)
            done.copied += 1
        if delete:
            source.delete(key)
            done.deleted += 1
    return done
