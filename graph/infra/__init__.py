"""Infrastructure every capability leans on, and nothing domain-specific: settings, ids and
times, domain errors, text and places, money, state machines as data, caches, rate limits,
Redis fan-out helpers, blobs, the embedded server and the graph store (its port, two
adapters, the dialect table, the schema). Imports nothing from the rest of graph/; its
modules are imported directly (`graph.infra.store`, `graph.infra.settings`).
"""
