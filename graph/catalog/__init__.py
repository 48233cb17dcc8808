"""The catalog: listings and their images and tags, browse (filters, sorts, cursors, its
planner), the candidate pools the feed deals from, how engagement makes hype, expiry windows,
saved searches.
May import: notify, infra.
"""

from graph.catalog.browse import DEFAULT_RADIUS_KM, BrowseService
from graph.catalog.engagement import (
    ENGAGEMENT,
    HYPE_TAU_MS,
    HYPE_WINDOW_MS,
    LIKE_HYPE,
    SAVE_HYPE,
    VIEW_HYPE,
)
from graph.catalog.images import ImageService
from graph.catalog.listings import PRODUCT_VIEW, CatalogService, Changed
from graph.catalog.places import place_listings
from graph.catalog.pools import Item, Pools
from graph.catalog.searches import SavedSearches
from graph.catalog.tags import normalise_all
from graph.catalog.uploads import UploadService, run_uploads
from graph.catalog.windows import by_expiry

__all__ = [
    "DEFAULT_RADIUS_KM",
    "ENGAGEMENT",
    "HYPE_TAU_MS",
    "HYPE_WINDOW_MS",
    "LIKE_HYPE",
    "PRODUCT_VIEW",
    "SAVE_HYPE",
    "VIEW_HYPE",
    "BrowseService",
    "CatalogService",
    "Changed",
    "ImageService",
    "Item",
    "Pools",
    "SavedSearches",
    "UploadService",
    "by_expiry",
    "normalise_all",
    "place_listings",
    "run_uploads",
]
