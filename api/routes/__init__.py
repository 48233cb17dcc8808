"""The API's resources: one blueprint module each, beside its request and response models
(`<resource>_models.py`), with the shapes stored rows are answered in."""

from __future__ import annotations

from api.routes import (
    account,
    auth,
    collections,
    deals,
    feed,
    health,
    images,
    notifications,
    payments,
    products,
    rooms,
    trust,
    users,
)

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
    account.dev,
    notifications.inbox,
    notifications.mine,
    payments.bp,
    trust.bp,
)
