// The audit trail of one account: events it caused or that happened to it, newest first; $type
// narrows to one event type (e.g. user.logged_in), null for all.
// params: user_id="", type=null, limit=100
OPTIONAL MATCH (by:Event {actor_id: $user_id})
WITH collect(by) AS caused
OPTIONAL MATCH (to:Event {subject_id: $user_id})
WITH caused, collect(to) AS received
UNWIND caused + received AS e
WITH DISTINCT e
WHERE $type IS NULL OR e.type = $type
RETURN e.at AS at_ms, e.type AS type, e.actor_id AS actor, e.subject_id AS subject, e.data AS data,
       e.id AS id
ORDER BY at_ms DESC, id DESC
LIMIT $limit
