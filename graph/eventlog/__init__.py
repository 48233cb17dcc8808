"""The event log as the truth: its export, replaying it into a graph (whole, or one account and
what it touches), the canonical dump two graphs are compared by, and the streaming mirror of a
sample of accounts to a test environment. The schemas of its facts are in graph/infra/events/.
May import: bootstrap and everything below it.
"""

from graph.eventlog.clone import Selection, keep_selected, select
from graph.eventlog.dump import NODES, RELS_FROM, canonical, differences, dump, line, pages
from graph.eventlog.export import count_events, events, parse_since, shaped
from graph.eventlog.mirror import Mirror, make_mirror, mirror_settings, run_mirror, sampled
from graph.eventlog.replay import Replayed, file_events, replay, store_events

__all__ = [
    "NODES",
    "RELS_FROM",
    "Mirror",
    "Replayed",
    "Selection",
    "canonical",
    "count_events",
    "differences",
    "dump",
    "events",
    "file_events",
    "keep_selected",
    "line",
    "make_mirror",
    "mirror_settings",
    "pages",
    "parse_since",
    "replay",
    "run_mirror",
    "sampled",
    "select",
    "shaped",
    "store_events",
]
