// Open reports grouped by the account behind them (the owner of the listing, message or review,
// or the account itself), most reported first: where a moderator should look first.
// Decide with `vendr moderation resolve REPORT_ID --action hide|suspend|dismiss --reason …`.
// params: limit=50
MATCH (r:Report)
WHERE r.status = 'open'
OPTIONAL MATCH (owner:User {id: r.owner_id})
WITH owner, r ORDER BY r.created_at, r.id
WITH owner, r.owner_id AS owner_id, count(r) AS reports, collect(DISTINCT r.reason) AS reasons,
     collect(DISTINCT r.target) AS targets, min(r.created_at) AS oldest_ms,
     sum(CASE WHEN r.reporter_id = 'system' THEN 1 ELSE 0 END) AS by_detector,
     collect(r.id)[0..5] AS report_ids
RETURN owner_id, owner.handle AS handle, owner.status AS status, owner.trust_score AS trust,
       reports, by_detector, reasons, targets, oldest_ms, report_ids
ORDER BY reports DESC, oldest_ms ASC, owner_id
LIMIT $limit
