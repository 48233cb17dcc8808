"""Accounts: people and shops, sign-up and log-in, sessions, passwords, profiles and blocks,
verification, password reset and deletion (the lifecycle), ending a deleted or suspended
person's deals through the deal machine, linked social accounts.
May import: deals, trust, catalog, notify, infra.
"""

from graph.accounts.ending import Ending, mark, mark_params
from graph.accounts.erasure import erase_events
from graph.accounts.lifecycle import LISTINGS_OF, Lifecycle, end_sessions
from graph.accounts.passwords import Passwords
from graph.accounts.service import AccountService
from graph.accounts.sessions import Sessions
from graph.accounts.socials import Socials, make_provider

__all__ = [
    "LISTINGS_OF",
    "AccountService",
    "Ending",
    "Lifecycle",
    "Passwords",
    "Sessions",
    "Socials",
    "end_sessions",
    "erase_events",
    "make_provider",
    "mark",
    "mark_params",
]
