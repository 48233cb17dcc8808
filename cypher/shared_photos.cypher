// The same photo (by content hash) on listings of $min_sellers or more sellers: copied ads or one
// person behind several accounts.
// params: min_sellers=2, limit=50
MATCH (seller:User)-[:LISTED]->(p:Product)-[:HAS_IMAGE]->(i:Image)
WHERE p.status <> 'deleted'
WITH i, seller, p ORDER BY seller.handle
WITH i, collect(DISTINCT seller.handle) AS sellers, count(DISTINCT p) AS listings
WHERE size(sellers) >= $min_sellers
RETURN i.id AS image, i.sha256 AS sha256, size(sellers) AS sellers_n, listings,
       sellers[0..10] AS sellers
ORDER BY sellers_n DESC, listings DESC, image
LIMIT $limit
