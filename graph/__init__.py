"""Vendr's domain: services, the graph store port and its adapters, Cypher dialects."""
