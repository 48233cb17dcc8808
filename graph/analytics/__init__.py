"""For analysts and admins: the notebooks' Market (named Cypher as DataFrames and graphs, the
feed's own decks), the admins' Cypher library, the notebook runner, moving a graph to Neo4j.
May import: the event log, bootstrap and everything below it. Modules are imported directly
(`graph.analytics.market`): importing the package loads nothing.
"""
