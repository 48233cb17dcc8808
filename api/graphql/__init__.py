"""The GraphQL gateway: a second adapter beside REST over the same `graph/` services
(`POST|GET /graphql`, subscriptions over `graphql-transport-ws` on the same path)."""

from __future__ import annotations

from sanic import Sanic

from api.graphql.schema import make_schema
from api.graphql.view import mount as _mount
from graph.infra.settings import Settings


def mount(app: Sanic, settings: Settings) -> None:
    """`/graphql` with the limits `settings` set; GraphiQL in dev."""
    _mount(app, make_schema(settings), ide=settings.dev)
