// Accounts with at least $min_reports open reports against them or what they posted (listings,
// messages, reviews) in $days days, reports by the fraud-ring detector included.
// params: min_reports=3, days=30, limit=50
MATCH (r:Report)
WHERE r.status = 'open' AND r.created_at >= timestamp() - $days * 86400000
MATCH (u:User {id: r.owner_id})
WITH u, count(r) AS reports, collect(DISTINCT r.reason) AS reasons, max(r.created_at) AS last_ms
WHERE reports >= $min_reports
RETURN u.id AS id, u.handle AS handle, u.status AS status, u.created_at AS joined_ms,
       reports, reasons, last_ms
ORDER BY reports DESC, last_ms DESC, id
LIMIT $limit
