"""The graph store port, its two adapters and the registry of every statement the app runs."""

from graph.infra.store.cypher import REGISTRY, Statement, statement
from graph.infra.store.port import GraphStore

__all__ = ["REGISTRY", "GraphStore", "Statement", "statement"]
