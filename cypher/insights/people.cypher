// Every account with what its trust is made of: verification, age, completed deals, ratings.
// The stored trust score and its components (JSON) are the background worker's (graph/trust).
// params: limit=200000
MATCH (u:User)
WITH u
ORDER BY u.created_at, u.id
LIMIT $limit
OPTIONAL MATCH (sold:Order {seller_id: u.id})
WITH u, toInteger(sum(CASE WHEN sold.status = 'completed' THEN 1 ELSE 0 END)) AS sales
WITH u, sales,
     [(u)<-[:ABOUT]-(r:Review) WHERE r.published_at IS NOT NULL | r.rating] AS ratings,
     size([(u)-[:PLACED]->(o:Order) WHERE o.status = 'completed' | o]) AS purchases
RETURN u.id AS id, u.handle AS handle, u.kind AS kind, u.city AS city, u.status AS status,
       u.created_at AS created_at, coalesce(u.email_verified, false) AS email_verified,
       coalesce(u.phone_verified, false) AS phone_verified, u.trust_score AS trust_score,
       u.trust_components AS trust_components, u.trust_at AS trust_at,
       size([(u)-[:LINKED]->(s:SocialAccount) WHERE s.verified_at IS NOT NULL | s]) AS socials,
       size([(u)-[:LISTED]->(p:Product) | p]) AS listings,
       sales, purchases, sales + purchases AS completed_orders, size(ratings) AS reviews,
       CASE WHEN size(ratings) = 0 THEN null
            ELSE reduce(total = 0.0, x IN ratings | total + x) / size(ratings) END AS rating
ORDER BY created_at, id
