"""Any Hugging Face AutoModelForSequenceClassification checkpoint goes through the same export
path into the registry: proven with a small randomly initialised DistilBERT built here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nlp_tasks.sentiment import registry
from nlp_tasks.sentiment.engine import SentimentEngine


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint


def test_import_export_and_serve_a_random_distilbert(tmp_path, checkpoint, local_lake, monkeypatch):
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForSequenceClassification

    ckpt, _ = checkpoint
    torch_model = AutoModelForSequenceClassification.from_pretrained(str(ckpt)).eval()  # what the folder holds
    out = tmp_path / "exported"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nlp_tasks.sentiment",
            "import-hf",
            "--checkpoint",
            str(ckpt),
            "--out",
            str(out),
            "--data-root",
            local_lake.root,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["version"].startswith("distilbert-") and set(meta["variants"].values()) <= {
        p.name for p in out.iterdir()
    }
    assert registry.versions(local_lake) == [meta["version"]]

    texts = ["a short one", "another, somewhat longer review text about a kettle", "x"]
    engine = SentimentEngine(out, provider="cpu", variant="fp32")
    assert engine.classes_ == ("negative", "positive")
    got = engine.predict_positive(texts)
    tok = Tokenizer.from_file(str(ckpt / "tokenizer.json"))
    tok.no_padding()  # the shipped tokenizer.json pads to 128; the reference must not
    with torch.no_grad():
        want = []
        for t in texts:
            ids = torch.tensor([tok.encode(t).ids])
            want.append(
                torch.softmax(torch_model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, -1)[0, 1].item()
            )
    np.testing.assert_allclose(got, np.array(want, dtype=np.float32), atol=1e-4)

    # Served from the registry like the default model.
    monkeypatch.setenv("NLP_TASKS_CACHE", str(tmp_path / "cache"))
    registry.set_alias(local_lake, meta["version"])
    fetched = registry.fetch(local_lake, registry.resolve(local_lake))
    assert SentimentEngine(fetched, provider="cpu").version == meta["version"]


def test_set_attention_switches_every_module_that_can(checkpoint):
    from transformers import AutoModelForSequenceClassification

    from nlp_tasks.sentiment.export import set_attention

    model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint[0]), attn_implementation="eager")
    for impl in ("sdpa", "eager"):
        set_attention(model, impl)
        assert model.config._attn_implementation == impl
    set_attention(model, "no-such-attention")  # refused by transformers: the model keeps its own
    assert model.config._attn_implementation == "eager"
