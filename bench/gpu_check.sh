#!/usr/bin/env bash
# The CUDA + FP16 path on a machine with an NVIDIA GPU (issue 22): one short check.
#
#   bash bench/gpu_check.sh [TEXTS] [MODEL_DIR]        (defaults: 2000, build/model)
#
# Uses what is there: a Python whose onnxruntime offers CUDAExecutionProvider (PYTHON, else
# .venv/bin/python, else python3); if it has none, installs requirements-gpu.txt's
# onnxruntime-gpu into a venv of its own (needs PyPI). The model folder must hold model.onnx
# and model.fp16.onnx (`make model` builds them; on an offline GPU machine bring build/model).
# Scores a fixed set of texts (bench/inference.py's generator: short reviews and long
# multi-window ones) with the engine on CUDA at a few token budgets, checks 3-class label
# agreement and max |dP| against CPU FP32 on the same machine, and prints texts/s per budget.
# Exit status 0 when agreement >= 99.5%, 1 below, 2 when no GPU or no CUDA runtime is found.
set -euo pipefail
cd "$(dirname "$0")/.."
TEXTS=${1:-2000}
MODEL_DIR=${2:-build/model}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi finds none)"; exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

has_cuda() { "$1" -c 'import onnxruntime as o, sys; sys.exit("CUDAExecutionProvider" not in o.get_available_providers())' 2>/dev/null; }
PY=""
for cand in "${PYTHON:-}" .venv/bin/python python3; do
  if [ -n "$cand" ] && command -v "$cand" >/dev/null && has_cuda "$cand"; then PY=$cand; break; fi
done
if [ -z "$PY" ]; then
  echo "gpu_check: no onnxruntime with CUDA found; installing requirements-gpu.txt into .venv-gpu"
  python3 -m venv .venv-gpu
  .venv-gpu/bin/pip install -q numpy tokenizers -r requirements-gpu.txt || { echo "gpu_check: install failed (offline?)"; exit 2; }
  PY=.venv-gpu/bin/python
  has_cuda "$PY" || { echo "gpu_check: onnxruntime-gpu installed but CUDAExecutionProvider is unavailable (CUDA/cuDNN libraries?)"; exit 2; }
fi
for f in metadata.json tokenizer.json model.onnx model.fp16.onnx; do
  [ -f "$MODEL_DIR/$f" ] || { echo "gpu_check: $MODEL_DIR/$f missing: run 'make model' (or bring build/model)"; exit 2; }
done

PYTHONPATH=. "$PY" - "$TEXTS" "$MODEL_DIR" <<'EOF'
import sys, time, statistics
import numpy as np
import onnxruntime as ort
from bench.inference import make_texts
from nlp_tasks.sentiment import labels_from_proba
from nlp_tasks.sentiment.engine import SentimentEngine

n, model_dir = int(sys.argv[1]), sys.argv[2]
texts = make_texts(n)
print(f"onnxruntime {ort.__version__}, providers {ort.get_available_providers()}, {n} texts")
t = time.perf_counter()
cpu = SentimentEngine(model_dir, provider="onnxruntime", variant="fp32")
ref = cpu.predict_proba(texts)
print(f"CPU FP32 reference: {n / (time.perf_counter() - t):.1f} texts/s ({cpu.threads} threads)")
decide = lambda p: labels_from_proba(p, cpu.classes_, cpu.decision)
ref_l = decide(ref)
pos = cpu.classes_.index("positive")
worst = 1.0
print(f"{'token budget':>12}{'texts/s':>10}{'agreement':>11}{'max |dP+|':>11}")
for budget in (4096, 8192, 16384, 32768):
    gpu = SentimentEngine(model_dir, provider="cuda", max_tokens_per_batch=budget, batch_size=max(64, budget // 16))
    assert gpu.choice.provider == "CUDAExecutionProvider", gpu.choice
    gpu.predict_proba(texts[:256])  # warm-up: cuDNN/cuBLAS autotuning, allocator
    runs = []
    for _ in range(3):
        t = time.perf_counter(); p = gpu.predict_proba(texts); runs.append(time.perf_counter() - t)
    agree = float(np.mean([a == b for a, b in zip(decide(p), ref_l)]))
    worst = min(worst, agree)
    print(f"{budget:>12}{n / statistics.median(runs):>10.1f}{agree:>11.4f}{float(np.abs(p[:, pos] - ref[:, pos]).max()):>11.4f}  ({gpu.choice.variant})")
sys.exit(0 if worst >= 0.995 else 1)
EOF
