"""`vendr feed …`: the admins' view of the deck's fitted blends, and a fit on demand."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from tabulate import tabulate

from graph.bootstrap import bootstrap, shutdown
from graph.infra.ids import iso
from graph.infra.settings import Settings


def cmd_blends(args: argparse.Namespace, settings: Settings) -> int:
    async def work() -> int:
        services = await bootstrap(settings)
        try:
            current = await services.learner.current()
            fits = await services.learner.fits(args.limit)
        finally:
            await shutdown(services)
        if args.json:
            print(json.dumps({"current": current.as_dict(), "fits": fits}, indent=2))
            return 0
        print(f"decks rank with: {current.version}")
        table = [
            [
                iso(f["fitted_at"]),
                f["version"],
                "shipped" if f["shipped"] else "kept",
                _hr(f["figures"], "fitted"),
                _hr(f["figures"], "current"),
                f["reason"],
            ]
            for f in fits
        ]
        headers = ["fitted", "blend", "decision", "HR@10 fit", "HR@10 current", "why"]
        print(tabulate(table, headers=headers) if table else "no fit yet")
        return 0

    return asyncio.run(work())


def _hr(figures: dict[str, Any], name: str) -> str:
    row = (figures.get("hr10") or {}).get(name)
    return f"{row['hr10']:.3f} ({row['low']:.3f}–{row['high']:.3f})" if row else ""


def cmd_fit(args: argparse.Namespace, settings: Settings) -> int:
    async def work() -> int:
        services = await bootstrap(settings)
        try:
            report = await services.learner.fit()
        finally:
            await shutdown(services)
        print(report.reason)
        if args.json:
            print(json.dumps({"blend": report.blend.as_dict(), "figures": report.figures}))
        return 0

    return asyncio.run(work())


def add_parsers(sub: Any) -> None:
    feed = sub.add_parser("feed", help="the swipe deck's blend: fits and their decisions")
    fsub = feed.add_subparsers(dest="feed_command", required=True)
    blends = fsub.add_parser("blends", help="the latest fits, shipped or kept, with figures")
    blends.add_argument("--limit", type=int, default=20)
    blends.add_argument("--json", action="store_true")
    blends.set_defaults(func=cmd_blends)
    fit = fsub.add_parser("fit", help="fit the blend from the log now (ships only if better)")
    fit.add_argument("--json", action="store_true")
    fit.set_defaults(func=cmd_fit)
