"""`vendr experiments report`: an online experiment's arms, what people did with the cards each
dealt (rates per card with intervals over people), and the decision rule's verdict."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from graph.analytics import experiments
from graph.bootstrap import bootstrap, shutdown
from graph.eventlog import parse_since
from graph.infra.settings import Settings, experiment_arms

WIDTHS = (10, 8, 8)


async def _report(args: argparse.Namespace, settings: Settings) -> int:
    configured = experiment_arms(settings.feed_experiment)
    name = args.name or (configured[0] if configured else None)
    if not name:
        print(
            "vendr: say which experiment: --name NAME (VENDR_FEED_EXPERIMENT names none)",
            file=sys.stderr,
        )
        return 2
    arms = [arm for arm, _ in configured[1]] if configured and configured[0] == name else []
    since = parse_since(args.since) if args.since else 0
    services = await bootstrap(settings, ensure_schema=False)
    try:
        result = await experiments.report(
            services.store,
            name,
            days=args.days,
            since=since,
            min_people=args.min_people,
            arms=arms,
        )
    finally:
        await shutdown(services)
    if args.json:
        print(experiments.dumps(result))
    else:
        print(text(result))
    return 0


def text(result: experiments.Report) -> str:
    """The report as a table per arm and outcome, then the rule and the decisions."""
    lines = [
        f"experiment {result.experiment}: what people did within {result.days:g} days of each "
        f"card dealt ({result.pending} cards dealt since are not counted yet)",
        "",
    ]
    if not result.arms:
        lines.append("no cards dealt in this experiment have closed their window yet")
    header = ["arm", "people", "cards"] + [f"{o} per card" for o in experiments.OUTCOMES]
    rows: list[list[str]] = [header]
    for arm in result.arms:
        rows.append(
            [arm.name, str(arm.people), str(arm.cards)]
            + [arm.rates[o].text() for o in experiments.OUTCOMES]
        )
        if arm.difference is not None:
            rows.append(
                [f"  vs {result.arms[0].name}", "", ""]
                + [_signed(arm.difference[o]) for o in experiments.OUTCOMES]
            )
    if result.arms:
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines += ["", "rates in %, [95% interval, people resampled]; differences in points"]
        blends = "; ".join(f"{a.name}: {', '.join(a.blends)}" for a in result.arms)
        lines.append(f"blends dealt: {blends}")
    lines.append("")
    lines.append("rule: " + result.rule)
    for name, decision in result.decisions.items():
        lines.append(f"{name}: {decision}")
    if result.switched:
        lines.append(f"note: {result.switched} people were dealt under more than one arm")
    return "\n".join(lines)


def _signed(value: experiments.Interval) -> str:
    if value.value != value.value:  # NaN
        return "n/a"
    return f"{value.value * 100:+.2f} [{value.low * 100:+.2f}, {value.high * 100:+.2f}]"


def cmd_experiments_report(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_report(args, settings))


def add_parsers(sub: Any) -> None:
    exp = sub.add_parser("experiments", help="online experiments over the feed's blends")
    esub = exp.add_subparsers(dest="experiments_command", required=True)
    report = esub.add_parser(
        "report", help="per arm: people, cards dealt, outcome rates with intervals, the verdict"
    )
    report.add_argument(
        "--name", help="the experiment; default the one VENDR_FEED_EXPERIMENT names"
    )
    report.add_argument(
        "--days",
        type=float,
        default=7.0,
        help="outcomes count within this many days of the card being dealt (default 7)",
    )
    report.add_argument(
        "--since", help="only cards dealt since: 30d, 24h, or an ISO date; default all"
    )
    report.add_argument(
        "--min-people",
        type=int,
        default=experiments.MIN_PEOPLE,
        help=f"no verdict before every arm has this many people (default {experiments.MIN_PEOPLE})",
    )
    report.add_argument("--json", action="store_true", help="the report as JSON")
    report.set_defaults(func=cmd_experiments_report)
