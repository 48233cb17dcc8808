"""What one GraphQL request may ask for, all from settings (`VENDR_GRAPHQL_*`).

Measured before anything runs, cheapest first:
- tokens (`graphql_max_tokens`): the parser stops past them, so a huge document is never built;
- cost (`graphql_max_cost`, `QueryCost`), once parsed: 1 a field; a page (a field taking
  `first`) multiplies what it selects by `first` (its default when not given), any other list
  of objects by `LIST_SIZE` (or what it is known to hold at most, `BOUNDED`); past the budget a
  top-level QUERY_TOO_COSTLY error carrying the cost, and nothing is validated or run. Before
  validation, because validating walks every fragment spread again: strawberry's depth limiter
  takes exponential time on fragments spread twice over (`...A ...A`, A spreading B twice…),
  and their cost grows as fast. Likewise fields repeated in one place (`repeats`, at most
  MAX_REPEATS pairs), which validation merges pairwise;
- depth (`graphql_max_depth`), aliases (`graphql_max_aliases`) and introspection
  (`graphql_introspection`; unset: only with VENDR_ENV=dev, where GraphiQL is): validation.

Batches (a JSON array of operations) stay refused: the schema has no `batching_config`, so
strawberry answers 400 before parsing any of them; one request is one operation.

A query pays the per-address read limit REST reads pay (`read_ip`, `ReadLimit`), once parsed and
before the rest: a refused query made the server work too. Mutations pay their per-account
limits in their resolvers. Refused, it is a top-level RATE_LIMITED error with `retryAfter`, as
a mutation's limit is (api/graphql/errors.py). The hooks are async: the schema runs only under
`execute` (its resolvers are async anyway), not `execute_sync`.

`Statements` counts the graph statements a request runs, for tests and development: with
VENDR_ENV=dev and the header `X-Vendr-Statements: 1`, the response's `extensions.statements`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from functools import partial
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.types.graphql import OperationType

from api.graphql.context import Context
from api.graphql.errors import top_level
from graph.catalog.listings import MAX_IMAGES
from graph.infra.errors import RateLimited
from graph.infra.settings import Settings

LIST_SIZE = 20  # what a list without `first` is counted as, unless it is known to be shorter:
BOUNDED = {("Product", "images"): MAX_IMAGES}  # (type, field): the most items the list has
MAX_COST = 2**53 - 1  # costs are reported exactly up to here (JSON numbers stay exact)
STATEMENTS_HEADER = "x-vendr-statements"

Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


def introspection(settings: Settings) -> bool:
    """Whether the schema answers `__schema` and `__type`: as set, else in dev only."""
    if settings.graphql_introspection is not None:
        return settings.graphql_introspection
    return settings.dev


def extensions(settings: Settings) -> list[Extension]:
    """The schema's protections, each built afresh for every request."""
    out: list[Extension] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        # the depth and alias rules made once per schema, not per request as strawberry's
        # limiters do: the validation cache keys on the rules, and a new rule class each
        # request would miss it every time
        partial(AddValidationRules, [depth_rule(settings.graphql_max_depth, None, None)]),
        partial(AddValidationRules, [aliases_rule(settings.graphql_max_aliases)]),
        ReadLimit,
        NoNulBytes,
        partial(QueryCost, settings.graphql_max_cost),
        Statements,
    ]
    if not introspection(settings):
        out.append(DisableIntrospection)
    return out


# ---- NUL bytes ----------------------------------------------------------------------------


class NoNulBytes(SchemaExtension):
    """No value a client sends (a string literal in the document, a variable) may hold a NUL
    byte, as REST refuses them in paths and bodies: an id with one is no id of ours, and a
    database may take it for the end of the text."""

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is not None and ec.pre_execution_errors is None:
            literal = any("\x00" in node.value for node in _string_values(ec.graphql_document))
            if literal or _nul_in(ec.variables):
                ec.pre_execution_errors = [
                    GraphQLError(
                        "values must not contain NUL bytes",
                        extensions={"code": "BAD_USER_INPUT", "status": 422},
                    )
                ]
        yield


