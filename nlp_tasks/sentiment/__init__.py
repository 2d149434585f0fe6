"""Sentiment model: training of the project's delta, ONNX export, registry and the ORT engine.

Importing this package is cheap; torch, transformers and onnxruntime load only where used.
"""
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
