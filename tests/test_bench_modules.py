"""Every benchmark module imports: `make bench` runs them only at length, so a module that no
longer matches the code it measures (a moved module, a renamed statement) is caught here."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__))


def test_there_are_benchmarks_to_check() -> None:
    assert {"catalog", "deals", "trust", "searches", "backends", "crash", "graphql"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_the_benchmark_module_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert module.__name__ == f"bench.{name}"
