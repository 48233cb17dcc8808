// Who reviewed whom, with the rating: the edges trust propagates over.
// params: min_rating=1
MATCH (a:User)-[:WROTE]->(r:Review)-[:ABOUT]->(b:User)
WHERE r.rating >= $min_rating
RETURN a.id AS reviewer, b.id AS reviewed, r.rating AS rating, r.created_at AS at_ms
ORDER BY reviewer, reviewed, at_ms
