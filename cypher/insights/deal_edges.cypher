// Who dealt with whom: one row per buyer and seller pair, with how many deals and how far they got.
// params: include_cancelled=false
MATCH (o:Order)
WHERE $include_cancelled OR o.status <> 'cancelled'
RETURN o.buyer_id AS buyer, o.seller_id AS seller, count(o) AS deals,
       toInteger(sum(CASE WHEN o.status = 'completed' THEN 1 ELSE 0 END)) AS completed,
       toInteger(sum(o.amount)) AS amount_minor, min(o.created_at) AS first_ms, max(o.created_at) AS last_ms
ORDER BY buyer, seller
