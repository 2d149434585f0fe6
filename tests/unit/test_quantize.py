"""The INT8 variant follows the delta's quantisation recipe, on the real built model."""

from __future__ import annotations

import json

import numpy as np
import onnx

from nlp_tasks.sentiment.artifacts import RECIPE
from nlp_tasks.sentiment.engine import SentimentEngine
from nlp_tasks.sentiment.modeling import DELTA_DIR
from nlp_tasks.sentiment.quantize import groups, quantize, recipe_nodes

TEXTS = ["Absolutely love it, works perfectly.", "Broke after two days, total waste of money.", "It is fine I guess."]


def _ops(path) -> dict[str, str]:
    return {n.name: n.op_type for n in onnx.load(str(path)).graph.node}


def test_groups_cover_every_layer_of_the_exported_encoder(model_dir):
    g = groups(model_dir / "model.onnx")
    layers = {k.split(".")[0] for k in g if k.startswith("layer")}
    assert layers == {f"layer{i}" for i in range(6)}
    for i in range(6):
        for role in ("attention", "attention_output", "ffn_in", "ffn_out"):
            assert len(g[f"layer{i}.{role}"]) == 1
    assert "embeddings" in g and "head" in g


def test_excluded_nodes_stay_fp32_and_the_rest_is_int8(model_dir, tmp_path):
    g = groups(model_dir / "model.onnx")
    keep = g["layer0.ffn_out"] + g["head"]
    out = tmp_path / "q.onnx"
    quantize(model_dir / "model.onnx", out, keep)
    ops = _ops(out)
    assert ops[g["layer0.ffn_out"][0]] == "MatMul"  # untouched FP32 node
    assert ops.get("/head/Gemm_MatMul") == "MatMul" or ops.get("/head/Gemm") == "Gemm"
    assert "MatMulInteger" in ops.values()
    assert g["layer1.ffn_out"][0] not in ops  # quantised nodes are replaced


def test_built_int8_model_follows_the_committed_recipe(model_dir):
    meta = json.loads((model_dir / "metadata.json").read_text())
    want = recipe_nodes(DELTA_DIR / RECIPE)
    assert meta["optimisation"]["int8_fp32_nodes"] == want
    ops = _ops(model_dir / "model.int8.onnx")
    for name in want:
        # Every recipe node is still there under its FP32 op (the Gemm's split name aside).
        assert ops.get(name) in ("MatMul", "Gemm", "Attention", "EmbedLayerNormalization") or name.endswith(
            "_MatMul"
        ), name
    # And it still scores like the FP32 model on plain reviews.
    int8 = SentimentEngine(model_dir, provider="cpu", variant="int8").predict_proba(TEXTS)
    fp32 = SentimentEngine(model_dir, provider="cpu", variant="fp32").predict_proba(TEXTS)
    assert np.array_equal(int8.argmax(1), fp32.argmax(1))
    assert np.abs(int8 - fp32).max() < 0.15
