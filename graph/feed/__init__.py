"""The swipe feed: candidates, one score, decks dealt in sessions, the reasons a card gives.
May import: catalog, infra.
"""

from graph.feed.impressions import flush_all as flush_impressions
from graph.feed.learning import Learner
from graph.feed.service import FeedService
from graph.feed.views import flush_all as flush_views

__all__ = ["FeedService", "Learner", "flush_impressions", "flush_views"]
