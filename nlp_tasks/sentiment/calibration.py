"""Calibration of a trained head and the decision rule of a 3-class model.

Training balances the classes (most reviews are 5 stars), so the raw softmax over-rates the
minority classes and is over-confident. Two small fits on held-out *training* reviews (never
on a set that is reported) fix that:

1. ``fit_temperature_bias``: logits / T + c, T > 0 and offsets for some classes (c[0] = 0;
   see ``METHODS``), minimising the negative log-likelihood on the held-out reviews in their
   natural class mix.
   Both fold exactly into the linear head (W / T, b / T + c), so the exported graph's
   ``probs`` are the calibrated probabilities; nothing changes at serving time.
2. ``fit_decision_offsets``: the label is argmax(log P + d). Calibrated probabilities put a
   3-star review's most likely class at "positive" more often than not, which is right for
   probabilities and wrong for an analyst who wants mixed reviews flagged. d is chosen on the
   same held-out reviews to maximise macro-F1, averaged over review sources, and recorded in
   the model's metadata.
"""

from __future__ import annotations

import itertools

import numpy as np

from .metrics import decide, f1_per_class


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


# Which classes get a free logit offset (class 0 is the reference and never does).
METHODS = {"temperature": (), "temperature+neutral": (1,), "temperature+bias": (1, 2)}


def fit_temperature_bias(
    logits: np.ndarray, y: np.ndarray, method: str = "temperature+bias"
) -> tuple[float, np.ndarray]:
    """T and per-class offsets c minimising the NLL of softmax(logits / T + c).

    ``temperature+neutral`` frees only the neutral offset: P(positive) / P(negative) then
    stays as trained on class-balanced data, so "is it positive or negative" is answered
    without the natural prior (95% positive on some shops) deciding it, while P(neutral)
    and the confidence are fitted to the reviews as they come.
    """
    from scipy.optimize import minimize

    k = logits.shape[1]
    free = [c for c in METHODS[method] if c < k]

    def offsets(theta) -> np.ndarray:
        c = np.zeros(k)
        c[free] = theta[1:]
        return c

    def nll(theta):
        return -_log_softmax(logits / np.exp(theta[0]) + offsets(theta))[np.arange(len(y)), y].mean()

    res = minimize(nll, np.zeros(1 + len(free)), method="L-BFGS-B")
    return float(np.exp(res.x[0])), offsets(res.x)


def fold_into_head(weight: np.ndarray, bias: np.ndarray, temperature: float, offsets: np.ndarray):
    return weight / temperature, bias / temperature + offsets


def unfold_from_head(weight: np.ndarray, bias: np.ndarray, temperature: float, offsets: np.ndarray):
    """The head as trained, from a calibrated one and its recorded calibration."""
    return weight * temperature, (bias - offsets) * temperature


def fit_decision_offsets(probs: np.ndarray, y: np.ndarray, groups: list[str], grid=None) -> np.ndarray:
    """Per-class log offsets (offset of class 0 fixed at 0) maximising mean macro-F1 over groups."""
    grid = np.round(np.arange(-1.0, 2.51, 0.1), 2) if grid is None else grid
    groups_arr = np.asarray(groups)
    names = sorted(set(groups))
    masks = [groups_arr == g for g in names]
    best, best_d = -1.0, np.zeros(probs.shape[1])
    for rest in itertools.product(grid, repeat=probs.shape[1] - 1):
        d = np.concatenate([[0.0], rest])
        pred = decide(probs, d)
        f = np.mean([f1_per_class(y[m], pred[m], probs.shape[1]).mean() for m in masks])
        # Ties go to the smaller offsets: the closest rule to plain argmax.
        if f > best + 1e-9 or (abs(f - best) <= 1e-9 and np.abs(d).sum() < np.abs(best_d).sum()):
            best, best_d = f, d
    return best_d
