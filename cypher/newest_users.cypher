// Newest accounts first, with their kind, city and shop.
// params: limit=20
MATCH (u:User)
OPTIONAL MATCH (u)-[:OWNS]->(s:Shop)
RETURN u.id AS id, u.handle AS handle, u.display_name AS name, u.kind AS kind, u.city AS city,
       s.name AS shop, u.status AS status, u.created_at AS created_at_ms
ORDER BY u.created_at DESC, u.id
LIMIT $limit
