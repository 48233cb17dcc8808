// Active listings nobody has looked at lately: no view, like or save in $days days, oldest first.
// params: days=21, limit=50
MATCH (seller:User)-[:LISTED]->(p:Product {status: 'active'})
WHERE p.created_at < timestamp() - $days * 86400000
WITH seller, p, timestamp() - $days * 86400000 AS since
WITH seller, p, since,
     [(p)<-[v:VIEWED|LIKED|SAVED]-(:User) WHERE v.at >= since | v] AS recent
WHERE size(recent) = 0
RETURN p.id AS id, p.title AS title, seller.handle AS seller, p.price AS price,
       p.currency AS currency, (timestamp() - p.created_at) / 86400000 AS age_days,
       (p.expires_at - timestamp()) / 86400000 AS expires_in_days
ORDER BY age_days DESC, id
LIMIT $limit
