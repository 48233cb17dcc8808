// Demand by where the people live: likes, saves and conversations opened, per city and tag.
// params: min_count=1
MATCH (u:User)-[e:LIKED|SAVED]->(:Product)-[:TAGGED]->(t:Tag)
WITH u.city AS city, t.name AS tag, toLower(type(e)) AS kind, count(*) AS n
WHERE n >= $min_count
RETURN city, tag, kind, n
ORDER BY city, tag, kind
UNION ALL
MATCH (u:User)-[:MEMBER {role: 'buyer'}]->(:Room)-[:ABOUT]->(:Product)-[:TAGGED]->(t:Tag)
WITH u.city AS city, t.name AS tag, 'message' AS kind, count(*) AS n
WHERE n >= $min_count
RETURN city, tag, kind, n
ORDER BY city, tag, kind
