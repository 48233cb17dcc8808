"""The API's resources: one blueprint module each, beside its request and response models
(`<resource>_models.py`), with the shapes stored rows are answered in."""

from __future__ import annotations

from sanic import Blueprint

from api.routes import (
    account,
    auth,
    collections,
    deals,
    feed,
    health,
    images,
    money,
    notifications,
    payments,
    products,
    rooms,
    trust,
    users,
)
from graph.infra.settings import Settings

BLUEPRINTS = (
    health.bp,
    auth.bp,
    users.bp,
    images.bp,
    products.bp,
    rooms.bp,
    feed.bp,
    deals.bp,
    collections.bp,
    account.auth,
    account.users,
    notifications.inbox,
    notifications.mine,
    payments.bp,
    money.bp,
    trust.bp,
)
# the development shortcuts' routes (`/v1/dev/…`): only with VENDR_ENV=dev
DEV_BLUEPRINTS = (account.dev, payments.dev, money.dev)


def blueprints(settings: Settings) -> tuple[Blueprint, ...]:
    """What an app configured by `settings` serves (and documents)."""
    return (*BLUEPRINTS, *DEV_BLUEPRINTS) if settings.dev else BLUEPRINTS
