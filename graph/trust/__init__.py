"""Trust and safety: reviews after a deal, the trust score and its propagation, fraud rings,
reports and moderation."""
