"""Trust: reviews after a deal, the trust score and its propagation from verified seeds, fraud
rings.
May import: notify, infra.
"""

from graph.trust.rank import TrustService
from graph.trust.reviews import SHOWN, ReviewService
from graph.trust.rings import RingDetector
from graph.trust.score import stored

__all__ = ["SHOWN", "ReviewService", "RingDetector", "TrustService", "stored"]
