// What has been happening: the append-only event log counted by type over the last $hours hours.
// params: hours=24
MATCH (e:Event)
WHERE e.at >= timestamp() - $hours * 3600000
RETURN e.type AS type, count(*) AS events, max(e.at) AS last_at_ms
ORDER BY events DESC, type
