"""Accuracy of a built sentiment model folder, per ONNX variant, plus INT8/FP32 agreement.

    python bench/model_eval.py --model-dir DIR --sst2-dev PATH --uci-dir PATH \
        [--variants fp32,int8] [--threads N] [--json OUT]

DIR is the output of ``python -m nlp_tasks.sentiment build --out DIR``. Every variant is
scored through the serving path (nlp_tasks.sentiment.engine.SentimentEngine: same tokenizer,
windowing and batching), on the SST-2 dev set and the UCI sentiment-labelled sentences
(uci_amazon_cells.tsv, uci_yelp.tsv, uci_imdb.tsv in --uci-dir). A text counts as positive
when P(positive) >= 0.5. Agreement is the share of texts on which a variant's label equals
the FP32 label.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp_tasks.sentiment.engine import CPU, SentimentEngine  # noqa: E402
from nlp_tasks.sentiment.export import VARIANTS  # noqa: E402
from nlp_tasks.sentiment.train import read_tsv  # noqa: E402

UCI_SETS = {"uci_amazon": "uci_amazon_cells.tsv", "uci_yelp": "uci_yelp.tsv", "uci_imdb": "uci_imdb.tsv"}


def datasets(sst2_dev: str, uci_dir: str) -> dict[str, tuple[list[str], np.ndarray]]:
    out = {"sst2_dev": read_tsv(sst2_dev)}
    for name, fname in UCI_SETS.items():
        out[name] = read_tsv(str(Path(uci_dir) / fname))
    return out


def engine_for(model_dir: Path, variant: str, threads: int | None) -> SentimentEngine:
    """A CPU engine whose session runs the given variant's file."""
    import onnxruntime as ort

    engine = SentimentEngine(model_dir, provider="cpu", threads=threads)
    path = model_dir / VARIANTS[variant]
    if not path.exists():
        raise FileNotFoundError(path)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = engine.threads
    opts.inter_op_num_threads = 1
    engine.session = ort.InferenceSession(str(path), opts, providers=[CPU])
    return engine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--sst2-dev", required=True)
    ap.add_argument("--uci-dir", required=True)
    ap.add_argument("--variants", default="fp32,int8", help="comma-separated, from " + ",".join(VARIANTS))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    model_dir = Path(args.model_dir)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    data = datasets(args.sst2_dev, args.uci_dir)
    meta = json.loads((model_dir / "metadata.json").read_text())

    probs: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    for v in variants:
        engine = engine_for(model_dir, v, args.threads)
        t0 = time.time()
        probs[v] = {name: engine.predict_proba(texts) for name, (texts, _) in data.items()}
        seconds[v] = round(time.time() - t0, 1)

    acc = {
        v: {name: float(((probs[v][name] >= 0.5).astype(int) == y).mean()) for name, (_, y) in data.items()}
        for v in variants
    }
    agreement: dict[str, dict[str, float]] = {}
    if "fp32" in probs:
        for v in variants:
            if v == "fp32":
                continue
            per = {}
            for name in data:
                per[name] = float(((probs[v][name] >= 0.5) == (probs["fp32"][name] >= 0.5)).mean())
            a = np.concatenate([probs[v][n] >= 0.5 for n in data])
            b = np.concatenate([probs["fp32"][n] >= 0.5 for n in data])
            per["all"] = float((a == b).mean())
            per["max_abs_prob_diff"] = float(
                max(np.abs(probs[v][n] - probs["fp32"][n]).max() for n in data)
            )
            agreement[f"{v}_vs_fp32"] = per

    names = list(data)
    print(f"model {meta.get('version')} ({model_dir})")
    print(f"{'variant':<10}" + "".join(f"{n:>12}" for n in names) + f"{'seconds':>10}")
    for v in variants:
        print(f"{v:<10}" + "".join(f"{acc[v][n]:>12.4f}" for n in names) + f"{seconds[v]:>10.1f}")
    print(f"{'n':<10}" + "".join(f"{len(data[n][1]):>12d}" for n in names))
    for key, per in agreement.items():
        print(
            f"label agreement {key}: "
            + ", ".join(f"{n} {per[n]:.4f}" for n in names)
            + f"; all {per['all']:.4f}; max |dP| {per['max_abs_prob_diff']:.4f}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"version": meta.get("version"), "accuracy": acc, "agreement": agreement, "seconds": seconds}, indent=2)
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
