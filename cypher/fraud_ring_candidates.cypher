// Pairs of accounts that keep dealing with each other, both ways or many times, with how young the
// accounts are: the raw material of rating rings. Larger rings: the trust notebook.
// params: min_deals=2, limit=50
MATCH (o:Order)
WHERE o.status IN ['confirmed', 'completed']
WITH CASE WHEN o.buyer_id < o.seller_id THEN o.buyer_id ELSE o.seller_id END AS a,
     CASE WHEN o.buyer_id < o.seller_id THEN o.seller_id ELSE o.buyer_id END AS b,
     o.buyer_id AS buyer
WITH a, b, count(*) AS deals, count(DISTINCT buyer) AS directions
WHERE deals >= $min_deals OR directions = 2
MATCH (ua:User {id: a})
MATCH (ub:User {id: b})
RETURN ua.handle AS account_a, ub.handle AS account_b, deals, directions = 2 AS both_ways,
       (timestamp() - ua.created_at) / 86400000 AS a_age_days,
       (timestamp() - ub.created_at) / 86400000 AS b_age_days,
       ua.trust_score AS a_trust, ub.trust_score AS b_trust
ORDER BY deals DESC, both_ways DESC, account_a
LIMIT $limit
