"""How wide ov-int8-refine's margin must be: where OpenVINO INT8's label flips lie.

    python bench/refine_margin.py --reviews R/amazon_alexa_train.jsonl R/amazon_products_train.jsonl \\
        R/womens_clothing_train.jsonl R/yelp_train.jsonl [--texts 2000] [--seed 11] [--model-dir build/model]

Scores a random sample of reviews (the same number from each file, never one of the delta's
calibration texts) with the FP32 model (ONNX Runtime) and with OpenVINO static INT8, then
prints, for each INT8 label that differs from FP32's, its margin (``decision_margin``: how far
INT8's own scores were from changing label), and for a few margins the share of texts under
it and the flips it would catch. Last, the refined engine (``ov-int8-refine``, at the engine's
``REFINE_MARGIN``) against FP32. The margin is chosen on *training* reviews, so that the dev
splits which bench/inference.py reports stay unseen.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def sample(files: list[str], n: int, seed: int, exclude: set[str]) -> list[str]:
    """``n`` review inputs, ``n // len(files)`` drawn from each file (title + ". " + text)."""
    from nlp_tasks.sentiment.datasets import review_input

    rng = random.Random(seed)
    texts: list[str] = []
    for f in files:
        rows = [json.loads(line) for line in Path(f).read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("text") and r["text"] not in exclude]
        texts += [review_input(r.get("title"), r["text"]) for r in rng.sample(rows, n // len(files))]
    return texts


def main() -> None:
    import numpy as np

    from nlp_tasks.sentiment import decision_margin, labels_from_proba
    from nlp_tasks.sentiment.artifacts import OV_CALIBRATION
    from nlp_tasks.sentiment.engine import SentimentEngine
    from nlp_tasks.sentiment.modeling import DELTA_DIR

    ap = argparse.ArgumentParser()
    ap.add_argument("--reviews", nargs="+", required=True, help="JSONL review files (text, optional title)")
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--model-dir", default=str(REPO / "build" / "model"))
    args = ap.parse_args()

    calibration = (DELTA_DIR / OV_CALIBRATION).read_text().splitlines()
    texts = sample(args.reviews, args.texts, args.seed, {json.loads(x)["text"] for x in calibration if x.strip()})
    fp32 = SentimentEngine(args.model_dir, provider="onnxruntime", variant="fp32")
    classes, decision = fp32.classes_, fp32.decision

    def labels(p):
        return np.asarray(labels_from_proba(p, classes, decision))

    ref = labels(fp32.predict_proba(texts))
    int8_p = SentimentEngine(args.model_dir, variant="ov-int8").predict_proba(texts)
    margin = decision_margin(int8_p, classes, decision)
    flips = labels(int8_p) != ref
    print(f"{len(texts)} texts; OpenVINO INT8 agrees with FP32 on {1 - flips.mean():.2%} ({flips.sum()} flips)")
    print("margins of the flips:", " ".join(f"{m:.3f}" for m in np.sort(margin[flips])))
    for m in (0.05, 0.1, 0.15, 0.2, 0.3):
        under = margin < m
        print(f"margin < {m:.2f}: {under.mean():.1%} of texts, {flips[under].sum()} of {flips.sum()} flips")
    refined = SentimentEngine(args.model_dir, variant="ov-int8-refine")
    agree = (labels(refined.predict_proba(texts)) == ref).mean()
    print(
        f"ov-int8-refine (REFINE_MARGIN {refined.REFINE_MARGIN}): {refined.refined} texts scored again "
        f"({refined.refined / len(texts):.1%}), agreement with FP32 {agree:.2%}"
    )


if __name__ == "__main__":
    main()
