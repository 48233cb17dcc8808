"""Background upkeep, run by the background worker: the sweeper's rounds (expiry, purges,
hype, the feed's pools, trust) and the deal timers.
May import: every capability below it, infra.
"""

from graph.background.jobs import Jobs, sweeper
from graph.background.timers import DealScheduler, run_timers

__all__ = ["DealScheduler", "Jobs", "run_timers", "sweeper"]
