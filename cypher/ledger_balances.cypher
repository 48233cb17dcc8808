// Balances of the money ledger per owner, bucket and currency: sellers' pending, available
// (negative: a clawback to recover), disputed, in transit and paid; the platform's fees and
// promotions; what buyers' cards paid net. Optionally one owner ('seller:ID', 'platform').
// params: owner=null, limit=100
MATCH (a:Account)
WHERE $owner IS NULL OR a.owner = $owner
RETURN a.owner AS owner, a.bucket AS bucket, a.currency AS currency, a.balance AS balance_minor,
       a.updated_at AS updated_at
ORDER BY owner, currency, bucket
LIMIT $limit
