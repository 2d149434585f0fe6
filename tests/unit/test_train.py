"""The training command writes a delta that rebuilds the model it trained.

A few steps on a tiny generated TSV: enough to move every trained tensor away from its
initial value, so a delta that lost the biases, the LayerNorms or the adapter would not
reproduce the trained model and the command would fail.
"""
import json

import pytest

pytest.importorskip("peft")

from safetensors.torch import load_file  # noqa: E402

from nlp_tasks.sentiment import train  # noqa: E402

POS = ["a joy to watch", "warm , funny and wise", "the best film of the year", "i loved every minute"]
NEG = ["a dull , lifeless mess", "painfully boring", "the worst script in years", "i hated the ending"]


@pytest.fixture()
def tiny_tsv(tmp_path):
    rows = ["sentence\tlabel"]
    for i in range(8):
        rows += [f"{t} {i}\t1" for t in POS] + [f"{t} {i}\t0" for t in NEG]
    path = tmp_path / "tiny.tsv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_lora_delta_with_biases_layernorms_in_float16_reproduces_the_trained_model(tiny_tsv, tmp_path):
    out = tmp_path / "delta"
    train.main(
        [
            "--method", "lora", "--train", str(tiny_tsv), "--dev", str(tiny_tsv), "--out", str(out),
            "--epochs", "2", "--max-steps", "6", "--batch-size", "16", "--lr", "5e-3", "--head-lr", "1e-2",
            "--lora-r", "4", "--lora-alpha", "8", "--lora-bias", "all", "--train-layernorm",
            "--save-dtype", "float16", "--log-every", "100",
        ]
    )
    tensors = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert {str(t.dtype) for t in tensors.values()} == {"torch.float16"}
    names = list(tensors)
    assert any("lora_A" in k for k in names)
    assert any("LayerNorm.modules_to_save" in k for k in names)
    assert any(k.endswith("intermediate.dense.base_layer.bias") for k in names)

    meta = json.loads((out / "training.json").read_text())
    assert meta["hyperparameters"]["lora_bias"] == "all"
    assert meta["hyperparameters"]["train_layernorm"] is True
    assert meta["hyperparameters"]["adapter_dtype"] == "float16"
    assert meta["hyperparameters"]["steps_done"] == 6
    # The command refuses to write a delta that does not reproduce the model; float16
    # rounding alone stays far below that bound.
    assert meta["assembled_vs_trained_max_abs_dp"] < 1e-2
    assert "--train-layernorm" in meta["command"]
    assert set(meta["metrics_accuracy"]) == {"sst2_dev"}
