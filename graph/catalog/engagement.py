"""How engagement makes a listing's hype and its like count: one Cypher fragment for the hype
pass (`graph.background.jobs`, as of now) and for the feed's fit (`graph.feed.learning`, as of
each held-out like), so the two never count differently."""

from __future__ import annotations

DAY_MS = 86_400_000
HYPE_TAU_MS = 3 * DAY_MS  # engagement counts e^(-age / 3 days)
HYPE_WINDOW_MS = 30 * DAY_MS  # and only the last 30 days' counts at all
VIEW_HYPE, LIKE_HYPE, SAVE_HYPE = 1.0, 3.0, 4.0

# Expects `p` and its engagement edges `r` (`OPTIONAL MATCH (p)<-[r:VIEWED|LIKED|SAVED]-()`),
# `$since`, `$now` and `$tau`; projects `p`, `engagement` (decayed, within the window) and
# `likes` (every like, undecayed)
ENGAGEMENT = f"""
    WITH p,
         sum(CASE WHEN r.at >= $since THEN coalesce(
           CASE type(r) WHEN 'VIEWED' THEN {VIEW_HYPE} WHEN 'LIKED' THEN {LIKE_HYPE}
                        WHEN 'SAVED' THEN {SAVE_HYPE} END
           * exp(toFloat(r.at - $now) / $tau), 0.0) ELSE 0.0 END) AS engagement,
         sum(CASE WHEN type(r) = 'LIKED' THEN 1 ELSE 0 END) AS likes
"""
