// The deck's blend as the background worker fitted it: every fit, shipped or kept, with why.
// params: limit=20
MATCH (b:FeedBlend)
RETURN b.fitted_at AS fitted_at, b.version AS version, b.shipped AS shipped, b.reason AS reason,
       b.weights AS weights, b.figures AS figures
ORDER BY fitted_at DESC, version DESC
LIMIT $limit
