// Suspended accounts, most recent first, with the reason and the admin who decided.
// params: limit=50
MATCH (u:User)
WHERE u.status = 'suspended'
OPTIONAL MATCH (e:Event {subject_id: u.id})
WHERE e.type = 'moderation.suspend' OR e.type = 'moderation.reinstate'
WITH u, e ORDER BY e.at DESC, e.id DESC
WITH u, collect(e)[0] AS last
RETURN u.id AS id, u.handle AS handle, u.suspended_at AS suspended_ms,
       u.suspended_reason AS reason, last.actor_id AS decided_by,
       u.trust_score AS trust, u.created_at AS joined_ms
ORDER BY suspended_ms DESC, id
LIMIT $limit
