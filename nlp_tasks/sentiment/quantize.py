"""INT8 quantisation of the exported model, with the few layers INT8 hurts most kept in FP32.

    python -m nlp_tasks.sentiment.quantize --model-dir build/model \
        --calib ../shared/data/sst2/train.tsv --out nlp_tasks/sentiment/delta/quantization.json

Dynamic INT8 quantises each MatMul's input activations per tensor. A few layers of a
transformer carry activation outliers, and their rounding error moves P(positive) by up to
0.2-0.3 on some texts: labels near the threshold flip. Which layers those are depends on the
trained weights, so it is measured, not guessed: every quantisable group (a layer's attention,
attention output, feed-forward in/out; the embeddings; the head) is kept in FP32 alone and
the logit error on calibration sentences ranked; then the smallest prefix of that ranking
whose calibration error is within reach of keeping them all is chosen. The result is a small
recipe (node names) stored with the delta, so ``make model`` quantises the same way on every
machine. Calibration data is training data, never an evaluation set.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from .artifacts import VARIANTS

log = logging.getLogger("nlp_tasks.sentiment.quantize")  # also when run as __main__


def groups(model_path: Path) -> dict[str, list[str]]:
    """Quantisable node names of an ORT-optimised BERT graph, grouped by role and layer."""
    import onnx

    out: dict[str, list[str]] = {}
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        layer = re.search(r"layer\.(\d+)", node.name)
        if node.op_type == "Attention":
            # Fused nodes lose the module path; they appear in layer order.
            key = f"layer{sum(k.endswith('.attention') for k in out)}.attention"
        elif node.op_type == "MatMul" and layer:
            if "attention/output/dense" in node.name:
                role = "attention_output"
            elif "intermediate/dense" in node.name:
                role = "ffn_in"
            elif "/output/dense" in node.name:
                role = "ffn_out"
            else:
                role = "matmul"
            key = f"layer{layer.group(1)}.{role}"
        elif node.op_type == "EmbedLayerNormalization":
            key = "embeddings"
        elif node.op_type in ("Gemm", "MatMul"):
            key = "head"
        else:
            continue
        out.setdefault(key, []).append(node.name)
        if node.op_type == "Gemm":
            # The quantiser first splits a Gemm into <name>_MatMul + <name>_Add and matches
            # nodes_to_exclude against the split names.
            out[key].append(node.name + "_MatMul")
    return out


def quantize(fp32: Path, out: Path, exclude: list[str] | None = None) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=list(exclude or []),
        # Fused contrib ops (Attention, SkipLayerNorm) defeat ONNX shape inference; their
        # tensors are FP32.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def recipe_nodes(recipe_path: Path) -> list[str]:
    """Node names a recipe keeps in FP32 (none when there is no recipe)."""
    if not recipe_path.exists():
        return []
    return [n for g in json.loads(recipe_path.read_text())["fp32_groups"].values() for n in g]


class _Scorer:
    """Logits of calibration texts under one ONNX file, batched like the engine."""

    def __init__(self, model_dir: Path, texts: list[str], threads: int):
        from .engine import SentimentEngine

        self.engine = SentimentEngine(model_dir, provider="cpu", threads=threads, variant="fp32")
        self.texts = texts
        self.threads = threads

    def logits(self, path: Path) -> np.ndarray:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self.engine.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        # Centred log-probabilities: a softmax's logits up to their free constant. For a
        # binary model column 1 minus column 0 is the log-odds the recipe used to rank by.
        logp = np.log(np.clip(self.engine.predict_proba(self.texts).astype(np.float64), 1e-7, 1.0))
        return logp - logp.mean(1, keepdims=True)

    def labels(self, logits: np.ndarray) -> np.ndarray:
        """The model's own labels (its decision offsets; argmax for a binary model)."""
        offsets = (self.engine.decision or {}).get("log_offsets") or [0.0] * logits.shape[1]
        return (logits + np.asarray(offsets)).argmax(1)


