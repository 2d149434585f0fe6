"""Sentiment model: training of the project's delta, ONNX export, registry and the ORT engine.

Importing this package is cheap; torch, transformers and onnxruntime load only where used.
"""
from __future__ import annotations

import math

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
    classes = tuple(classes)
    if uses_neutral_band(classes):
        pos = classes.index("positive")
        return [label_for(float(row[pos]), band) for row in probs]
    offsets = (decision or {}).get("log_offsets") or [0.0] * len(classes)
    out = []
    for row in probs:
        best = max(range(len(classes)), key=lambda c: math.log(max(float(row[c]), 1e-12)) + offsets[c])
        out.append(classes[best])
    return out
