"""OpenVINO static INT8, the serving side: the CPU path for processors with INT8 dot products.

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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PROVIDER = "OpenVINO-CPU"
# /proc/cpuinfo flags under which OpenVINO's INT8 kernels beat ONNX Runtime's dynamic INT8.
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


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
    """``(input_ids, attention_mask) -> probs`` on one compiled model and infer request."""

    def __init__(self, path: Path, threads: int):
        import openvino as ov

        core = ov.Core()
        self.compiled = core.compile_model(
            core.read_model(str(path)),
            "CPU",
            {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1},
        )
        self.request = self.compiled.create_infer_request()

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        out = self.request.infer({"input_ids": input_ids, "attention_mask": attention_mask})
        return np.array(out[0], dtype=np.float32, copy=True)
