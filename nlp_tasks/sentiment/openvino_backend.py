"""OpenVINO on the CPU, the serving side: static INT8 (``ov-int8``, and ``ov-int8-refine``, whose
texts near a label boundary the engine scores again at BF16) for processors with INT8 dot
products, BF16 (``ov-bf16``) for processors with AMX BF16 tiles.

Built by ``make model`` next to the ONNX variants (``model.ov-int8.xml`` + ``.bin``; see
``export.build_ov_int8``): the torch model converted to OpenVINO IR, then quantised by nncf with
*static* activation scales (SmoothQuant + fast bias correction, ``ModelType.TRANSFORMER``)
calibrated on the texts the delta ships in ``ov_calibration.jsonl`` (300 CC0 training reviews),
so the build is offline and repeatable. Static scales make a text's score independent of the
texts it is batched with, which dynamic INT8 (ONNX Runtime's, scales per batch) is not.

It is only worth running where the CPU has INT8 dot products (AVX-512 VNNI, AVX-VNNI, AMX):
there oneDNN's brgemm INT8 kernels run it about 2x faster than ONNX Runtime's dynamic INT8
(issue 22, Zen 5). On a plain AVX2 CPU OpenVINO falls back to a generic INT8 GEMM that is
slower than ONNX Runtime (0.53x measured on this project's AVX2 machines), so the engine then
keeps ONNX Runtime; see ``engine.choose_provider``.

BF16 needs no build artifact: OpenVINO compiles the FP32 ``model.onnx`` with
``INFERENCE_PRECISION_HINT: bf16`` and runs its MatMuls on AMX tiles (Sapphire Rapids and later
Xeons). On such a CPU it is as fast as OpenVINO INT8 and agrees with FP32 on ~99.8% of 3-class
labels, against ~98.3% for INT8 (issue 22). The AMX kernels work on blocks of 16 rows and 16
tokens, so a row's bits depend on how many rows its batch has and on its padded width
(measured, OpenVINO 2026.4, Sapphire Rapids-class Xeon): a call of exactly ``BF16_BLOCK`` rows
(pad rows of zero ids, mask on their first token) at a width that is a multiple of
``BF16_BLOCK`` scores each row bit-identically whatever its batch mates, its position and the
width, so the engine pads BF16 batches to such widths and runs them as ``BF16_BLOCK``-row calls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PROVIDER = "OpenVINO-CPU"
# /proc/cpuinfo flags under which OpenVINO's INT8 kernels beat ONNX Runtime's dynamic INT8.
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
# /proc/cpuinfo flags under which OpenVINO BF16 is worth running: AMX tiles. AVX-512 BF16 alone
# (Cooper Lake, Zen 4/5) runs BF16 too, but slower than OpenVINO INT8 there (issue 22, Zen 5).
BF16_FLAGS = ("amx_bf16",)
# Every /proc/cpuinfo flag under which OpenVINO computes BF16 natively (elsewhere a BF16 hint
# falls back to FP32): AMX tiles, or AVX-512 BF16 dot products (Cooper Lake, Zen 4/5).
BF16_NATIVE_FLAGS = ("amx_bf16", "avx512_bf16")
# Rows of every BF16 inference call, and the multiple its padded widths are rounded up to (the
# AMX tiles' 16 rows): see the docstring.
BF16_BLOCK = 16


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return set(next(line for line in f if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):  # pragma: no cover - non-Linux
        return set()


def int8_isa(flags: set[str] | None = None) -> str | None:
    """The INT8 instruction set OpenVINO would use well, or None (plain AVX2 and older)."""
    flags = cpu_flags() if flags is None else flags
    return next((f for f in reversed(INT8_FLAGS) if f in flags), None)


def bf16_isa(flags: set[str] | None = None) -> str | None:
    """The BF16 instruction set that makes OpenVINO BF16 the fastest accurate path, or None."""
    flags = cpu_flags() if flags is None else flags
    return next((f for f in BF16_FLAGS if f in flags), None)


def bf16_native(flags: set[str] | None = None) -> str | None:
    """The instruction set OpenVINO would run BF16 on (AMX or AVX-512 BF16), or None."""
    flags = cpu_flags() if flags is None else flags
    return next((f for f in BF16_NATIVE_FLAGS if f in flags), None)


def installed() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def runtime_version() -> str:
    import openvino

    return openvino.__version__.split("-")[0]


class Runner:
    """``(input_ids, attention_mask) -> probs`` on one compiled model and infer request.

    ``precision``: OpenVINO's inference precision ("bf16"), or None for the model's own (the
    INT8 IR, or FP32). ``rows``: run every call as chunks of exactly this many rows, the last
    padded with rows of zero ids (mask on their first token, so no row is all padding), whose
    outputs are dropped; None runs a batch as given.
    """

    def __init__(self, path: Path, threads: int, precision: str | None = None, rows: int | None = None):
        import openvino as ov

        config: dict[str, object] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.rows = rows

    def _infer(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        out = self.request.infer({"input_ids": input_ids, "attention_mask": attention_mask})
        return np.array(out[0], dtype=np.float32, copy=True)

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        rows = self.rows
        if not rows:
            return self._infer(input_ids, attention_mask)
        n, width = input_ids.shape
        out = []
        for start in range(0, n, rows):
            ids, mask = input_ids[start : start + rows], attention_mask[start : start + rows]
            k = len(ids)
            if k < rows:
                pad_mask = np.zeros((rows - k, width), dtype=mask.dtype)
                pad_mask[:, 0] = 1
                ids = np.concatenate([ids, np.zeros((rows - k, width), dtype=ids.dtype)])
                mask = np.concatenate([mask, pad_mask])
            out.append(self._infer(ids, mask)[:k])
        return np.concatenate(out)
