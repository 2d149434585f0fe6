"""Accuracy of a built sentiment model folder, per ONNX variant, plus agreement with FP32.

    python bench/model_eval.py --model-dir DIR --reviews-dir PATH --sst2-dev PATH --uci-dir PATH \
        [--variants fp32,int8,fp16] [--threads N] [--json OUT]

DIR is the output of ``python -m nlp_tasks.sentiment build --out DIR``. Every variant is
scored through the serving path (nlp_tasks.sentiment.engine.SentimentEngine: same tokenizer,
windowing and batching).

- Star-rated reviews: the ``*_dev.jsonl`` splits in --reviews-dir (reviews_rated), input
  title + ". " + text as the DAG scores it. Printed per split and variant: binary accuracy
  and balanced binary accuracy (P(positive) > P(negative) on 1-2 vs 4-5 stars), 3-class
  accuracy, macro-F1 and neutral F1 of the model's own labels (its decision rule; a binary
  model's labels come from the 0.4/0.6 neutral band), and ECE (15 bins, top-class
  probability; 3-class models only).
- Binary guards: SST-2 dev and the UCI sentences, accuracy of P(positive) > P(negative).
- Agreement: the share of texts whose label under a variant equals the FP32 label (3-class
  labels on reviews, binary on the sentence sets), per set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp_tasks.sentiment import labels_from_proba, uses_neutral_band  # noqa: E402
from nlp_tasks.sentiment.artifacts import OPENVINO_VARIANTS, VARIANTS  # noqa: E402
from nlp_tasks.sentiment.datasets import LABELS, read_labelled  # noqa: E402
from nlp_tasks.sentiment.engine import CPU, SentimentEngine  # noqa: E402
from nlp_tasks.sentiment.metrics import binary_scores, ece, f1_per_class, to_three_classes  # noqa: E402

UCI_SETS = {"uci_amazon": "uci_amazon_cells.tsv", "uci_yelp": "uci_yelp.tsv", "uci_imdb": "uci_imdb.tsv"}
REVIEW_SETS = ("yelp_dev", "womens_clothing_dev", "amazon_alexa_dev", "amazon_products_dev")


def datasets(reviews_dir: str | None, sst2_dev: str | None, uci_dir: str | None) -> dict:
    out = {}
    if reviews_dir:
        for name in REVIEW_SETS:
            path = Path(reviews_dir) / f"{name}.jsonl"
            if path.exists():
                out[name] = read_labelled(str(path))
    if sst2_dev:
        out["sst2_dev"] = read_labelled(sst2_dev)
    if uci_dir:
        for name, fname in UCI_SETS.items():
            out[name] = read_labelled(str(Path(uci_dir) / fname))
    return out


def engine_for(model_dir: Path, variant: str, threads: int | None) -> SentimentEngine:
    """A CPU engine whose session runs the given variant's file."""
    import onnxruntime as ort

    if variant in OPENVINO_VARIANTS:  # OpenVINO, not an ONNX Runtime session
        return SentimentEngine(model_dir, variant=variant, threads=threads)
    engine = SentimentEngine(model_dir, provider="onnxruntime", threads=threads)
    path = model_dir / VARIANTS[variant]
    if not path.exists():
        raise FileNotFoundError(path)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = engine.threads
    opts.inter_op_num_threads = 1
    engine.session = ort.InferenceSession(str(path), opts, providers=[CPU])
    return engine


