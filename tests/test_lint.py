"""The code stays linted and typed: the same checks as `make lint`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SOURCES = ["graph", "api", "seeds", "tests", "bench"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    done = run(str(BIN / "ruff"), "check", *SOURCES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_code_is_formatted() -> None:
    done = run(str(BIN / "ruff"), "format", "--check", *SOURCES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_passes_on_graph_and_api() -> None:
    done = run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_import_rules_hold() -> None:
    """pyproject's [tool.importlinter]: graph never imports the API; graph's packages in
    layers, capabilities on infra, never the other way."""
    done = run(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr


CAPABILITIES = {
    "accounts",
    "background",
    "catalog",
    "deals",
    "feed",
    "messaging",
    "moderation",
    "notify",
    "payments",
    "trust",
}


def test_capabilities_meet_only_through_their_packages_faces() -> None:
    """A module of graph imports another capability from its package (`graph.catalog`, which
    names what it offers in its __init__), never from the modules inside it."""
    imports = grimp.build_graph("graph", exclude_type_checking_imports=True)
    reached_inside = sorted(
        f"{importer} -> {imported}"
        for importer in imports.modules
        for imported in imports.find_modules_directly_imported_by(importer)
        if len(parts := imported.split(".")) > 2
        and parts[1] in CAPABILITIES
        and importer.split(".")[1] != parts[1]
    )
    assert reached_inside == []


def test_no_module_imports_itself_back() -> None:
    """No import cycle between modules of graph or api, however long."""
    imports = grimp.build_graph("graph", "api", exclude_type_checking_imports=True)
    cycles = sorted(
        " -> ".join([*chain, importer])
        for importer in imports.modules
        for imported in imports.find_modules_directly_imported_by(importer)
        if (chain := imports.find_shortest_chain(importer=imported, imported=importer))
    )
    assert cycles == []
