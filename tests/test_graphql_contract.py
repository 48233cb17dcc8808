"""The GraphQL contract: api/graphql/schema.graphql (`vendr graphql-schema`, checked in) is the
schema the code builds and the one a server answers introspection with, and a client generated
from it (ariadne-codegen, as an app developer would) sells a lamp against a real `vendr serve`:
typed models in, typed models out, a user's mistakes in the payload, the rest top-level.

ariadne-codegen's releases want graphql-core < 3.3, strawberry >= 0.341 wants 3.3: it cannot
share the project's venv, so it runs from a venv of its own, made once from the pin in
pyproject's `[tool.vendr.graphql-codegen]` and kept in pytest's cache (`.pytest_cache`).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tomllib
import uuid
import venv
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLSchema,
    build_client_schema,
    build_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    print_schema,
)

from api.cli.graphql import CHECKED_IN, sdl
from api.graphql.schema import make_schema
from graph.infra.settings import Settings
from tests.conftest import Api, live_server, png_bytes

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / CHECKED_IN
OPERATIONS = Path(__file__).parent / "graphql_client" / "operations.graphql"
VENDR = Path(sys.executable).with_name("vendr")
REGENERATE = f"run `vendr graphql-schema --out {CHECKED_IN}` and commit it"


def normalised(schema: GraphQLSchema) -> str:
    """A schema as text that two equal schemas share, however each was built."""
    return print_schema(lexicographic_sort_schema(schema))


# ---- the checked-in SDL ---------------------------------------------------------------------


def test_the_served_schema_is_the_checked_in_one() -> None:
    built = sdl(Settings(env="dev"))
    checked_in = SCHEMA.read_text(encoding="utf-8") if SCHEMA.exists() else ""
    assert built == checked_in, f"{CHECKED_IN} is not the schema the code builds: {REGENERATE}"


def test_settings_choose_protections_never_types() -> None:
    """The SDL is production's, and every setting prints the same: only extensions vary."""
    printed = {
        make_schema(settings).as_str()
        for settings in (
            Settings(env="production"),
            Settings(env="dev"),
            Settings(env="dev", graphql_introspection=False, graphql_max_depth=3),
        )
    }
    assert len(printed) == 1


