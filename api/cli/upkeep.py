"""Upkeep and data: a round of background jobs now, seeding a synthetic marketplace, the local
payment provider."""

from __future__ import annotations

import argparse
import asyncio
import sys

from graph.bootstrap import bootstrap, shutdown
from graph.infra.settings import Settings


async def _jobs_once(settings: Settings) -> int:
    services = await bootstrap(settings)
    try:
        report = await services.jobs.run_once(full=True)
    finally:
        await shutdown(services)
    for name, value in vars(report).items():
        print(f"{name}: {value}")
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_jobs_once(settings))


async def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from seeds.loader import COUNT_USERS, seed

    services = await bootstrap(settings)
    try:
        if (await services.store.run(COUNT_USERS))[0]["n"] and not args.force:
            print("vendr: the graph already holds users; pass --force to add more", file=sys.stderr)
            return 1
        report = await seed(
            services,
            users=args.users,
            products=args.products,
            interactions=args.interactions,
            seed=args.seed,
        )
    finally:
        await shutdown(services)
    print(
        f"loaded {report.users} users, {report.products} listings, "
        f"{report.interactions} interactions, {report.images} photos "
        f"in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)"
    )
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_seed(args, settings))


async def _payments(args: argparse.Namespace, settings: Settings) -> int:
    """The local provider's card terminal: complete (or decline) a payment, then post its
    signed webhook to the server, as Stripe would."""
    import httpx

    from graph.bootstrap import webhook_url
    from graph.payments.local import LocalProvider

    services = await bootstrap(settings)
    try:
        provider = services.payments.provider
        if not isinstance(provider, LocalProvider):
            here = "none is configured" if provider.name == "none" else f"it is {provider.name}"
            print(
                "vendr: the local payment terminal is for VENDR_ENV=dev without a Stripe key; "
                f"here {here}",
                file=sys.stderr,
            )
            return 1
        payment = await services.payments.get(args.payment_id)
        if payment["intent_id"] is None:
            print(f"vendr: payment {args.payment_id} has no intent yet", file=sys.stderr)
            return 1
        status = await provider.complete(payment["intent_id"], succeed=args.outcome == "succeed")
        url = webhook_url(settings)
        async with httpx.AsyncClient(timeout=10.0) as client:
            sent = await provider.deliver(client, url)
    finally:
        await shutdown(services)
    print(f"payment {args.payment_id}: intent {status}; {sent} webhook(s) posted to {url}")
    if not sent:  # taken by a running worker first, or refused: the worker (re)tries
        print("the webhook is left to the background worker", file=sys.stderr)
    return 0


def cmd_payments(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_payments(args, settings))
