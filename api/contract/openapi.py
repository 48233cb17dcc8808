"""The OpenAPI contract, built from the pydantic models the routes parse and answer with.

Routes describe themselves with the decorators below (the same names and arguments as
sanic-ext's `openapi` module, plus `query(Model)`); they only record what they are given.
`document(app)` walks the app's route table and writes an OpenAPI 3.1 document: every model
once, under `components/schemas` (nested ones too), nullable fields as JSON Schema says
(`anyOf` with `null`), query parameters with the bounds their model enforces, error answers
as problem+json, and 204s without a body. Nothing is documented that the router does not
serve, and every route it serves is documented.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from sanic import Sanic

from api import errors
from api.contract.refusals import CURSOR, Refusal
from api.models import Problem

Handler = Callable[..., Any]
Content = dict[str, Any] | None
Security = Literal["required", "optional", "none"]

# an error answer: `@response(404, PROBLEM)` (a `None` body for a 4xx or 5xx means the same)
PROBLEM = {errors.PROBLEM: Problem}


@dataclass
class Spec:
    summary: str = ""
    description: str = ""
    body: Content = None
    query: type[BaseModel] | None = None
    parameters: dict[str, tuple[Any, str, str]] = field(default_factory=dict)
    responses: dict[int, tuple[Content, str]] = field(default_factory=dict)
    security: Security = "none"
    limited: bool = True  # counted by the per-address read limit or a write limit
    required: set[str] = field(default_factory=set)
    refusals: list[Refusal] = field(default_factory=list)


SPECS: dict[Handler, Spec] = {}


def _spec(handler: Handler) -> Spec:
    return SPECS.setdefault(handler, Spec())


def _recorder(apply: Callable[[Spec], None]) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        apply(_spec(handler))
        return handler

    return decorate


def summary(text: str) -> Callable[[Handler], Handler]:
    return _recorder(lambda s: setattr(s, "summary", text))


def description(text: str) -> Callable[[Handler], Handler]:
    return _recorder(lambda s: setattr(s, "description", text))


def body(content: dict[str, Any]) -> Callable[[Handler], Handler]:
    return _recorder(lambda s: setattr(s, "body", content))


def query(model: type[BaseModel]) -> Callable[[Handler], Handler]:
    """The query string is parsed with `model` (api.parsing.query_args): its fields are the
    parameters, with their types and bounds."""
    return _recorder(lambda s: setattr(s, "query", model))


def parameter(  # a header, or a query parameter read by hand (else: `query(Model)`)
    name: str,
    kind: Any = str,
    location: str = "query",
    description: str = "",
    required: bool = False,
) -> Callable[[Handler], Handler]:
    def apply(spec: Spec) -> None:
        spec.parameters[name] = (kind, location, description)
        if required:
            spec.required.add(name)

    return _recorder(apply)


def unlimited() -> Callable[[Handler], Handler]:
    """Not rate-limited (the health probes): no 429 in the contract, none from the server."""
    return _recorder(lambda s: setattr(s, "limited", False))


def response(status: int, content: Content, description: str = "") -> Callable[[Handler], Handler]:
    return _recorder(lambda s: s.responses.__setitem__(status, (content, description)))


def refuses(*refusals: Refusal) -> Callable[[Handler], Handler]:
    """Refusals of schema-valid requests this operation may give (api.contract.refusals): listed
    under their status, which the operation then declares."""
    return _recorder(lambda s: s.refusals.extend(refusals))


def secured() -> Callable[[Handler], Handler]:
    return _recorder(lambda s: setattr(s, "security", "required"))


def optional_token() -> Callable[[Handler], Handler]:
    return _recorder(lambda s: setattr(s, "security", "optional"))


# ---- the document --------------------------------------------------------------------------

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "The body is not JSON, or not the JSON this operation takes",
    401: "No valid bearer token",
    403: "Not allowed for this account",
    404: "No such thing, or not one you may see",
    409: "Not possible in the current state",
    413: "The body is too large",
    422: "A value is invalid; `errors` names each field",
    429: "Too many requests; retry after `Retry-After` seconds",
}
_PARAM = re.compile(r"<(\w+)(?::([^>]+))?>")
_PY_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


# the server refuses a NUL byte anywhere in a URL or a body (api.parsing, api.app)
NO_NUL = "^[^\\x00]*$"


def _path(uri: str, choices: dict[str, list[str]]) -> tuple[str, list[dict[str, Any]]]:
    """`/v1/x/<id:str>` → `/v1/x/{id}` and its path parameters (an alternation, or a name
    with configured choices → an enum)."""
    params: list[dict[str, Any]] = []
    for name, kind in _PARAM.findall(uri):
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": NO_NUL}
        if kind and kind not in ("str", "strorempty", "slug"):
            schema = {"type": "string", "enum": kind.split("|")}
        elif name in choices:
            schema = {"type": "string", "enum": choices[name]}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", uri)
    return "/" + path.lstrip("/"), params


class _Models:
    """Every model the document names, each converted once with pydantic's own JSON Schema,
    references pointing into components/schemas."""

    def __init__(self) -> None:
        self.wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
        self.refs: dict[tuple[Any, str], dict[str, Any]] = {}
        self.schemas: dict[str, Any] = {}

    def want(self, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> None:
        if (model, mode) not in self.wanted:
            self.wanted.append((model, mode))

    def resolve(self, choices: dict[str, list[str]]) -> None:
        mapping, top = models_json_schema(self.wanted, ref_template="#/components/schemas/{model}")
        for (model, mode), schema in mapping.items():
            self.refs[(model, mode)] = schema
        self.schemas = top.get("$defs", {})
        _settle(self.schemas, choices)
        for name in self._reachable(
            [r for (_, mode), r in mapping.items() if mode == "validation"]
        ):
            _no_nul(self.schemas[name])

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        return self.refs[(model, mode)]

    def _reachable(self, roots: list[Any]) -> set[str]:
        """The components a request can carry (what the server reads, not what it writes)."""
        seen: set[str] = set()
        pending = list(roots)
        while pending:
            for node in _objects(pending.pop()):
                ref = node.get("$ref")
                name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None
                if name is not None and name not in seen:
                    seen.add(name)
                    pending.append(self.schemas[name])
        return seen


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a schema, outermost first."""
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def _settle(schemas: dict[str, Any], choices: dict[str, list[str]]) -> None:
    """`x-choices: <name>` (a list set by configuration: plans, providers) → its enum."""
    for node in _objects(schemas):
        key = node.pop("x-choices", None)
        if key in choices:
            node["enum"] = choices[key]


