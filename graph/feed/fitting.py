"""The fit's arithmetic, pure: held-out likes as examples (each deck's candidates as feature
rows, the liked one marked), a conditional logit over them pulled towards a start, the start and
pull chosen by cross-validation, hit rates, the shadow evaluation and the decision to ship.
`graph.feed.learning` gathers the examples from the graph and records what was decided.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from graph.feed.blend import HANDSET, Blend, weights_of

K = 10
LAMBDAS = (0.3, 3.0, 30.0)  # pull towards the start (PRIORS), chosen by cross-validation


@dataclass
class Example:
    """One held-out like: every candidate's features, which one was liked, and the simple
    baselines' scores of the same candidates."""

    person: str
    x: np.ndarray  # (candidates, features)
    target: int
    baselines: dict[str, np.ndarray]


def stable_share(value: str) -> float:
    """A number in [0, 1) from `value` alone (the same in every process and run)."""
    digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def hit_rate(scores: np.ndarray, target: int, k: int = K) -> float:
    """The chance the target is in the top k when ties are broken at random."""
    mine = scores[target]
    above = int((scores > mine).sum())
    tied = int((scores == mine).sum()) - 1
    return float(min(1.0, max(0.0, (k - above) / (tied + 1))))


def _stack(examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.vstack([e.x for e in examples])
    starts = np.cumsum([0] + [len(e.x) for e in examples[:-1]])
    targets = starts + np.array([e.target for e in examples])
    return x, starts, targets


class Stacked:
    """Examples as one matrix, for scoring many blends fast: each example's candidates a run of
    rows, its liked one marked."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.x, self.starts, self.targets = _stack(examples)
        sizes = np.diff(np.append(self.starts, len(self.x)))
        self.group = np.repeat(np.arange(len(examples)), sizes)

    def hits(self, weights: np.ndarray, k: int = K) -> np.ndarray:
        """Each example's HR@k under `weights`, ties broken at random (as `hit_rate`)."""
        s = self.x @ weights
        mine = s[self.targets][self.group]
        above = np.add.reduceat((s > mine).astype(np.int64), self.starts)
        tied = np.add.reduceat((s == mine).astype(np.int64), self.starts) - 1
        return np.clip((k - above) / (tied + 1), 0.0, 1.0)


def fit_weights(examples: Sequence[Example] | Stacked, prior: np.ndarray, lam: float) -> np.ndarray:
    """The conditional logit's weights: each example's liked candidate against the rest,
    plus `lam` |w - prior|^2."""
    data = examples if isinstance(examples, Stacked) else Stacked(examples)
    x, starts, targets, group = data.x, data.starts, data.targets, data.group

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = x @ w
        top = np.maximum.reduceat(s, starts)
        e = np.exp(s - top[group])
        z = np.add.reduceat(e, starts)
        p = e / z[group]
        nll = float(np.sum(np.log(z) + top - s[targets]))
        grad = p @ x - x[targets].sum(axis=0)
        diff = w - prior
        return nll + lam * float(diff @ diff), grad + 2 * lam * diff

    res = optimize.minimize(loss, prior.copy(), jac=True, method="L-BFGS-B")
    return np.asarray(res.x, dtype=float)


def hits(examples: Sequence[Example], weights: np.ndarray) -> np.ndarray:
    """Each example's HR@10 under `weights`."""
    return Stacked(examples).hits(weights) if examples else np.zeros(0)


# Where a fit starts from and is pulled towards: the hand-set blend, and the simple baselines the
# shadow evaluation judges against written as blends (likes x your tags' share, what lies
# within the radius first: NEAR_WEIGHT outweighs any spread of the rest; with recency, e^(-age /
# 5 days)). Where the hand-set blend is far off (everything listed at once), the fit starts from
# what already ranks well there.
NEAR_WEIGHT = 30.0
PRIORS: dict[str, tuple[float, ...]] = {
    "handset": HANDSET.weights,
    "popularity in your tags near you": weights_of(share=1.0, likes=1.0, near=NEAR_WEIGHT),
    "... x recency": weights_of(share=1.0, likes=1.0, near=NEAR_WEIGHT, days=-2.0),
}


@dataclass(frozen=True)
class Choice:
    prior: str
    lam: float | None  # None: the start as it is, no logit fit
    check_hr10: float | None  # cross-validated on the fit set (None: too few to split)


def _weights(examples: Sequence[Example] | Stacked, prior: str, lam: float | None) -> np.ndarray:
    start = np.array(PRIORS[prior])
    return start if lam is None else fit_weights(examples, start, lam)


FOLDS = 5


def choose(examples: Sequence[Example]) -> Choice:
    """The start (PRIORS) and pull (LAMBDAS; or the start as it is) whose blend, fitted on four
    fifths of `examples`, ranks the fifth left out best by HR@10, over FOLDS such splits (ties:
    the stronger pull, the hand-set start). The fit set's own folds: the held-out people stay
    unseen."""
    fold = {e.person: int(stable_share("fold:" + e.person) * FOLDS) for e in examples}
    splits = [
        ([e for e in examples if fold[e.person] != k], [e for e in examples if fold[e.person] == k])
        for k in range(FOLDS)
    ]
    if min(len(check) for _, check in splits) < 10:
        return Choice("handset", LAMBDAS[-1], None)
    judges = [(Stacked(inner), Stacked(check)) for inner, check in splits]
    scored: list[tuple[float, float, int, Choice]] = []
    for rank, name in enumerate(PRIORS):
        for lam in (None, *LAMBDAS):
            got = [judge.hits(_weights(inner, name, lam)) for inner, judge in judges]
            # rounded: a sum's last bits must not pick between two starts that rank alike
            hr = round(float(np.concatenate(got).mean()), 9)
            pull = math.inf if lam is None else lam
            scored.append((hr, pull, -rank, Choice(name, lam, round(hr, 4))))
    return max(scored, key=lambda s: s[:3])[3]


def fit_chosen(examples: Sequence[Example], choice: Choice) -> np.ndarray:
    return _weights(examples, choice.prior, choice.lam)


def interval(values: np.ndarray, draws: int = 1000) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean (a fixed seed: the same data, the same
    interval)."""
    if len(values) == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, len(values), (draws, len(values)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def shadow(
    heldout: Sequence[Example], fitted: np.ndarray, current: Blend
) -> dict[str, dict[str, float]]:
    """HR@10 (with intervals) on the held-out people of every contender; the paired
    differences of the fit to the current blend and of the best baseline to the fit too."""
    rows: dict[str, np.ndarray] = {
        "fitted": hits(heldout, fitted),
        "current": hits(heldout, np.array(current.weights)),
        "handset": hits(heldout, np.array(HANDSET.weights)),
    }
    for name in heldout[0].baselines if heldout else ():
        rows[name] = np.array([hit_rate(e.baselines[name], e.target) for e in heldout])
    out = {}
    for name, values in rows.items():
        low, high = interval(values)
        out[name] = {"hr10": round(float(values.mean()), 4), "low": round(low, 4)}
        out[name]["high"] = round(high, 4)
    pairs = [("fitted", "current")]
    baselines = [n for n in BASELINES if n in rows]
    if baselines:
        pairs.append((max(baselines, key=lambda n: out[n]["hr10"]), "fitted"))
    for first, second in pairs:
        diff = rows[first] - rows[second]
        low, high = interval(diff)
        name = "best baseline - fitted" if second == "fitted" else "fitted - current"
        out[name] = {"hr10": round(float(diff.mean()), 4), "low": round(low, 4)}
        out[name]["high"] = round(high, 4)
    return out


BASELINES = (
    "most liked near you",
    "tag affinity x popularity near you",
    "tag affinity x popularity x recency near you",
)


def decide(judged: dict[str, dict[str, float]], current: str, heldout: int) -> tuple[bool, str]:
    """Ship the fit only when its held-out HR@10 beats the current blend's and the best
    baseline does not rank better than it: not higher, or higher by no more than chance (the
    paired difference's 95% interval reaches 0). A fit that ranks as a baseline does *is* that
    baseline, as a blend, worth shipping over a worse current one; a tie-break's thousandth
    between two baselines that rank alike must not keep the worse current blend. The reason
    says which figures decided."""
    best = max(BASELINES, key=lambda n: judged[n]["hr10"])
    fit_hr, cur_hr, base_hr = (
        judged["fitted"]["hr10"],
        judged["current"]["hr10"],
        judged[best]["hr10"],
    )
    ahead = judged.get("best baseline - fitted")
    level = ahead is not None and ahead["low"] <= 0.0
    if fit_hr > cur_hr and (fit_hr >= base_hr or level):
        within = ""
        if fit_hr < base_hr and ahead is not None:
            span = f"{ahead['low']:+.3f} to {ahead['high']:+.3f}"
            within = f" (ahead by chance only: {best} - fit {span})"
        return True, (
            f"shipped: HR@10 {fit_hr:.3f} on {heldout} held-out people, against {cur_hr:.3f} "
            f"for the current blend ({current}) and {base_hr:.3f} for {best}{within}"
        )
    if fit_hr <= cur_hr:
        return False, (
            f"not shipped: the fit's HR@10 {fit_hr:.3f} on {heldout} held-out people does not "
            f"beat the current blend {current} ({cur_hr:.3f})"
        )
    return False, (
        f"not shipped: the fit's HR@10 {fit_hr:.3f} on {heldout} held-out people is below "
        f"{best} ({base_hr:.3f}), beyond chance"
    )
