// Per tag, how many listings reached each step from view to completed sale, and the end-to-end rate.
// params: min_listings=5, limit=50
MATCH (t:Tag)<-[:TAGGED]-(p:Product)
WHERE p.status <> 'deleted'
WITH t, p,
     size([(p)<-[:VIEWED]-(viewer:User) | viewer]) > 0 AS viewed,
     size([(p)<-[:LIKED|SAVED]-(fan:User) | fan]) > 0 AS wanted,
     size([(p)<-[:ABOUT]-(room:Room) | room]) > 0 AS messaged,
     size([(p)<-[:FOR]-(offer:Offer) | offer]) > 0 AS offered,
     [(p)<-[:OF]-(ord:Order) | ord.status] AS orders
WITH t.name AS tag, count(p) AS listings,
     toInteger(sum(CASE WHEN viewed THEN 1 ELSE 0 END)) AS viewed,
     toInteger(sum(CASE WHEN wanted THEN 1 ELSE 0 END)) AS liked_or_saved,
     toInteger(sum(CASE WHEN messaged THEN 1 ELSE 0 END)) AS messaged,
     toInteger(sum(CASE WHEN offered THEN 1 ELSE 0 END)) AS offered,
     toInteger(sum(CASE WHEN size(orders) > 0 THEN 1 ELSE 0 END)) AS ordered,
     toInteger(sum(CASE WHEN 'completed' IN orders THEN 1 ELSE 0 END)) AS completed
WHERE listings >= $min_listings
RETURN tag, listings, viewed, liked_or_saved, messaged, offered, ordered, completed,
       round(1000.0 * completed / listings) / 10.0 AS completed_pct
ORDER BY completed_pct DESC, listings DESC, tag
LIMIT $limit
