"""Online experiments over the deck's blends: which arm a person's decks are dealt from.

`VENDR_FEED_EXPERIMENT` names one experiment and its arms with their shares, e.g.
`blend-test:current=50,previous=50` (arms are blends: `current` the shipped one, `previous` the
one shipped before it, `handset` the hand-set one; graph.infra.settings checks the form). A
person's arm is a stable hash of the experiment's name and their id onto the shares: the same
arm for every deck while the experiment keeps its name, another draw under a new name. The
decks record the arm with what they dealt (`impressions`), and graph.analytics.experiments
attributes outcomes to it.
"""

from __future__ import annotations

from hashlib import blake2b

from graph.infra.settings import experiment_arms


def assign(spec: str, user_id: str) -> tuple[str, str] | None:
    """(experiment, arm) for this person under `spec` (VENDR_FEED_EXPERIMENT), or None when
    there is no experiment. Pure: blake2b of the name and the id, not Python's salted hash,
    so every process, worker and restart agrees."""
    parsed = experiment_arms(spec)
    if parsed is None:
        return None
    name, arms = parsed
    total = sum(share for _, share in arms)
    digest = blake2b(f"{name}\x00{user_id}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % total  # 64 bits onto a few shares: no visible bias
    for arm, share in arms:
        if point < share:
            return name, arm
        point -= share
    raise AssertionError("unreachable: the point is below the shares' total")


def name_of(spec: str) -> str | None:
    """The experiment's name in `spec`, or None when there is none."""
    parsed = experiment_arms(spec)
    return parsed[0] if parsed else None
