"""Sentiment model: training of the project's delta, ONNX export, registry and the ORT engine.

Importing this package is cheap; torch, transformers and onnxruntime load only where used.
"""

from __future__ import annotations

LABELS = ("negative", "neutral", "positive")
DEFAULT_NEUTRAL_BAND = (0.4, 0.6)


def label_for(score: float, band: tuple[float, float] = DEFAULT_NEUTRAL_BAND) -> str:
    """Map P(positive) to a label; the neutral band is half-open [low, high)."""
    low, high = band
    if score < low:
        return "negative"
    if score >= high:
        return "positive"
    return "neutral"


def uses_neutral_band(classes) -> bool:
    """A binary model (negative, positive) needs the band to say "neutral"; a 3-class one does not."""
    return "neutral" not in tuple(classes)


def labels_from_proba(probs, classes, decision: dict | None = None, band=DEFAULT_NEUTRAL_BAND) -> list[str]:
    """The label of each row of ``probs`` (n, len(classes)).

    A 3-class model labels by its own rule, recorded in its metadata (``decision``:
    argmax of log P plus per-class offsets chosen on held-out data), and ignores ``band``.
    A binary model (an imported HF checkpoint, the old SST-2 model) labels P(positive)
    with the neutral band.
    """
    import numpy as np  # here, not at the top: importing this package stays cheap

    classes = tuple(classes)
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(classes))
    names = np.asarray(classes, dtype=object)
    if uses_neutral_band(classes):
        # label_for, vectorised: this runs once per scored shard.
        low, high = band
        score = probs[:, classes.index("positive")]
        return np.where(score < low, "negative", np.where(score >= high, "positive", "neutral")).tolist()
    return names[_decision_scores(probs, classes, decision).argmax(1)].tolist()


def _decision_scores(probs, classes, decision: dict | None):
    """A 3-class model's ``log P + log_offsets`` per row and class: the rule argmaxes them."""
    import numpy as np

    offsets = np.asarray((decision or {}).get("log_offsets") or [0.0] * len(classes), dtype=np.float64)
    return np.log(np.clip(probs, 1e-12, 1.0)) + offsets


def decision_margin(probs, classes, decision: dict | None = None, band=DEFAULT_NEUTRAL_BAND):
    """How far each row of ``probs`` is from changing label, shape (n,), in log units: for a
    3-class model the gap between its two best ``log P + log_offsets``; for a binary one the
    distance of P(positive)'s log-odds to the nearest edge of the neutral band. A small error
    in the probabilities (a quantised runtime's) can only flip the label of a row whose
    margin it exceeds, which is how the engine decides which texts to score again."""
    import numpy as np

    classes = tuple(classes)
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(classes))
    if uses_neutral_band(classes):
        logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
        score = logit(np.clip(probs[:, classes.index("positive")], 1e-12, 1 - 1e-12))
        return np.min([np.abs(score - logit(edge)) for edge in band], axis=0)
    top2 = np.sort(_decision_scores(probs, classes, decision), axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]
