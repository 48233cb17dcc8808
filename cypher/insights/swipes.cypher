// Swipes with where the swiper lives and where the listing is: how liking varies with distance.
// params: limit=200000
MATCH (u:User)-[s:LIKED|PASSED]->(p:Product)
WHERE u.location IS NOT NULL AND p.location IS NOT NULL
WITH u, s, p
ORDER BY s.at DESC, u.id, p.id
LIMIT $limit
RETURN u.id AS user_id, p.id AS product_id, type(s) = 'LIKED' AS liked, s.at AS at_ms,
       u.location.latitude AS user_lat, u.location.longitude AS user_lon,
       p.location.latitude AS lat, p.location.longitude AS lon
ORDER BY at_ms DESC, user_id, product_id
