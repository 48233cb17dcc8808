"""The analysts' helper: named Cypher as pandas DataFrames, subgraphs as networkx graphs, and
decks dealt by the feed itself. Notebooks import this; they hold no long Cypher and copy no app
code.

    from graph.analytics.market import Market
    market = Market()                                  # the configured graph (VENDR_* settings)
    listings = market.frame("insights/listings")        # cypher/insights/listings.cypher
    deals = market.network("insights/deal_edges", "buyer", "seller", weight="deals")

Calls are synchronous on purpose. They run on a private event loop in a thread of their own, so
they work the same in a notebook (whose kernel already runs a loop) and in a plain script.
Nothing here writes: schema set-up is left to the app, Cypher runs read-only.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Coroutine, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx
import numpy as np
import pandas as pd
from scipy import stats

from graph.analytics import admin
from graph.bootstrap import Services, bootstrap, shutdown
from graph.infra.geo import haversine_m
from graph.infra.settings import Settings

T = TypeVar("T")


class Market:
    """A read-only connection to the marketplace graph for analysis."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or Settings(**overrides)
        self.library: Path = admin.library(self.settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="vendr-analytics", daemon=True
        )
        self._thread.start()
        try:
            self.services: Services = self._call(bootstrap(self.settings, ensure_schema=False))
        except BaseException:
            self._stop()
            raise

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        done: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return done.result()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(shutdown(self.services))
        self._stop()

    def __enter__(self) -> Market:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "embedded" if self.settings.embedded else self.settings.graph_url
        return f"Market({where}, graph={self.settings.graph_name!r})"

    # -- the library ----------------------------------------------------------------------

    def queries(self) -> pd.DataFrame:
        """What the library holds: name, one-line summary, parameters and their defaults."""
        rows = [
            {"name": q.name, "summary": q.summary, "params": q.defaults}
            for q in admin.all_queries(self.library)
        ]
        return pd.DataFrame(rows, columns=["name", "summary", "params"])

    def frame(self, name: str, **params: Any) -> pd.DataFrame:
        """Run the library's file `name` (e.g. `insights/listings`) with its declared defaults,
        overridden by `params`, and return its rows; an empty result keeps its columns."""
        query = admin.find(self.library, name)
        unknown = set(params) - set(query.defaults)
        if unknown:
            raise TypeError(f"{name} declares no parameter {', '.join(sorted(unknown))}")
        store = self.services.store
        table = self._call(
            store.run_table(query.text(store.dialect), query.defaults | params, write=False)
        )
        return pd.DataFrame(table.rows, columns=table.columns)

    def network(
        self,
        name: str,
        source: str,
        target: str,
        *,
        weight: str | None = None,
        directed: bool = False,
        **params: Any,
    ) -> nx.Graph:
        """A networkx graph from a file returning one row per edge: `source` and `target` name
        the node columns; every other column becomes an edge attribute (`weight` is renamed
        to `weight`, which networkx's algorithms read). Rows for the same pair are summed
        when they are numbers, so an undirected graph of directed deals stays honest."""
        edges = self.frame(name, **params)
        graph: nx.Graph = nx.DiGraph() if directed else nx.Graph()
        attributes = [c for c in edges.columns if c not in (source, target)]
        for row in edges.itertuples(index=False):
            values = row._asdict()
            u, v = values[source], values[target]
            data = {("weight" if c == weight else c): values[c] for c in attributes}
            if graph.has_edge(u, v):
                current = graph.edges[u, v]
                for key, value in data.items():
                    if _number(value) and _number(current.get(key)):
                        current[key] += value
            else:
                graph.add_edge(u, v, **data)
        return graph

    # -- the feed, as people see it -------------------------------------------------------

    def decks(self, user_ids: Iterable[str], size: int = 20) -> pd.DataFrame:
        """Deal each person's deck with the app's own feed (read-only: dealing records nothing)
        and return one row per card: who, position, listing, seller, tags, distance, score and
        the kinds of reason shown."""
        feed = self.services.feed

        async def deal(user_id: str) -> list[dict[str, Any]]:
            cards = await feed.deck(user_id, None, None, size, record=False)
            return [
                {
                    "user_id": user_id,
                    "position": i,
                    "product_id": card.product["id"],
                    "seller_id": card.product["seller_id"],
                    "tags": list(card.product.get("tags") or []),
                    "distance_km": _km(card.product.get("distance_m")),
                    "score": card.score,
                    "reasons": [reason["kind"] for reason in card.reasons],
                }
                for i, card in enumerate(cards)
            ]

        async def deal_all(ids: list[str]) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            for user_id in ids:  # one at a time: an analyst's query must not load the site
                rows.extend(await deal(user_id))
            return rows

        columns = [
            "user_id",
            "position",
            "product_id",
            "seller_id",
            "tags",
            "distance_km",
            "score",
            "reasons",
        ]
        return pd.DataFrame(self._call(deal_all(list(user_ids))), columns=columns)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _km(metres: Any) -> float | None:
    return None if metres is None else round(float(metres) / 1000.0, 1)


