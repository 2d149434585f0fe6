"""Scores of class probabilities against labels: the figures every model report prints.

``probs`` is (n, 3) in ``LABELS`` order. On a binary set (negative / positive only) the
figure is binary accuracy, P(positive) > P(negative). On star-rated reviews:
- ``binary_acc`` and ``balanced_binary_acc`` on 1-2 vs 4-5 stars (3 stars left out),
  P(positive) > P(negative); balanced = mean of the two recalls, the honest figure when
  95% of a set is positive;
- ``acc3``, ``macro_f1``, ``neutral_f1`` of the model's own 3-class labels;
- ``ece``: expected calibration error of the top-class probability, 15 equal-width bins.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from .datasets import NEG, NEU, POS


def to_three_classes(probs: np.ndarray, classes) -> np.ndarray:
    """(n, 3) in LABELS order from a model's (n, len(classes)); a binary model's P(neutral) is 0."""
    from . import LABELS

    out = np.zeros((len(probs), 3))
    for c, name in enumerate(classes):
        out[:, LABELS.index(name)] = probs[:, c]
    return out


def decide(probs: np.ndarray, log_offsets=None) -> np.ndarray:
    """The model's label: argmax of log P + per-class offsets (0: plain argmax)."""
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    if log_offsets is not None:
        logp = logp + np.asarray(log_offsets, dtype=np.float64)
    return logp.argmax(1)


def f1_per_class(y: np.ndarray, pred: np.ndarray, k: int = 3) -> np.ndarray:
    out = np.zeros(k)
    for c in range(k):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        out[c] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    return out


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def binary_scores(probs: np.ndarray, y: np.ndarray) -> dict:
    keep = y != NEU
    yb, pb = y[keep] == POS, probs[keep, POS] > probs[keep, NEG]
    recalls = [
        float(pb[yb].mean()) if yb.any() else float("nan"),
        float((~pb[~yb]).mean()) if (~yb).any() else float("nan"),
    ]
    return {
        "binary_acc": float((pb == yb).mean()),
        "balanced_binary_acc": float(np.nanmean(recalls)),
        "n_binary": int(keep.sum()),
    }


def score(probs: np.ndarray, y: np.ndarray, binary: bool, log_offsets=None) -> dict:
    if binary:
        return {"binary_acc": float(((probs[:, POS] > probs[:, NEG]) == (y == POS)).mean()), "n": int(len(y))}
    pred = decide(probs, log_offsets)
    f1 = f1_per_class(y, pred)
    return {
        **binary_scores(probs, y),
        "acc3": float((pred == y).mean()),
        "macro_f1": float(f1.mean()),
        "neutral_f1": float(f1[NEU]),
        "ece": ece(probs, y),
        "n": int(len(y)),
    }
