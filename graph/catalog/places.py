"""A listing's two places: the exact point its seller gave (`p.location`, shown to them
only) and its public place (`p.place`, the centre of its grid cell, graph.infra.geo), which
every distance a stranger meets is measured from; and the sweeper's pass that gives listings
their public place when it is missing or was made for another cell size."""

from __future__ import annotations

from typing import Any

from graph.infra.geo import Place, cell_size_m, public_point
from graph.infra.store import GraphStore, statement


def location_param(place: Place | None) -> dict[str, float] | None:
    """A place as a statement stores it (`point($location)`)."""
    return {"latitude": place.lat, "longitude": place.lon} if place else None


def place_params(point: Place | dict[str, float] | None) -> dict[str, Any]:
    """`$place` and `$place_cell` for a listing at `point`: its public place, for everyone
    but its owner (None: unchanged)."""
    if point is None:
        return {"place": None, "place_cell": None}
    if isinstance(point, Place):
        point = {"latitude": point.lat, "longitude": point.lon}
    return {
        "place": public_point(point["latitude"], point["longitude"]),
        "place_cell": cell_size_m(),
    }


# Listings whose public place is missing (listed before places were stored) or was made for
# another cell size than the configured one: the sweeper places them again, a batch a round.
UNPLACED = statement(
    "catalog.unplaced",
    """
    MATCH (p:Product)
    WHERE p.location IS NOT NULL AND (p.place IS NULL OR p.place_cell <> $place_cell)
    RETURN p.id AS id, p.location AS location
    LIMIT $batch
    """,
)
PLACE = statement(
    "catalog.place",
    """
    UNWIND $rows AS r
    MATCH (p:Product {id: r.id})
    SET p.place = point(r.place), p.place_cell = $place_cell
    RETURN p.id AS id
    """,
    write=True,
)


async def place_listings(store: GraphStore, batch: int = 1000) -> list[str]:
    """Give a batch of listings their public place for the configured cell size; the ids."""
    cell = cell_size_m()
    rows = await store.run(UNPLACED, {"place_cell": cell, "batch": batch})
    if not rows:
        return []
    places = [
        {
            "id": r["id"],
            "place": public_point(r["location"]["latitude"], r["location"]["longitude"]),
        }
        for r in rows
    ]
    done = await store.run(PLACE, {"rows": places, "place_cell": cell})
    return [r["id"] for r in done]