# -- small statistics the notebooks share: every rate and median comes with its interval --------


def rate_ci(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """A proportion with its Wilson score interval (sound for small counts and rates near 0)."""
    if trials <= 0:
        return (float("nan"), float("nan"), float("nan"))
    interval = stats.binomtest(int(successes), int(trials)).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return (successes / trials, float(interval.low), float(interval.high))


def median_ci(
    values: Iterable[float], confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """A median with a percentile-bootstrap interval; NaN when there is nothing to measure."""
    data = np.asarray([v for v in values if v == v], dtype=float)  # drops NaN
    if data.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    if data.size == 1 or np.all(data == data[0]):
        return (float(data[0]),) * 3
    result = stats.bootstrap(
        (data,),
        np.median,
        confidence_level=confidence,
        n_resamples=999,
        method="percentile",
        random_state=seed,
    )
    interval = result.confidence_interval
    return (float(np.median(data)), float(interval.low), float(interval.high))


def survival(durations: Iterable[float], observed: Iterable[bool]) -> pd.DataFrame:
    """Kaplan-Meier: the share still waiting (e.g. unsold) after each duration, with a 95%
    interval. `observed` is False for right-censored rows (still listed when measured)."""
    d = np.asarray(list(durations), dtype=float)
    seen = np.asarray(list(observed), dtype=bool)
    columns = ["duration", "waiting", "low", "high"]
    if d.size == 0 or not seen.any():
        return pd.DataFrame(columns=columns)
    result = stats.ecdf(stats.CensoredData(uncensored=d[seen], right=d[~seen]))
    with warnings.catch_warnings():
        # Greenwood's band is undefined where the curve reaches 0 or 1; those points come
        # back NaN, which median_survival reads as "not reached"
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = result.sf.confidence_interval()
    return pd.DataFrame(
        {
            "duration": result.sf.quantiles,
            "waiting": result.sf.probabilities,
            "low": interval.low.probabilities,
            "high": interval.high.probabilities,
        }
    )


def median_survival(curve: pd.DataFrame) -> tuple[float, float, float]:
    """Where the survival curve (and its interval bands) first drops to one half: the median
    duration with its interval; NaN where a band never gets there (too few events yet)."""

    def first_below(column: str) -> float:
        hit = curve.loc[curve[column] <= 0.5, "duration"]
        return float(hit.iloc[0]) if len(hit) else float("nan")

    return (first_below("waiting"), first_below("low"), first_below("high"))


def distances_km(
    lat1: Iterable[float], lon1: Iterable[float], lat2: Iterable[float], lon2: Iterable[float]
) -> np.ndarray:
    """Great-circle distances row by row, with the app's own formula (graph.infra.geo)."""
    return np.asarray(
        [
            haversine_m(a, b, c, d) / 1000.0
            for a, b, c, d in zip(lat1, lon1, lat2, lon2, strict=True)
        ]
    )
