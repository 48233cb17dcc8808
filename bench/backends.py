"""The headline figures of the catalog, learning, deals and trust benchmarks on both graph
backends, in one table: FalkorDB, Neo4j and their ratio, to choose a backend from numbers.

Each of those benchmarks records its headline figures in bench/backends.json as it finishes
(`record`); `python -m bench.backends`, the last step of `make bench`, writes bench/backends.md
from them. Each bench's own report has every figure it measured.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RATIO_NOTE, ROOT, Figure, compare, machine

RESULTS = ROOT / "bench" / "backends.json"
REPORT = ROOT / "bench" / "backends.md"
ORDER = ("catalog", "learning", "deals", "trust")
REPORTS = {
    "catalog": "catalog.md",
    "learning": "learning.md",
    "deals": "deals.md",
    "trust": "trust.md",
}


def record(bench: str, size: str, setup: str, figures: list[Figure], path: Path = RESULTS) -> None:
    """Keep `bench`'s headline figures in `path` (replacing its last ones) and rewrite the
    summary beside it (the same name, .md)."""
    try:
        results: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        results = {}
    results[bench] = {
        "run": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "size": size,
        "setup": setup,
        "figures": [asdict(f) for f in figures],
    }
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    path.with_suffix(".md").write_text(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    benches = [b for b in ORDER if b in results]
    figures = [
        Figure(**(f | {"label": f"{bench}: {f['label']}"}))
        for bench in benches
        for f in results[bench]["figures"]
    ]
    runs = [
        f"- **{bench}** ([{REPORTS[bench]}]({REPORTS[bench]})), run {results[bench]['run']} on "
        f"{results[bench]['machine']}: {results[bench]['size']}. {results[bench]['setup']}"
        for bench in benches
    ]
    tally = {"FalkorDB": 0, "Neo4j": 0, "even": 0}
    for f in figures:
        if f.winner:
            tally[f.winner] += 1
    return "\n".join(
        [
            "# FalkorDB and Neo4j side by side",
            "",
            "The headline figures of `make bench` on both graph backends Vendr runs on: the "
            "embedded FalkorDB (the default) and Neo4j Community. Both columns of a bench come "
            "from the same run, one backend after the other on the same machine, with the same "
            "generated data and the same requests; only the graph differs (Redis for sessions, "
            "caches and the feed's pools is the embedded server in both). "
            "`python -m bench.backends` writes this file from bench/backends.json, which the "
            "catalog, deals and trust benchmarks fill in as they finish.",
            "",
            *runs,
            "",
            *compare(figures),
            "",
            RATIO_NOTE,
            f"Of the {sum(tally.values())} figures with a ratio: FalkorDB better on "
            f"{tally['FalkorDB']}, Neo4j on {tally['Neo4j']}, even on {tally['even']}.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    try:
        results = json.loads(args.results.read_text())
    except OSError:
        absent = f"no {args.results}: run the catalog, deals and trust benchmarks first"
        raise SystemExit(absent) from None
    missing = [b for b in ORDER if b not in results]
    text = markdown(results)
    args.out.write_text(text)
    print(text)
    if missing:
        print(f"(not measured yet: {', '.join(missing)})")


if __name__ == "__main__":
    main()
