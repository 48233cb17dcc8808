"""Deals: offers and counter-offers, orders with timers, stock that never oversells, shop
collections and the cart. Each change is one statement moved by a state machine (`machine`).
May import: payments, messaging, catalog, notify, infra.
"""

from graph.deals.cart import CartService
from graph.deals.collections import CollectionService
from graph.deals.common import Pushes, Why
from graph.deals.machine import OFFER, ORDER
from graph.deals.offers import OfferService
from graph.deals.orders import OrderService

__all__ = [
    "OFFER",
    "ORDER",
    "CartService",
    "CollectionService",
    "OfferService",
    "OrderService",
    "Pushes",
    "Why",
]