def _string_values(document: DocumentNode) -> Iterator[StringValueNode]:
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, StringValueNode):
            yield node
        elif isinstance(node, Node):
            stack.extend(getattr(node, key) for key in node.keys)
        elif isinstance(node, list | tuple):
            stack.extend(node)


def _nul_in(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# ---- the read limit ---------------------------------------------------------------------


class ReadLimit(SchemaExtension):
    """A query pays one `read_ip` hit for the caller's address once it has parsed (whether or
    not it then validates: a refused query made the server work too)."""

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if (
            isinstance(context, Context)
            and self.execution_context.operation_type is OperationType.QUERY
        ):
            try:
                await context.services.limiter.hit("read_ip", context.address)
            except RateLimited as exc:
                raise top_level(exc) from None
        yield


# ---- the cost ---------------------------------------------------------------------------


class QueryCost(SchemaExtension):
    """Refuses a document costing more than `budget` once it has parsed, before it is
    validated: validation walks every fragment spread again (strawberry's depth limiter
    exponentially so), and the cost bounds that walk."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is not None and ec.pre_execution_errors is None:
            spent = cost(ec.schema._schema, ec.graphql_document, ec.variables)
            if spent > self.budget:
                ec.pre_execution_errors = [too_costly(spent, self.budget)]  # nothing validates
            elif repeats(ec.graphql_document) > MAX_REPEATS:
                ec.pre_execution_errors = [too_repetitive()]
        yield


def too_costly(spent: int, budget: int) -> GraphQLError:
    return GraphQLError(
        f"the query costs {spent}, more than the {budget} one request may spend: ask for "
        "smaller pages (`first`) or fewer fields",
        extensions={"code": "QUERY_TOO_COSTLY", "cost": spent, "maxCost": budget},
    )


def too_repetitive() -> GraphQLError:
    return GraphQLError(
        "the query selects the same fields over and over in one place (fragments included): "
        f"more than {MAX_REPEATS} pairs of them to merge",
        extensions={"code": "QUERY_TOO_COSTLY", "maxRepeats": MAX_REPEATS},
    )


# Validation compares every two fields one selection answers under the same name, then what
# they select, merged: ~10 microseconds a pair in graphql-core, so 300 copies of `shop { id }`
# side by side (a cost of 600, 1200 tokens) take most of a second, 100 of `me { id }` up to
# half one. The most pairs a document may make: ~50 ms of validation. Codegen clients repeat
# `id` and `__typename` in each fragment: 20 fragments spread in one place, each with
# `id __typename title seller { id __typename }`, make 1140 pairs. And the most selections
# walked while counting them.
MAX_REPEATS = 5000
MAX_REPEAT_WORK = 50_000


def repeats(document: DocumentNode) -> int:
    """The pairs of same-named fields validation merges, all levels and operations together
    (more than MAX_REPEATS, or past MAX_REPEAT_WORK selections walked: MAX_REPEATS + 1)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Repeats(fragments)
    try:
        for operation in document.definitions:
            if isinstance(operation, OperationDefinitionNode):
                walk.merged([operation.selection_set])
    except _Enough:
        return MAX_REPEATS + 1
    return walk.pairs


class _Enough(Exception):
    """Raised inside the walk once the repeats are past the bound: counting stops there."""


class _Repeats:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.pairs = 0
        self.work = 0

    def merged(self, selection_sets: list[SelectionSetNode]) -> None:
        """Selection sets answered as one (the same-named fields of one level): their fields
        by response name, each fragment taken once, as validation collects them."""
        groups: dict[str, list[SelectionSetNode | None]] = {}
        seen: set[str] = set()
        stack = list(selection_sets)
        while stack:
            for node in stack.pop().selections:
                self.work += 1
                if self.work > MAX_REPEAT_WORK:
                    raise _Enough
                if isinstance(node, FieldNode):
                    same = groups.setdefault((node.alias or node.name).value, [])
                    self.pairs += len(same)  # the new field pairs with each before it
                    same.append(node.selection_set)
                elif isinstance(node, InlineFragmentNode):
                    stack.append(node.selection_set)
                elif isinstance(node, FragmentSpreadNode):
                    name = node.name.value
                    if name not in seen and name in self.fragments:
                        seen.add(name)
                        stack.append(self.fragments[name].selection_set)
        if self.pairs > MAX_REPEATS:
            raise _Enough
        for same in groups.values():
            below = [s for s in same if s is not None]
            if below:
                self.merged(below)


def cost(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any] | None = None
) -> int:
    """What the document's operations cost together (one runs; all are validated). Fields
    unknown to the schema cost 1 (validation refuses them); introspection costs 1 a root
    field, whatever it selects (it has its own switch, and its types are few)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    total = 0
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        given = dict(variables or {})
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in given and definition.default_value is not None:
                given[name] = value_from_ast_untyped(definition.default_value)
        walk = _Cost(schema, fragments, given)
        root = schema.get_root_type(operation.operation)
        total += walk.selections(operation.selection_set, root, False)
    return min(total, MAX_COST)


class _Cost:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        # a fragment costs the same wherever it is spread: counted once, however often spread
        self.spread: dict[tuple[str, bool], int | None] = {}  # None: being counted (a cycle)

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, paged: bool
    ) -> int:
        """`paged`: these are a page's own fields (`edges`), whose lists `first` counted."""
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent, paged)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                kind = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(node.selection_set, kind, paged)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value, paged)
            total = min(total, MAX_COST)
        return total

    def fragment(self, name: str, paged: bool) -> int:
        key = (name, paged)
        if key in self.spread:
            return self.spread[key] or 0  # a cycle counts nothing (validation refuses it)
        fragment = self.fragments.get(name)
        if fragment is None:
            return 0
        self.spread[key] = None
        kind = self.schema.get_type(fragment.type_condition.name.value)
        self.spread[key] = spent = self.selections(fragment.selection_set, kind, paged)
        return spent

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, paged: bool) -> int:
        name = node.name.value
        fields: dict[str, GraphQLField] = getattr(parent, "fields", None) or {}
        definition = fields.get(name)
        if definition is None or node.selection_set is None or name.startswith("__"):
            return 1
        kind = definition.type
        listed = isinstance(kind.of_type if isinstance(kind, GraphQLNonNull) else kind, GraphQLList)
        page = self.first(node, definition)
        inner = self.selections(
            node.selection_set,
            get_named_type(definition.type),
            page is not None and not listed,  # a connection: its edges are the page
        )
        if page is not None:
            times = page
        elif listed and not paged:
            times = BOUNDED.get((getattr(parent, "name", ""), name), LIST_SIZE)
        else:
            times = 1
        return min(1 + times * inner, MAX_COST)

    def first(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """A page's size: `first` as given (a literal or a variable), else its default."""
        if "first" not in definition.args:
            return None
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
        if not isinstance(value, int) or isinstance(value, bool):
            default = definition.args["first"].default_value
            value = default if isinstance(default, int) else LIST_SIZE
        return min(max(1, value), MAX_COST)


# ---- statements per request -------------------------------------------------------------

_counter: ContextVar[list[int] | None] = ContextVar("vendr_graphql_statements", default=None)


def _counting(run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        box = _counter.get()
        if box is not None:
            box[0] += 1
        return await run(*args, **kwargs)

    counted.vendr_counting = True  # type: ignore[attr-defined]
    return counted


class Statements(SchemaExtension):
    """Counts the graph statements an operation runs (every `store.run`, in whatever task the
    resolvers start) when asked for in development; the store is wrapped at the first ask."""

    box: list[int] | None = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if not (
            isinstance(context, Context)
            and context.services.settings.dev
            and context.request.headers.get(STATEMENTS_HEADER)
        ):
            yield
            return
        store = context.services.store
        if not getattr(store.run, "vendr_counting", False):
            setattr(store, "run", _counting(store.run))  # noqa: B010  # an instance's method
        self.box = [0]
        token = _counter.set(self.box)
        try:
            yield
        finally:
            _counter.reset(token)

    def get_results(self) -> dict[str, Any]:
        return {"statements": self.box[0]} if self.box is not None else {}
