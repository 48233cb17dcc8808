"""The event log's schemas: what each state-changing statement records, so the log can rebuild
the graph (`vendr events replay`). The rules and the registry are in `core`; the schemas, a
module per part of the marketplace, register themselves on import (below): `accounts`
(accounts, moderation, trust, notifications, the feed), `catalog` (listings, the background
worker, messaging), `deals` (deals and payments), `seeds` (the synthetic bulk load).
"""

from graph.infra.events import accounts, catalog, deals, seeds  # noqa: F401  (they register)
from graph.infra.events.core import (
    ACTIVITY_PROPERTIES,
    ACTIVITY_RELATIONSHIPS,
    DERIVED_PROPERTIES,
    NOT_SOURCED,
    OPERATIONAL_LABELS,
    PLUMBING,
    SOURCES,
    UPCASTERS,
    Facts,
    Source,
    erase,
    not_sourced,
    parse,
    replay_params,
    source,
    upcast,
    with_facts,
)

__all__ = [
    "ACTIVITY_PROPERTIES",
    "ACTIVITY_RELATIONSHIPS",
    "DERIVED_PROPERTIES",
    "NOT_SOURCED",
    "OPERATIONAL_LABELS",
    "PLUMBING",
    "SOURCES",
    "UPCASTERS",
    "Facts",
    "Source",
    "erase",
    "not_sourced",
    "parse",
    "replay_params",
    "source",
    "upcast",
    "with_facts",
]
