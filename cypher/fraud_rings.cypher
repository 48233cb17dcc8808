// Accounts the fraud-ring detector flagged (open `fraud_ring` reports), ring by ring, with the
// evidence it recorded: how much of their dealing stays inside, five-star share, ages, photos.
// params: limit=50
MATCH (r:Report {reason: 'fraud_ring'})-[:ABOUT]->(u:User)
WHERE r.status = 'open'
WITH r, u ORDER BY u.handle
WITH r.ring_id AS ring, collect(u.handle) AS members, count(u) AS flagged,
     avg(u.trust_score) AS avg_trust, max(r.updated_at) AS updated_ms,
     collect(r.evidence)[0] AS evidence
RETURN ring, flagged, members[0..12] AS members, avg_trust, updated_ms, evidence
ORDER BY flagged DESC, ring
LIMIT $limit
