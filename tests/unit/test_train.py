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
            "--method",
            "lora",
            "--train",
            str(tiny_tsv),
            "--dev",
            str(tiny_tsv),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--max-steps",
            "6",
            "--batch-size",
            "16",
            "--lr",
            "5e-3",
            "--head-lr",
            "1e-2",
            "--lora-r",
            "4",
            "--lora-alpha",
            "8",
            "--lora-bias",
            "all",
            "--train-layernorm",
            "--save-dtype",
            "float16",
            "--log-every",
            "100",
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
    assert set(meta["metrics"]) == {"sst2_dev"}
    assert meta["classes"] == ["negative", "positive"]


REVIEWS = {
    5: ["Love it, works perfectly", "Best purchase this year, highly recommend"],
    4: ["Good value, does the job well", "Nice and sturdy, happy with it"],
    3: ["It is okay, some good and some bad", "Average, nothing special either way"],
    2: ["Disappointing, it feels cheap", "Not great, stopped working soon"],
    1: ["Terrible, broke after two days", "Awful, a total waste of money"],
}


@pytest.fixture()
def tiny_reviews(tmp_path):
    """A tiny star-rated review file in the reviews_rated format, two sources, skewed to 5 stars."""
    rows = []
    for src in ("shop", "cafe"):
        for i in range(6):
            for stars, texts in REVIEWS.items():
                for j, t in enumerate(texts * (3 if stars == 5 else 1)):
                    rows.append(
                        {
                            "id": f"{src}-{stars}-{i}-{j}",
                            "source": src,
                            "rating": stars,
                            "title": "Review" if j % 2 else "",
                            "text": f"{t} {i}",
                        }
                    )
    path = tmp_path / "tiny_train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_three_class_training_warm_starts_calibrates_and_records_its_rule(tiny_reviews, tiny_tsv, tmp_path):
    from nlp_tasks.sentiment.modeling import DELTA_DIR, assemble

    out = tmp_path / "delta3"
    train.main(
        [
            "--method",
            "lora",
            "--train",
            str(tiny_reviews),
            "--train",
            str(tiny_tsv),
            "--binary-subsample",
            "16",
            "--dev",
            str(tiny_reviews),
            "--out",
            str(out),
            "--init-delta",
            str(DELTA_DIR),
            "--max-steps",
            "4",
            "--batch-size",
            "16",
            "--lr",
            "1e-3",
            "--holdout-fraction",
            "0.3",
            "--max-class-ratio",
            "1.5",
            "--save-dtype",
            "float16",
            "--log-every",
            "100",
        ]
    )
    head = json.loads((out / "head.json").read_text())
    assert head["labels"] == ["negative", "neutral", "positive"] and len(head["weight"]) == 3
    assert len(head["decision"]["log_offsets"]) == 3 and head["decision"]["log_offsets"][0] == 0.0
    meta = json.loads((out / "training.json").read_text())
    assert meta["classes"] == ["negative", "neutral", "positive"]
    cal = meta["calibration"]
    assert cal["temperature"] > 0 and cal["class_offsets"][0] == 0.0
    # Held-out reviews never train: the sample counts what is left, balanced per source.
    sample = meta["train_sample"]["tiny_train.jsonl"]
    assert sample["held_out"] > 0
    neg, neu, pos = sample["per_class"]
    assert pos <= 1.5 * max(neg, neu) + 2  # capped per source at 1.5x the second class
    assert meta["train_sample"]["tiny.tsv"]["rows"] == 16
    assert meta["data_licences"]["tiny_train.jsonl"].startswith("unknown")
    assert meta["hyperparameters"]["init_delta"] is not None
    assert set(meta["metrics"]["tiny_train"]) >= {"balanced_binary_acc", "macro_f1", "neutral_f1", "ece"}
    model, _ = assemble(out)
    assert model.head.out_features == 3
