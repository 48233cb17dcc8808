"""Deals: offers and counter-offers, orders with timers, stock that never oversells, shop
collections and the cart. State machines live in `machine`; every change is one statement."""
