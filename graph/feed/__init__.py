"""The swipe feed: candidates, one score, decks dealt in sessions, the reasons a card gives.
May import: catalog, infra.
"""

from graph.feed.service import FeedService

__all__ = ["FeedService"]
