"""Great-circle distance on the WGS-84 sphere the graph's point distances use."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_378_137.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float


# Listings are public at the centre of a grid cell of about this size, never at their stored
# point (which, by default, is the seller's home): every process sets it from
# VENDR_PLACE_CELL_KM (graph.bootstrap). The centre is stored beside the point (`place`) by the
# statements that set the point, and every distance anyone but the owner meets (filters,
# sorts, cursors, pickup reach, the feed, saved searches) is measured from it: no sequence of
# questions learns more of a place than its cell.
_cell_m = 1000.0
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180.0


def set_place_cell(metres: float) -> None:
    global _cell_m
    _cell_m = float(metres)


def public_place(lat: float, lon: float) -> tuple[float, float]:
    """The centre of the square cell (side ~`_cell_m`) holding (lat, lon): rows of cells of
    equal height, each row cut into cells of equal width on the ground."""
    step = _cell_m / METRES_PER_DEGREE
    row = math.floor((lat + 90.0) / step)
    centre_lat = min(90.0, -90.0 + (row + 0.5) * step)
    lon_step = min(360.0, step / max(math.cos(math.radians(centre_lat)), 1e-3))
    col = math.floor((lon + 180.0) / lon_step)
    centre_lon = -180.0 + (col + 0.5) * lon_step
    if centre_lon > 180.0:
        centre_lon -= 360.0
    return round(centre_lat, 5), round(centre_lon, 5)


def public_point(lat: float, lon: float) -> dict[str, float | int]:
    """The public place of (lat, lon) as a statement stores it (`point($place)`), with the cell
    size it was made for (`place_cell`: a new size makes the sweeper place it again)."""
    centre_lat, centre_lon = public_place(lat, lon)
    return {"latitude": centre_lat, "longitude": centre_lon}


def cell_size_m() -> int:
    return round(_cell_m)


def shown_distance_km(
    place: dict[str, float] | None, viewer: dict[str, float] | None
) -> float | None:
    """The distance a viewer is told: from the listing's public place, to 0.1 km."""
    if not place or not viewer:
        return None
    metres = haversine_m(
        place["latitude"], place["longitude"], viewer["latitude"], viewer["longitude"]
    )
    return round(metres / 1000.0, 1)