def scores_for(probs: np.ndarray, labels: list[str], data, classes: tuple[str, ...]) -> dict:
    p3 = to_three_classes(probs, classes)
    if data.binary:
        return {"binary_acc": float(((p3[:, 2] > p3[:, 0]) == (data.labels == 2)).mean())}
    pred = np.asarray([LABELS.index(x) for x in labels])
    f1 = f1_per_class(data.labels, pred)
    out = {
        **binary_scores(p3, data.labels),
        "acc3": float((pred == data.labels).mean()),
        "macro_f1": float(f1.mean()),
        "neutral_f1": float(f1[1]),
    }
    out["ece"] = None if uses_neutral_band(classes) else ece(p3, data.labels)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--reviews-dir", help="reviews_rated: *_dev.jsonl star-rated review splits")
    ap.add_argument("--sst2-dev")
    ap.add_argument("--uci-dir")
    ap.add_argument("--variants", default="fp32,int8", help="comma-separated, from " + ",".join(VARIANTS))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    model_dir = Path(args.model_dir)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    data = datasets(args.reviews_dir, args.sst2_dev, args.uci_dir)
    if not data:
        ap.error("give at least one of --reviews-dir, --sst2-dev, --uci-dir")
    meta = json.loads((model_dir / "metadata.json").read_text())
    classes = tuple(meta.get("labels", ("negative", "positive")))

    probs: dict[str, dict[str, np.ndarray]] = {}
    labels: dict[str, dict[str, list[str]]] = {}
    seconds: dict[str, float] = {}
    for v in variants:
        engine = engine_for(model_dir, v, args.threads)
        t0 = time.time()
        probs[v] = {name: engine.predict_proba(d.texts) for name, d in data.items()}
        seconds[v] = round(time.time() - t0, 1)
        labels[v] = {name: labels_from_proba(p, classes, engine.decision) for name, p in probs[v].items()}

    results = {
        v: {name: scores_for(probs[v][name], labels[v][name], d, classes) for name, d in data.items()} for v in variants
    }

    agreement: dict[str, dict[str, float]] = {}
    if "fp32" in probs:
        for v in variants:
            if v == "fp32":
                continue
            per = {}
            for name, d in data.items():
                if d.binary:  # the sentence sets are scored on the binary decision
                    a = to_three_classes(probs[v][name], classes)
                    b = to_three_classes(probs["fp32"][name], classes)
                    per[name] = float(((a[:, 2] > a[:, 0]) == (b[:, 2] > b[:, 0])).mean())
                else:
                    per[name] = float(
                        np.mean([x == y for x, y in zip(labels[v][name], labels["fp32"][name], strict=True)])
                    )
            pos = classes.index("positive")
            per["max_abs_prob_diff"] = float(
                max(np.abs(probs[v][n][:, pos] - probs["fp32"][n][:, pos]).max() for n in data)
            )
            agreement[f"{v}_vs_fp32"] = per

    print(f"model {meta.get('version')} ({model_dir}), classes {list(classes)}")
    review_names = [n for n in data if not data[n].binary]
    binary_names = [n for n in data if data[n].binary]
    if review_names:
        cols = ["binary_acc", "balanced_binary_acc", "acc3", "macro_f1", "neutral_f1", "ece"]
        print('\nstar-rated reviews (input title + ". " + text; binary: P(pos) > P(neg) on 1-2 vs 4-5 stars)')
        print(
            f"{'split':<22}{'variant':<9}{'n':>6}"
            + "".join(f"{c:>21}" if c == "balanced_binary_acc" else f"{c:>12}" for c in cols)
        )
        for name in review_names:
            for v in variants:
                r = results[v][name]
                cells = "".join(
                    (f"{'-':>21}" if c == "balanced_binary_acc" else f"{'-':>12}")
                    if r[c] is None
                    else (f"{r[c]:>21.4f}" if c == "balanced_binary_acc" else f"{r[c]:>12.4f}")
                    for c in cols
                )
                print(f"{name:<22}{v:<9}{len(data[name]):>6}" + cells)
        for v in variants:
            mean_f1 = np.mean([results[v][n]["macro_f1"] for n in review_names])
            print(f"mean macro-F1 over the {len(review_names)} review splits, {v}: {mean_f1:.4f}")
    if binary_names:
        print("\nbinary sentence sets (accuracy, P(pos) > P(neg))")
        print(f"{'variant':<10}" + "".join(f"{n:>12}" for n in binary_names) + f"{'seconds':>10}")
        for v in variants:
            print(
                f"{v:<10}"
                + "".join(f"{results[v][n]['binary_acc']:>12.4f}" for n in binary_names)
                + f"{seconds[v]:>10.1f}"
            )
        print(f"{'n':<10}" + "".join(f"{len(data[n]):>12d}" for n in binary_names))
    for key, per in agreement.items():
        print(
            f"\nlabel agreement {key}: "
            + ", ".join(f"{n} {per[n]:.4f}" for n in data)
            + f"; max |dP(positive)| {per['max_abs_prob_diff']:.4f}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"version": meta.get("version"), "results": results, "agreement": agreement, "seconds": seconds},
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
