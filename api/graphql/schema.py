"""The one GraphQL schema: the capability modules' queries, mutations and subscriptions
merged, over the same `graph/` services REST uses."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from api.graphql import core, deals, social
from api.graphql.errors import DomainErrors
from api.graphql.limits import extensions
from api.graphql.types import AMOUNT, Amount
from graph.infra.settings import Settings

log = logging.getLogger("vendr.graphql")

DOCUMENTS_CACHED = 512  # distinct documents kept parsed and validated, per worker

Query = merge_types("Query", (core.Query, deals.Query, social.Query))
Mutation = merge_types("Mutation", (core.Mutation, deals.Mutation, social.Mutation))


class KeptValidation(ValidationCache):
    """strawberry's validation cache, minus one thing: a document the limits refused before
    validation (its cost: api/graphql/limits.py) stays refused; the cache would have put its
    own (empty) verdict in place of theirs."""

    def on_validate(self) -> Iterator[None]:
        if self.execution_context.pre_execution_errors is not None:
            yield
            return
        yield from super().on_validate()


class VendrSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """What a client did wrong is the client's business, not the server log's: the
        failures that are the server's are logged (with their traceback) by `DomainErrors`."""
        for error in errors:
            log.debug("GraphQL error at %s: %s", error.path, error.message)


def make_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the protections `settings` ask for (none given: the defaults, as in
    production: api/graphql/limits.py), and every resolver's error as the client sees it
    (api/graphql/errors.py)."""
    from api.graphql.subscriptions import Subscription

    return VendrSchema(
        config=StrawberryConfig(scalar_map={Amount: AMOUNT}),
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            *extensions(settings or Settings.model_construct()),
            # a client sends the same few documents over and over: parsed and validated once
            lambda: ParserCache(maxsize=DOCUMENTS_CACHED),
            lambda: KeptValidation(maxsize=DOCUMENTS_CACHED),
            DomainErrors,
        ],
    )