def _no_nul(schema: dict[str, Any]) -> None:
    """Free text (a string with no pattern, enum or format of its own) carries no NUL byte."""
    for node in _objects(schema):
        if node.get("type") == "string" and not (
            {"pattern", "enum", "const", "format"} & set(node)
        ):
            node["pattern"] = NO_NUL


def _media(content: Content, models: _Models, mode: Any) -> dict[str, Any] | None:
    if content is None:
        return None
    out: dict[str, Any] = {}
    for media, schema in content.items():
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            out[media] = {"schema": models.ref(schema, mode)}
        else:
            out[media] = {"schema": schema}
    return out


def _body_required(content: dict[str, Any]) -> bool:
    """A body the model takes empty may be left out (an empty PATCH changes nothing); one
    it refuses empty (a field required, or one of several) may not."""
    for model in _models_in(content):
        try:
            model.model_validate({})
        except ValueError:
            return True
        return False
    return True


def _models_in(content: Content) -> list[type[BaseModel]]:
    return [s for s in (content or {}).values() if isinstance(s, type) and issubclass(s, BaseModel)]


def _query_parameters(models: _Models, model: type[BaseModel]) -> list[dict[str, Any]]:
    name_of = models.ref(model, "validation")["$ref"].rsplit("/", 1)[-1]
    schema = models.schemas[name_of]
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "array" in (prop.get("type"), *(v.get("type") for v in prop.get("anyOf", []))):
            param |= {"style": "form", "explode": False}  # comma-separated: tags=a,b
        if name not in required:  # the router drops `name=` with no value: it is not given
            param["schema"] = {"anyOf": [prop, {"type": "string", "maxLength": 0}]}
        if prop.get("description"):
            param["description"] = prop["description"]
        params.append(param)
    return params


