// What `vendr ledger check` refuses, as rows: entries whose postings do not sum to zero,
// accounts whose balance is not the sum of their postings, and payments whose entries with
// the buyers' account do not match what they took (captured less refunds and lost disputes).
// Empty when the ledger is whole.
// params: limit=100
MATCH (e:LedgerEntry)-[p:POSTS]->(:Account)
WITH e, sum(p.amount) AS total
WHERE total <> 0
RETURN 'unbalanced entry' AS problem, e.id AS id, total AS amount_minor, null AS expected_minor
UNION ALL
MATCH (a:Account)
OPTIONAL MATCH (:LedgerEntry)-[p:POSTS]->(a)
WITH a, coalesce(sum(p.amount), 0) AS posted
WHERE posted <> a.balance
RETURN 'account drift' AS problem, a.key AS id, a.balance AS amount_minor, posted AS expected_minor
UNION ALL
MATCH (pay:Payment)
WHERE pay.captured_amount > 0 OR pay.refunded_amount > 0
OPTIONAL MATCH (e:LedgerEntry {payment_id: pay.id})-[p:POSTS]->(:Account {owner: 'buyers'})
WITH pay, -coalesce(sum(p.amount), 0) AS booked
WITH pay, booked, coalesce(pay.captured_amount, 0) - coalesce(pay.refunded_amount, 0)
                  - coalesce(pay.dispute_lost, 0) AS taken
WHERE booked <> taken
RETURN 'payment mismatch' AS problem, pay.id AS id, booked AS amount_minor,
       taken AS expected_minor
LIMIT $limit
