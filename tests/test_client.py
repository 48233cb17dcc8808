"""A client generated from the contract (openapi-python-client, as an app developer would)
drives a short marketplace flow against a real `vendr serve`: typed models in, typed models
out, errors as `Problem`. A document generators cannot read, or answers its models cannot
parse, fails here."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from api.contract.routes import offline
from graph.infra.settings import Settings
from tests.conftest import live_server, png_bytes

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The package's import name; it lies on sys.path for the module's tests."""
    out = tmp_path_factory.mktemp("client")
    spec = out / "openapi.json"
    spec.write_text(json.dumps(offline(Settings(env="dev"))), encoding="utf-8")
    name = f"vendr_client_{uuid.uuid4().hex[:6]}"
    command = [str(GENERATOR), "generate", "--path", str(spec), "--meta", "none"]
    result = subprocess.run(
        [*command, "--output-path", str(out / name)],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # what it could not read (only the raw JPEG answer of GET /v1/images/{id} is expected:
    # the generator has no binary responses)
    unreadable = [line for line in result.stdout.splitlines() if line.startswith("Unable to")]
    assert unreadable == [], result.stdout
    sys.path.insert(0, str(out))
    try:
        yield name
    finally:
        sys.path.remove(str(out))


@pytest.fixture(scope="module")
def served(data_dir: Path) -> Iterator[str]:
    with live_server(data_dir, "client") as base:
        yield base


def load(package: str, module: str) -> ModuleType:
    return importlib.import_module(f"{package}.{module}")


def test_a_generated_client_sells_a_lamp(generated: str, served: str) -> None:
    client_mod = load(generated, "client")
    models = load(generated, "models")
    types = load(generated, "types")

    def call(operation: str, **kw: Any) -> Any:
        return load(generated, f"api.default.{operation}").sync(**kw)

    anonymous = client_mod.Client(base_url=served)

    def account(name: str, **extra: Any) -> Any:
        body = models.SignupIn(
            email=f"{uuid.uuid4().hex[:10]}@example.org",
            password="correct horse battery",
            display_name=name,
            **extra,
        )
        auth = call("post_v1_auth_signup", client=anonymous, body=body)
        assert isinstance(auth, models.AuthOut), auth
        return client_mod.AuthenticatedClient(base_url=served, token=auth.token)

    shop = {"kind": models.SignupInKind.BUSINESS, "shop_name": "Lamps & Co"}
    seller, buyer = account("Seller", **shop), account("Buyer")

    picture = types.File(
        payload=io.BytesIO(png_bytes(color="olive")), file_name="lamp.png", mime_type="image/png"
    )
    image = call("post_v1_images", client=seller, body=models.PostV1ImagesBody(image=picture))
    assert isinstance(image, models.ImageOut), image

    listing = models.ProductIn(
        title="Brass desk lamp",
        price=models.MoneyIO(amount=3_500, currency=models.MoneyIOCurrency.EUR),
        image_ids=[image.id],
        location=models.PlaceIO(lat=52.37, lon=4.89),
        tags=["lamp", "Vintage Brass"],
        quantity=2,
    )
    product = call("post_v1_products", client=seller, body=listing)
    assert isinstance(product, models.ProductOut), product
    assert product.tags == ["lamp", "vintage-brass"]

    page = call("get_v1_products", client=buyer, q="brass lamp", near="52.37,4.89")
    assert isinstance(page, models.ProductPage), page
    assert product.id in [item.id for item in page.items]

    order = call(
        "post_v1_products_product_id_orders",
        product_id=product.id,
        client=buyer,
        body=models.OrderIn(quantity=1),
    )
    assert isinstance(order, models.OrderOut), order
    assert order.status.value == "placed" and order.quantity == 1

    confirmed = call("post_v1_orders_order_id_confirm", order_id=order.id, client=seller)
    assert isinstance(confirmed, models.OrderOut), confirmed
    assert confirmed.status.value == "confirmed"

    mine = call("get_v1_orders", client=buyer)
    assert [o.id for o in mine.items] == [order.id]

    missing = call("get_v1_products_product_id", product_id="no-such-listing", client=buyer)
    assert isinstance(missing, models.Problem) and missing.status == 404
    refused = call(
        "post_v1_products_product_id_orders",
        product_id=product.id,
        client=buyer,
        body=models.OrderIn(quantity=5),
    )
    assert isinstance(refused, models.Problem) and refused.status == 409