def test_vendr_graphql_schema_writes_it(tmp_path: Path) -> None:
    """The command the failure above names, as a developer runs it (no database, no server)."""
    out = tmp_path / "schema.graphql"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENDR_")}
    done = subprocess.run(
        [str(VENDR), "graphql-schema", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    written = out.read_text(encoding="utf-8")
    assert written == SCHEMA.read_text(encoding="utf-8"), REGENERATE
    build_schema(written)  # valid SDL, every type defined


async def test_the_server_introspects_as_the_checked_in_schema(api: Api, settings) -> None:
    """What a client that introspects the running server (dev: introspection on) learns is
    the checked-in schema, descriptions and defaults included."""
    assert settings.dev  # the tests' settings: introspection is on
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        input_value_deprecation=True,
    )
    response = await api.call("post", "/graphql", json={"query": query})
    assert response.status == 200, response.text
    answer = response.json
    assert answer.get("errors") is None, answer["errors"]
    served = build_client_schema(answer["data"])
    checked_in = build_schema(SCHEMA.read_text(encoding="utf-8"))
    assert normalised(served) == normalised(checked_in), f"the server serves another: {REGENERATE}"


# ---- a generated client ---------------------------------------------------------------------


def codegen_requirements() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        table = tomllib.load(f)["tool"]["vendr"]["graphql-codegen"]
    return list(table["requires"])


def codegen_python(cache: Path) -> Path:
    """The Python of a venv holding ariadne-codegen: the one `make test` installs (`.codegen`),
    or, run without make, one made here once per pin (under a lock: pytest workers may ask
    at once)."""
    made = ROOT / ".codegen"
    if (made / ".installed").exists():
        return made / "bin" / "python"
    requirements = codegen_requirements()
    key = hashlib.sha256(json.dumps([sys.version, requirements]).encode()).hexdigest()[:12]
    home = cache / key
    python = home / "bin" / "python"
    ready = home / ".ready"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            venv.EnvBuilder(clear=True, with_pip=False).create(home)
            install = [sys.executable, "-m", "pip", "--python", str(python), "install"]
            done = subprocess.run(
                [*install, "--quiet", "--disable-pip-version-check", *requirements],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, f"installing {requirements}:\n{done.stderr}"
            ready.write_text(json.dumps(requirements), encoding="utf-8")
    return python


def toml_string(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string here (paths, names)


@pytest.fixture(scope="module")
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The generated package's import name; it lies on sys.path for the module's tests."""
    cache = request.config.cache
    home = (
        cache.mkdir("ariadne-codegen")
        if cache is not None
        else tmp_path_factory.mktemp("ariadne-codegen")
    )
    python = codegen_python(Path(home))
    out = tmp_path_factory.mktemp("graphql-client")
    name = f"vendr_graphql_{uuid.uuid4().hex[:6]}"
    config = out / "codegen.toml"
    config.write_text(
        "\n".join(
            [
                "[tool.ariadne-codegen]",
                f"schema_path = {toml_string(str(SCHEMA))}",
                f"queries_path = {toml_string(str(OPERATIONS))}",
                f"target_package_name = {toml_string(name)}",
                f"target_package_path = {toml_string(str(out))}",
                "async_client = false",
                'include_comments = "none"',
                "",
                "[tool.ariadne-codegen.scalars.Amount]",
                'type = "int"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(python), "-m", "ariadne_codegen", "--config", str(config), "client"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    try:
        yield name
    finally:
        sys.path.remove(str(out))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


@pytest.fixture(scope="module")
def served(data_dir: Path) -> Iterator[str]:
    with live_server(data_dir, "gqlclient") as base:
        yield base


def load(package: str, module: str) -> ModuleType:
    return importlib.import_module(f"{package}.{module}")


def test_a_generated_client_sells_a_lamp(generated: str, served: str) -> None:
    client_mod = load(generated, "client")
    inputs = load(generated, "input_types")
    enums = load(generated, "enums")
    errors = load(generated, "exceptions")
    url = f"{served}/graphql"

    opened_clients: list[Any] = []

    def client(token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        made = client_mod.Client(url=url, headers=headers)
        opened_clients.append(made)
        return made

    try:
        sell_a_lamp(client, inputs, enums, errors, served)
    finally:
        for each in opened_clients:
            each.http_client.close()


def sell_a_lamp(
    client: Any, inputs: ModuleType, enums: ModuleType, errors: ModuleType, served: str
) -> None:

    def account(name: str, **extra: Any) -> tuple[Any, str, str]:
        signed = (
            client()
            .signup(
                input=inputs.SignupInput(
                    email=f"{uuid.uuid4().hex[:10]}@example.org",
                    password="correct horse battery",
                    display_name=name,
                    **extra,
                )
            )
            .signup
        )
        assert signed.errors == [] and signed.token and signed.user, signed
        return client(signed.token), signed.token, signed.user.id

    seller, seller_token, seller_id = account("Seller", kind="business", shop_name="Lamps & Co")
    buyer, _, buyer_id = account("Buyer")
    assert buyer.me().me.id == buyer_id

    # a user's mistake comes back in the payload, typed
    short = client().signup(
        input=inputs.SignupInput(email="x@example.org", password="short", display_name="X")
    )
    assert short.signup.token is None
    assert [(e.field, e.code) for e in short.signup.errors] == [("password", "BAD_USER_INPUT")]

    # pictures go up over REST (multipart), as an app does before listing
    uploaded = httpx.post(
        f"{served}/v1/images",
        headers={"Authorization": f"Bearer {seller_token}"},
        files={"image": ("lamp.png", png_bytes(color="olive"), "image/png")},
        timeout=30,
    )
    assert uploaded.status_code == 201, uploaded.text
    image_id = uploaded.json()["id"]

    made = seller.create_product(
        input=inputs.ProductInput(
            title="Brass desk lamp",
            price=inputs.MoneyInput(amount=3_500, currency="EUR"),
            condition="used",
            image_ids=[image_id],
            location=inputs.PlaceInput(lat=52.37, lon=4.89),
            tags=["lamp", "Vintage Brass"],
            quantity=2,
        )
    ).create_product
    assert made.errors == [] and made.product is not None, made
    product = made.product
    assert product.tags == ["lamp", "vintage-brass"] and product.seller.id == seller_id
    assert product.price.amount == 3_500 and [i.id for i in product.images] == [image_id]

    page = buyer.products(
        filter_=inputs.ProductFilter(q="brass lamp", near=inputs.PlaceInput(lat=52.37, lon=4.89)),
        sort=enums.ProductSort.NEWEST,
        first=5,
    ).products
    assert product.id in [edge.node.id for edge in page.edges]
    assert buyer.product(id=product.id).product.title == "Brass desk lamp"
    assert buyer.product(id="no-such-listing").product is None

    opened = buyer.create_room(product_id=product.id).create_room
    assert opened.errors == [] and opened.created is True and opened.room is not None
    room = opened.room
    assert room.role == enums.Role.BUYER and room.other.id == seller_id
    sent = buyer.send_message(room_id=room.id, text="Does it still work?").send_message
    assert sent.errors == [] and sent.message.sender_id == buyer_id, sent
    thread = seller.messages(room_id=room.id, first=20).messages
    assert "Does it still work?" in [e.node.text for e in thread.edges]

    offered = buyer.make_offer(
        product_id=product.id, amount=3_000, quantity=1, message="30?"
    ).make_offer
    assert offered.errors == [] and offered.offer is not None, offered
    assert offered.offer.status == "open" and offered.offer.amount.amount == 3_000
    assert offered.offer.room_id == room.id  # the offer is in the same room
    assert seller.offer(id=offered.offer.id).offer.actions == ["accept", "counter", "decline"]

    accepted = seller.accept_offer(offer_id=offered.offer.id).accept_offer
    assert accepted.errors == [] and accepted.offer.status == "accepted", accepted
    placed = accepted.order
    assert placed is not None and placed.status == "placed"
    assert placed.buyer.id == buyer_id and placed.seller.id == seller_id
    assert placed.amount.amount == 3_000 and placed.offer_id == offered.offer.id

    order = buyer.order(id=placed.id).order
    assert order is not None and order.id == placed.id
    assert [o.node.id for o in buyer.orders(role=enums.Role.BUYER, first=20).orders.edges] == [
        placed.id
    ]
    confirmed = seller.confirm_order(order_id=placed.id).confirm_order
    assert confirmed.errors == [] and confirmed.order.status == "confirmed", confirmed
    completed = buyer.complete_order(order_id=placed.id).complete_order
    assert completed.errors == [] and completed.order.status == "completed", completed

    # a move that is no longer open: the user's mistake, in the payload
    again = seller.accept_offer(offer_id=offered.offer.id).accept_offer
    assert again.offer is None and [e.code for e in again.errors] == ["CONFLICT"]
    # someone else's order is nobody's: null, as if there were none
    stranger, _, _ = account("Stranger")
    assert stranger.order(id=placed.id).order is None
    # no token: a top-level UNAUTHENTICATED error, raised by the client
    with pytest.raises(errors.GraphQLClientGraphQLMultiError) as refused:
        client().create_room(product_id=product.id)
    assert [e.extensions["code"] for e in refused.value.errors] == ["UNAUTHENTICATED"]