def document(
    app: Sanic,
    *,
    title: str,
    version: str,
    summary_text: str,
    choices: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """`choices`: lists the server takes from its settings (promotion plans, social
    providers), named by `x-choices` in a model's schema or by a path parameter's name."""
    choices = choices or {}
    models = _Models()
    operations: list[tuple[str, str, Spec, list[dict[str, Any]]]] = []
    models.want(Problem, "serialization")
    for route in app.router.routes:
        if route.extra.websocket or route.uri.startswith("/docs"):
            continue
        spec = SPECS.get(route.handler)
        if spec is None:
            continue  # not part of the API (checked by the contract tests: none should be)
        path, path_params = _path(route.uri, choices)
        for method in sorted(route.methods):
            if method in ("HEAD", "OPTIONS"):
                continue
            operations.append((path, method.lower(), spec, path_params))
            for model in _models_in(spec.body):
                models.want(model, "validation")
            for content, _ in spec.responses.values():
                for model in _models_in(content):
                    models.want(model, "serialization")
            if spec.query is not None:
                models.want(spec.query, "validation")
    models.resolve(choices)

    paths: dict[str, dict[str, Any]] = {}
    for path, method, spec, path_params in operations:
        params = [dict(p) for p in path_params]
        if spec.query is not None:
            params += _query_parameters(models, spec.query)
        for name, (kind, location, text) in spec.parameters.items():
            if not any(p["name"] == name for p in params):
                schema = {"type": _PY_TYPES.get(kind, "string")}
                required = name in spec.required
                params.append(
                    {"name": name, "in": location, "required": required, "schema": schema}
                )
                if text:
                    params[-1]["description"] = text
        op: dict[str, Any] = {
            "operationId": f"{method}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "summary": spec.summary,
            "responses": _responses(spec, models, has_params=bool(path_params)),
        }
        if spec.description:
            op["description"] = spec.description
        if params:
            op["parameters"] = params
        if spec.body is not None:
            op["requestBody"] = {
                "required": _body_required(spec.body),
                "content": _media(spec.body, models, "validation"),
            }
        if spec.security == "required":
            op["security"] = [{"token": []}]
        elif spec.security == "optional":
            op["security"] = [{}, {"token": []}]
        else:
            op["security"] = []
        paths.setdefault(path, {})[method] = op

    _link(paths, models.schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": summary_text},
        "paths": {path: dict(sorted(item.items())) for path, item in sorted(paths.items())},
        "components": {
            "schemas": dict(sorted(models.schemas.items())),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }


def _singular(name: str) -> str:
    return name[:-2] if name.endswith("ches") else name[:-1] if name.endswith("s") else name


def _link(paths: dict[str, dict[str, Any]], schemas: dict[str, Any]) -> None:
    """OpenAPI links from what a POST creates to every operation taking its id: the `id` of
    `POST …/products` feeds each `{product_id}` (clients and the fuzzer's stateful phase
    follow them)."""
    for path, operations in paths.items():
        created = operations.get("post", {}).get("responses", {}).get("201", {})
        ref = created.get("content", {}).get("application/json", {}).get("schema", {})
        component = schemas.get(str(ref.get("$ref", "")).rsplit("/", 1)[-1], {})
        if "id" not in component.get("properties", {}):
            continue
        param = _singular(path.rstrip("/").rsplit("/", 1)[-1]) + "_id"
        links = {}
        for other_path, others in paths.items():
            if "{" + param + "}" not in other_path:
                continue
            for other in others.values():
                links[other["operationId"]] = {
                    "operationId": other["operationId"],
                    "parameters": {param: "$response.body#/id"},
                }
        if links:
            created["links"] = dict(sorted(links.items()))


def _refusals(spec: Spec) -> list[Refusal]:
    """What the route declares, and a cursor's rule wherever the query takes one."""
    found = list(spec.refusals)
    if spec.query is not None and "cursor" in spec.query.model_fields:
        found.insert(0, CURSOR)
    return list(dict.fromkeys(found))


def _responses(spec: Spec, models: _Models, *, has_params: bool) -> dict[str, Any]:
    """What the operation declares, and the errors every operation of its kind can answer:
    429 everywhere (reads per address, writes per person), 401 with a token, 404 with an id
    in the path, 400/413/422 with a body or a query."""
    out: dict[int, tuple[Content, str]] = dict(spec.responses)
    common = [429] if spec.limited else []
    if spec.security != "none":
        common.append(401)
    if has_params:
        common += [404, 422]
    if spec.body is not None:
        common += [400, 413, 422]
    if spec.query is not None or any(loc == "query" for _, loc, _ in spec.parameters.values()):
        common.append(422)
    refusals = _refusals(spec)
    common += [r.status for r in refusals]
    for status in common:
        out.setdefault(status, (PROBLEM, ""))
    shaped: dict[str, Any] = {}
    for status in sorted(out):
        content, text = out[status]
        entry: dict[str, Any] = {"description": text or STATUS_TEXT.get(status, "")}
        these = [r for r in refusals if r.status == status]
        if these:
            entry["description"] += "\n\nAlso refused, by rules no schema can carry:\n" + "\n".join(
                f"- `{r.field}`: {r.rule}" for r in these
            )
            entry["x-refusals"] = [r.document() for r in these]
        if status >= 400 and content is None:
            content = PROBLEM
        media = _media(content, models, "serialization") if status != 204 else None
        if media:
            entry["content"] = media
        if status == 429:
            entry["headers"] = {
                "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "required": True}
            }
        shaped[str(status)] = entry
    return shaped
