// Signups per UTC day over the last $days days, persons and businesses apart.
// params: days=30
MATCH (u:User)
WHERE u.created_at >= timestamp() - $days * 86400000
WITH u.created_at / 86400000 AS day, u.kind AS kind
RETURN day * 86400000 AS day_start_ms, kind, count(*) AS signups
ORDER BY day_start_ms DESC, kind
