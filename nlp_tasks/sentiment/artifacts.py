"""The names of a built model's files, shared by the build side and the serving side.

A model folder (``make model``'s ``build/model``, a registry version) holds the variants below,
the tokenizer files and ``metadata.json`` (which lists every other file with its sha256). The
build (``export``, ``quantize``) writes these names and serving (``engine``, ``registry``)
reads them; both import them from here, so serving never imports build-time code. Standard
library only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

METADATA = "metadata.json"
# Variant -> file: FP32 (ORT-optimised), dynamic INT8, FP16 for CUDA, OpenVINO static INT8
# (its weights are the ``.bin`` beside the ``.xml``), OpenVINO BF16, which is the FP32 file
# compiled by OpenVINO at BF16 precision, and OpenVINO INT8 refined: the INT8 file, whose texts
# near a label boundary are scored again from the FP32 file at BF16 (``engine``). Variants share
# files, so a file names no variant; the variant is what runtime keys and scores record.
VARIANTS = {
    "fp32": "model.onnx",
    "int8": "model.int8.onnx",
    "fp16": "model.fp16.onnx",
    "ov-int8": "model.ov-int8.xml",
    "ov-bf16": "model.onnx",
    "ov-int8-refine": "model.ov-int8.xml",
}
# The variants OpenVINO runs (the others are ONNX Runtime's).
OPENVINO_VARIANTS = ("ov-int8", "ov-bf16", "ov-int8-refine")
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_FILES = (TOKENIZER_JSON, "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")

# Files of the delta (nlp_tasks/sentiment/delta/) the build reads besides the weights:
# the INT8 recipe (which nodes dynamic INT8 keeps in FP32, see ``quantize``) and the OpenVINO
# INT8 variant's calibration reviews.
RECIPE = "quantization.json"
OV_CALIBRATION = "ov_calibration.jsonl"


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
