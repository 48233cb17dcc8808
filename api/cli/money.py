"""`vendr ledger check` and `vendr payments failed|retry`: the admins' side of money.

`ledger check` proves every entry balances, every account's balance is the sum of what was
posted to it, every currency sums to zero and every payment's entries match what it took
(exit 1 otherwise, with the offenders). `payments failed` lists provider calls refused for good
(a refund, a void, a capture the provider would not take: `owed_error` says why), `payments
retry ID` tries one again now.
"""

from __future__ import annotations

import argparse
import json
import sys

from tabulate import tabulate

from api.cli.moderation import _run, _short
from graph.bootstrap import Services
from graph.infra.errors import NotFound
from graph.infra.ids import iso
from graph.infra.settings import Settings


def cmd_ledger_check(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        report = await services.ledger.check()
        if args.json:
            print(json.dumps(report, indent=2, default=str))
        else:
            for c in report["currencies"]:
                print(f"{c['currency']}: {c['accounts']} accounts, total {c['total']}")
            for kind in ("unbalanced", "drifted", "mismatched"):
                for row in report[kind]:
                    print(f"{kind}: {row}", file=sys.stderr)
            print("ledger: ok" if report["ok"] else "ledger: NOT OK")
        return 0 if report["ok"] else 1

    return _run(settings, work)


def cmd_payments_failed(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        rows = await services.payments.failed(args.limit)
        table = [
            [
                r["id"],
                r["purpose"],
                r["subject_id"],
                r["status"],
                r["owed"],
                r["owed_amount"],
                iso(r["updated_at"]),
                _short(r["owed_error"], 60),
            ]
            for r in rows
        ]
        headers = ["payment", "purpose", "subject", "status", "owed", "amount", "at", "error"]
        print(tabulate(table, headers=headers) if table else "no provider call has failed for good")
        return 0

    return _run(settings, work)


def cmd_payments_retry(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> int:
        try:
            done = await services.payments.retry(args.payment_id)
        except NotFound as exc:
            print(f"vendr: payment {args.payment_id}: {exc}", file=sys.stderr)
            return 1
        payment = await services.payments.get(args.payment_id)
        if done:
            print(f"payment {args.payment_id}: done, now {payment['status']}")
            return 0
        print(
            f"payment {args.payment_id}: still owed ({payment['owed']}): {payment['owed_error']}",
            file=sys.stderr,
        )
        return 1

    return _run(settings, work)


def add_parsers(sub: argparse._SubParsersAction, payments: argparse._SubParsersAction) -> None:
    ledger = sub.add_parser("ledger", help="the money ledger")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True)
    check = lsub.add_parser(
        "check", help="prove every entry balances and every payment matches (exit 1 if not)"
    )
    check.add_argument("--json", action="store_true", help="the full report as JSON")
    check.set_defaults(func=cmd_ledger_check)

    failed = payments.add_parser("failed", help="provider calls refused for good, newest first")
    failed.add_argument("--limit", type=int, default=100)
    failed.set_defaults(func=cmd_payments_failed)
    retry = payments.add_parser("retry", help="try a payment's owed provider call again now")
    retry.add_argument("payment_id")
    retry.set_defaults(func=cmd_payments_retry)
