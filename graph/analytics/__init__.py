"""For analysts and admins: the notebooks' Market (named Cypher as DataFrames and graphs, the
feed's own decks), the admins' Cypher library, the notebook runner, the event export.
May import: bootstrap and everything below it. Modules are imported directly
(`graph.analytics.market`): importing the package loads nothing.
"""
