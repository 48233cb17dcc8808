"""`vendr graphql-schema`: the GraphQL schema's SDL, as production serves it, without a server
(for client generators; api/graphql/schema.graphql is this output, checked in)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from graph.infra.settings import Settings

# where the checked-in copy lives (tests/test_graphql_contract.py compares it with the schema)
CHECKED_IN = "api/graphql/schema.graphql"


def sdl(settings: Settings) -> str:
    """The schema's SDL as a production server with `settings` serves it: settings choose
    the protections (extensions), never the types, so any settings print the same."""
    from api.graphql.schema import make_schema

    production = settings.model_copy(update={"env": "production"})
    return make_schema(production).as_str().rstrip("\n") + "\n"


def cmd_graphql_schema(args: argparse.Namespace, settings: Settings) -> int:
    text = sdl(settings)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def add_parsers(sub: Any) -> None:
    schema = sub.add_parser(
        "graphql-schema", help="print the GraphQL schema's SDL (no server needed)"
    )
    schema.add_argument("--out", help=f"write it to this file instead (e.g. {CHECKED_IN})")
    schema.set_defaults(func=cmd_graphql_schema)
