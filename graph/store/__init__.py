"""The graph store port, its two adapters and the registry of every statement the app runs."""

from graph.store.cypher import REGISTRY, Statement, statement
from graph.store.port import GraphStore

__all__ = ["REGISTRY", "GraphStore", "Statement", "statement"]
