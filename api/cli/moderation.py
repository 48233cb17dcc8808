"""`vendr moderation …` and `vendr trust …`: the admins' side of trust and safety.

Every decision names its admin (`--admin`, else the login name) and its reason, both kept in
the decision's `Event`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
from collections.abc import Awaitable, Callable
from typing import Any

from tabulate import tabulate

from graph.bootstrap import Services, bootstrap, shutdown
from graph.infra.ids import iso
from graph.infra.settings import Settings
from graph.moderation.service import ACTIONS


def _run(settings: Settings, work: Callable[[Services], Awaitable[int]]) -> int:
    async def go() -> int:
        services = await bootstrap(settings)
        try:
            return await work(services)
        finally:
            await shutdown(services)

    return asyncio.run(go())


def _short(text: Any, width: int = 40) -> str:
    value = "" if text is None else str(text).replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        status = None if args.all else args.status
        rows = await services.moderation.queue(status, args.limit)
        table = [
            [
                r["id"],
                iso(r["created_at"]),
                r["status"],
                r["target"],
                r["target_id"],
                r["owner_handle"],
                r["reason"],
                r["open_on_target"],
                "system" if r["reporter_id"] == "system" else "person",
                _short(r["note"]),
            ]
            for r in rows
        ]
        headers = ["report", "filed", "status", "target", "id", "owner", "reason", "open", "by"]
        print(tabulate(table, headers=[*headers, "note"]))
        print(f"({len(rows)} report{'s' if len(rows) != 1 else ''})")
        return 0

    return _run(settings, work)


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        r = await services.moderation.show(args.report_id)
        fields = [
            ("report", r["id"]),
            ("status", r["status"]),
            ("filed", iso(r["created_at"])),
            ("reason", r["reason"]),
            ("note", r["note"]),
            ("reporter", "system" if r["reporter_id"] == "system" else r["reporter_handle"]),
            ("target", f"{r['target']} {r['target_id']}"),
            ("target text", _short(r["target_text"], 200)),
            ("target status", r["target_status"] or ("hidden" if r["target_hidden_at"] else "")),
            ("owner", f"{r['owner_handle']} ({r['owner_status']}, trust {r['owner_trust']})"),
            ("owner joined", iso(r["owner_joined"])),
            ("open reports on target", r["open_on_target"]),
            ("reports on owner", r["reports_on_owner"]),
        ]
        if r["status"] != "open":
            fields += [
                ("decision", r["resolution"]),
                ("by", r["resolved_by"]),
                ("at", iso(r["resolved_at"])),
                ("why", r["resolution_reason"]),
            ]
        print(tabulate(fields, tablefmt="plain"))
        if r.get("evidence"):
            print("\nevidence:")
            print(json.dumps(r["evidence"], indent=2))
        return 0

    return _run(settings, work)


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        out = await services.moderation.resolve(
            args.report_id, args.action, args.admin, args.reason
        )
        closed = len(out["closed"])
        print(
            f"{args.action}: {out['applied']} changed; {closed} open report"
            f"{'s' if closed != 1 else ''} closed"
        )
        return 0

    return _run(settings, work)


def cmd_reinstate(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        await services.moderation.reinstate(args.user, args.admin, args.reason)
        print(f"{args.user}: active again")
        return 0

    return _run(settings, work)


def cmd_trust_recompute(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        report = await services.trust.recompute()
        for name, value in vars(report).items():
            print(f"{name}: {value}")
        return 0

    return _run(settings, work)


def cmd_trust_mark(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        await services.moderation.mark_trusted(args.user, args.admin, args.reason, not args.off)
        state = "no longer a trust anchor" if args.off else "a trust anchor"
        print(f"{args.user}: {state} (scores follow at the next recompute)")
        return 0

    return _run(settings, work)


def _admin(p: argparse.ArgumentParser) -> None:
    login = pwd.getpwuid(os.getuid()).pw_name
    p.add_argument("--admin", default=login, help="who decides (default: your login name)")
    p.add_argument("--reason", required=True, help="why; kept with the decision")


def add_parsers(sub: Any) -> None:
    mod = sub.add_parser("moderation", help="reports and the admins' decisions on them")
    msub = mod.add_subparsers(dest="moderation_command", required=True)
    listing = msub.add_parser("list", help="the queue, newest first")
    listing.add_argument("--status", default="open", choices=("open", "resolved", "dismissed"))
    listing.add_argument("--all", action="store_true", help="every status")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_list)
    show = msub.add_parser("show", help="one report: target, owner, evidence")
    show.add_argument("report_id")
    show.set_defaults(func=cmd_show)
    resolve = msub.add_parser(
        "resolve", help="decide: hide the target, suspend its owner, or dismiss"
    )
    resolve.add_argument("report_id")
    resolve.add_argument("--action", required=True, choices=ACTIONS)
    _admin(resolve)
    resolve.set_defaults(func=cmd_resolve)
    back = msub.add_parser("reinstate", help="lift an account's suspension")
    back.add_argument("user", help="handle or id")
    _admin(back)
    back.set_defaults(func=cmd_reinstate)

    trust = sub.add_parser("trust", help="trust scores and fraud rings")
    tsub = trust.add_subparsers(dest="trust_command", required=True)
    again = tsub.add_parser("recompute", help="recompute every score and flag fraud rings now")
    again.set_defaults(func=cmd_trust_recompute)
    mark = tsub.add_parser("mark", help="make an account a trust anchor (a seed of the walk)")
    mark.add_argument("user", help="handle or id")
    mark.add_argument("--off", action="store_true", help="no longer an anchor")
    _admin(mark)
    mark.set_defaults(func=cmd_trust_mark)