def _error(logits: np.ndarray, ref: np.ndarray, labels=lambda z: z.argmax(1)) -> dict:
    return {
        "mean_abs_logit_error": float(np.abs(logits - ref).mean(1).mean() * (2 if logits.shape[1] == 2 else 1)),
        "label_flips": int((labels(logits) != labels(ref)).sum()),
    }


def search(model_dir: Path, texts: list[str], max_groups: int = 8, threads: int = 2) -> dict:
    """Rank groups by how much keeping each alone in FP32 lowers the calibration error, then
    keep the smallest prefix of the ranking that gets within 10% of the best prefix's error."""
    fp32 = model_dir / VARIANTS["fp32"]
    scorer = _Scorer(model_dir, texts, threads)
    ref = scorer.logits(fp32)
    all_groups = groups(fp32)
    with tempfile.TemporaryDirectory() as tmp:
        q = Path(tmp) / "q.onnx"
        quantize(fp32, q)
        base = _error(scorer.logits(q), ref, scorer.labels)
        log.info("all INT8: %s", base)
        single = {}
        for name, nodes in all_groups.items():
            quantize(fp32, q, nodes)
            single[name] = _error(scorer.logits(q), ref, scorer.labels)
            log.info("%-26s in FP32: %s", name, single[name])
        ranked = sorted(single, key=lambda g: single[g]["mean_abs_logit_error"])
        prefixes = []
        for k in range(1, max_groups + 1):
            chosen = ranked[:k]
            quantize(fp32, q, [n for g in chosen for n in all_groups[g]])
            prefixes.append({"groups": chosen, **_error(scorer.logits(q), ref, scorer.labels)})
            log.info("first %d in FP32: %s", k, prefixes[-1])
    best = min(p["mean_abs_logit_error"] for p in prefixes)
    pick = next(p for p in prefixes if p["mean_abs_logit_error"] <= 1.1 * best)
    return {
        "fp32_groups": {g: all_groups[g] for g in pick["groups"]},
        "calibration": {
            "texts": len(texts),
            "all_int8": base,
            "chosen": {k: v for k, v in pick.items() if k != "groups"},
        },
        "single_group_fp32": single,
        "prefixes": prefixes,
    }


def _rel(path: str) -> str:
    from .train import _rel as rel

    return rel(path)


def calibration_texts(paths: list[str], n: int, seed: int, min_words: int = 6) -> list[str]:
    from .datasets import read_labelled

    texts = [t for path in paths for t in read_labelled(path).texts]
    pool = [t for t in texts if len(t.split()) >= min_words]
    rng = np.random.RandomState(seed)
    return [pool[i] for i in rng.choice(len(pool), min(n, len(pool)), replace=False)]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("nlp_tasks").setLevel(logging.INFO)
    ap = argparse.ArgumentParser(prog="python -m nlp_tasks.sentiment.quantize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True, help="a built model folder (model.onnx = FP32)")
    ap.add_argument(
        "--calib",
        required=True,
        action="append",
        help="training data (repeatable): a .tsv of sentences or a .jsonl of star-rated reviews",
    )
    ap.add_argument("--out", required=True, help="where to write the recipe (delta/quantization.json)")
    ap.add_argument("--texts", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--max-groups", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    t0 = time.time()
    texts = calibration_texts(args.calib, args.texts, args.seed)
    result = search(Path(args.model_dir), texts, args.max_groups, args.threads)
    meta = json.loads((Path(args.model_dir) / "metadata.json").read_text())
    recipe = {
        "command": "python -m nlp_tasks.sentiment.quantize --model-dir build/model "
        + " ".join(f"--calib {_rel(c)}" for c in args.calib)
        + f" --texts {args.texts} --seed {args.seed} --max-groups {args.max_groups} --out {_rel(args.out)}",
        "method": "dynamic INT8, per-channel weights; the listed groups stay FP32",
        "model_version_searched": meta.get("version"),
        **result,
        "seconds": round(time.time() - t0, 1),
    }
    Path(args.out).write_text(json.dumps(recipe, indent=2) + "\n")
    print(json.dumps({"fp32_groups": list(result["fp32_groups"]), **result["calibration"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
