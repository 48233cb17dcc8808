"""Reports and the moderators' decisions: hiding listings, suspending and reinstating accounts.
May import: accounts, notify, infra.
"""

from graph.moderation.service import Moderation, Reports

__all__ = ["Moderation", "Reports"]
