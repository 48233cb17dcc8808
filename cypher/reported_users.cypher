// Accounts with at least $min_reports open reports against them or their listings in $days days.
// params: min_reports=3, days=30, limit=50
MATCH (r:Report)-[:ABOUT]->(target)
WHERE r.status = 'open' AND r.created_at >= timestamp() - $days * 86400000
OPTIONAL MATCH (owner:User)-[:LISTED]->(target)
WITH r, CASE WHEN owner IS NULL THEN target ELSE owner END AS u
WHERE u:User
WITH u, count(r) AS reports, collect(DISTINCT r.reason) AS reasons, max(r.created_at) AS last_ms
WHERE reports >= $min_reports
RETURN u.id AS id, u.handle AS handle, u.status AS status, u.created_at AS joined_ms,
       reports, reasons, last_ms
ORDER BY reports DESC, last_ms DESC
LIMIT $limit
