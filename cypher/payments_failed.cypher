// Provider calls refused for good (a void, a capture, a refund the provider would not take),
// newest first, with the provider's reason: they wait for an operator
// (`vendr payments retry PAYMENT_ID` tries one again).
// params: limit=50
MATCH (pay:Payment)
WHERE pay.owed IS NOT NULL AND pay.owed_at IS NULL
RETURN pay.id AS payment_id, pay.purpose AS purpose, pay.subject_id AS subject_id,
       pay.status AS status, pay.owed AS owed, pay.owed_amount AS amount_minor,
       pay.currency AS currency, pay.owed_error AS error, pay.updated_at AS updated_at
ORDER BY updated_at DESC, payment_id
LIMIT $limit
