"""`vendr blobs`: the image store. `move` copies the data dir's blobs into the configured
object storage (VENDR_BLOBS_URL=s3://…, or `--to`); `s3proxy` runs a local S3-compatible server
(`make s3proxy`) to try it without a cloud account."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph.infra.blobs import LocalBlobStore, move_blobs
from graph.infra.settings import Settings

LOCAL_BUCKET = "vendr"
Command = Callable[[argparse.Namespace, Settings], int]


def _said(command: Command) -> Command:
    """The bucket's or the launcher's refusal as a message, not a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        from graph.infra.s3proxy_local import S3ProxyError

        try:
            return command(args, settings)
        except (BotoCoreError, ClientError, S3ProxyError, ValueError) as exc:
            print(f"vendr: {exc}", file=sys.stderr)
            return 1

    return run


@_said
def cmd_blobs_move(args: argparse.Namespace, settings: Settings) -> int:
    from graph.infra.blobs_s3 import S3BlobStore

    url = args.to or settings.blobs_url
    if not url:
        print("vendr: say where to: --to s3://bucket[/prefix] or VENDR_BLOBS_URL", file=sys.stderr)
        return 2
    source = LocalBlobStore(Path(args.source) if args.source else settings.blob_dir)
    target = S3BlobStore.connect(
        url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
    )
    if args.create_bucket and target.ensure_bucket():
        print(f"created bucket {target.bucket}")
    done = move_blobs(source, target, delete=args.delete)
    print(
        f"{done.copied} copied, {done.present} already there, {done.deleted} deleted from "
        f"{source.root} (to {url})"
    )
    if not args.delete and done.copied + done.present:
        print("the local copies stay: run again with --delete once the servers use the bucket")
    return 0


@_said
def cmd_blobs_s3proxy(args: argparse.Namespace, settings: Settings) -> int:
    from graph.infra import s3proxy_local
    from graph.infra.blobs_s3 import S3BlobStore

    home = settings.data_dir.resolve() / "s3proxy"
    if args.action == "stop":
        print("stopped" if s3proxy_local.stop(home) else "not running")
        return 0
    if args.action == "status":
        info = s3proxy_local.recorded(home)
        print(f"running at {info.endpoint_url} (pid {info.pid})" if info else "not running")
        return 0 if info else 1
    info, started = s3proxy_local.start(home)
    values = info.settings(LOCAL_BUCKET)
    store = S3BlobStore.connect(
        values["blobs_url"],
        endpoint_url=info.endpoint_url,
        access_key=info.access_key,
        secret_key=info.secret_key,
    )
    store.ensure_bucket()
    print(("started" if started else "already running") + f" at {info.endpoint_url}; use:")
    for name, value in values.items():
        print(f"export VENDR_{name.upper()}={value}")
    return 0


def add_parsers(sub: Any) -> None:
    blobs = sub.add_parser("blobs", help="the image store: move to object storage, a local S3")
    bsub = blobs.add_subparsers(dest="blobs_command", required=True)
    move = bsub.add_parser(
        "move", help="copy the data dir's images into the S3 bucket (again: only what is missing)"
    )
    move.add_argument("--to", help="s3://bucket[/prefix]; default VENDR_BLOBS_URL")
    move.add_argument("--from", dest="source", help="the blob dir; default DATA_DIR/blobs")
    move.add_argument("--create-bucket", action="store_true", help="create it if it is missing")
    move.add_argument(
        "--delete", action="store_true", help="delete each local copy once the bucket has it"
    )
    move.set_defaults(func=cmd_blobs_move)
    proxy = bsub.add_parser(
        "s3proxy", help="a local S3-compatible server (S3Proxy, `make s3proxy`) under DATA_DIR"
    )
    proxy.add_argument("action", choices=["start", "stop", "status"])
    proxy.set_defaults(func=cmd_blobs_s3proxy)
