// Every listing with its price, place, tags and how far it got from view to completed sale.
// The one table behind the prices, supply-and-demand and funnel notebooks; times are epoch ms,
// prices in minor units (cents), sold_prices the unit price of each completed sale.
// params: limit=200000
MATCH (seller:User)-[:LISTED]->(p:Product)
WHERE p.status <> 'deleted'
WITH seller, p
ORDER BY p.created_at DESC, p.id DESC
LIMIT $limit
WITH seller, p,
     [(p)-[:TAGGED]->(t:Tag) | t.name] AS tags,
     [(p)<-[:ABOUT]-(room:Room) | room.created_at] AS rooms,
     [(p)<-[:FOR]-(offer:Offer) | offer.created_at] AS offers,
     [(p)<-[:OF]-(ord:Order) | ord.created_at] AS orders,
     [(p)<-[:OF]-(done:Order) WHERE done.status = 'completed' | done.completed_at] AS completions,
     [(p)<-[sale:OF]-(paid:Order) WHERE paid.status = 'completed' | sale.unit_price] AS sold_prices
RETURN p.id AS id, p.title AS title, p.price AS price, p.currency AS currency,
       p.condition AS condition, p.status AS status, p.quantity AS quantity,
       p.created_at AS created_ms, p.expires_at AS expires_ms, p.hype AS hype,
       p.location.latitude AS lat, p.location.longitude AS lon,
       seller.id AS seller_id, seller.kind AS seller_kind, seller.city AS city, tags,
       size([(p)<-[:VIEWED]-(viewer:User) | viewer]) AS views,
       size([(p)<-[:LIKED]-(liker:User) | liker]) AS likes,
       size([(p)<-[:SAVED]-(saver:User) | saver]) AS saves,
       size([(p)<-[:PASSED]-(passer:User) | passer]) AS passes,
       size(rooms) AS rooms, size(offers) AS offers, size(orders) AS orders,
       size(completions) AS completed, sold_prices,
       reduce(first = null, t IN rooms |
              CASE WHEN first IS NULL OR t < first THEN t ELSE first END) AS first_message_ms,
       reduce(first = null, t IN completions |
              CASE WHEN first IS NULL OR t < first THEN t ELSE first END) AS first_sale_ms
ORDER BY created_ms DESC, id DESC
