// Sellers ranked by deals completed in the last $days days, with what they took per currency.
// params: days=90, limit=20
MATCH (o:Order {status: 'completed'})
WHERE o.completed_at >= timestamp() - $days * 86400000
WITH o.seller_id AS seller_id, o.currency AS currency, count(o) AS deals, sum(o.amount) AS amount,
     count(DISTINCT o.buyer_id) AS buyers
MATCH (seller:User {id: seller_id})
RETURN seller.id AS id, seller.handle AS handle, seller.kind AS kind, seller.city AS city,
       currency, deals, buyers, amount AS amount_minor
ORDER BY deals DESC, amount_minor DESC, handle
LIMIT $limit
