"""Batched inference: the serving side of the sentiment model.

Texts are tokenised with the fast tokenizer into windows of at most ``max_length`` tokens
(long texts get several overlapping windows, aggregated by token count, so nothing is
silently cut), windows are sorted by length and padded per batch only to the longest
member, and identical texts are scored once. Results come back in input order.

Runtimes: CUDA + FP16 (ONNX Runtime) on a GPU; on a CPU, OpenVINO BF16 where the CPU has AMX
BF16 tiles, else OpenVINO static INT8 refined where it has INT8 dot products (VNNI/AMX) and the
model has the INT8 variant, else ONNX Runtime dynamic INT8, else FP32. OpenVINO INT8 pads every
window to a width fixed by its own length (``padded_width``), never by its batch mates;
OpenVINO BF16 pads a batch to a multiple of 16 tokens and runs it as calls of exactly 16 rows
(see ``openvino_backend``). Either way a text's score is bit-identical alone and in any batch
(``batch_invariant``). Dynamic INT8 scales activations per batch; its scores move slightly with
the batch.

"Refined" (``ov-int8-refine``): INT8 scores every text, then the few texts it leaves within
``REFINE_MARGIN`` of a label boundary (``decision_margin``) are scored again from the FP32 file
at BF16 (FP32 where the CPU has no BF16), the BF16 way above, and keep that score. INT8 is fast,
but its small errors flip the labels of texts near a boundary (98.9% agreement with FP32 on
2,000 training reviews); re-scoring the ~5% near one brings it to BF16's agreement at most of
INT8's speed. Both passes are batch-invariant, so the refined score is too.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import decision_margin, openvino_backend
from .artifacts import METADATA, OPENVINO_VARIANTS, TOKENIZER_JSON, VARIANTS

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
OPENVINO = openvino_backend.PROVIDER
# Forces the CPU runtime where the automatic choice is wrong for a fleet: openvino | onnxruntime.
CPU_RUNTIME_ENV = "NLP_TASKS_CPU_RUNTIME"


@dataclass(frozen=True)
class ProviderChoice:
    provider: str
    variant: str  # key of VARIANTS

    @property
    def filename(self) -> str:
        return VARIANTS[self.variant]


def choose_provider(
    available: list[str],
    requested: str = "auto",
    files: set[str] | None = None,
    int8_isa: str | None = None,
    openvino: bool = False,
    bf16_isa: str | None = None,
) -> ProviderChoice:
    """CUDA + FP16 when a GPU runtime is present; else, with ``openvino`` installed, OpenVINO
    BF16 on the FP32 model when the CPU has AMX BF16 tiles (``bf16_isa``: amx_bf16), or
    OpenVINO static INT8 refined near label boundaries when it has INT8 dot products
    (``int8_isa``: avx512_vnni, avx_vnni, amx_int8) and the model has that variant; else ONNX
    Runtime INT8 (FP32 if INT8 is missing).

    ``requested`` is "auto", "cuda", "cpu", or a CPU runtime forced: "openvino" (the OpenVINO
    variant this CPU runs best) or "onnxruntime". Asking for CUDA or OpenVINO where it is absent
    is an error rather than a silent fall-back, because it means the worker is misconfigured.
    """
    requested = (requested or "auto").lower()
    if requested not in ("auto", "cuda", "cpu", "openvino", "onnxruntime"):
        raise ValueError(f"provider must be auto, cuda, cpu, openvino or onnxruntime, got {requested!r}")
    have = lambda v: files is None or VARIANTS[v] in files  # noqa: E731
    if requested in ("auto", "cuda") and CUDA in available:
        return ProviderChoice(CUDA, "fp16" if have("fp16") else "fp32")
    if requested == "cuda":
        raise RuntimeError(f"CUDA requested but onnxruntime offers only {available}")
    ov_int8 = openvino and files is not None and VARIANTS["ov-int8"] in files
    ov_bf16 = openvino and bool(bf16_isa) and files is not None and VARIANTS["ov-bf16"] in files
    if requested == "openvino":
        if not (ov_bf16 or ov_int8):
            raise RuntimeError(
                "OpenVINO requested but "
                + (
                    "the model has no OpenVINO INT8 variant (and the CPU no AMX BF16)"
                    if openvino
                    else "openvino is not installed"
                )
            )
        return ProviderChoice(OPENVINO, "ov-bf16" if ov_bf16 else "ov-int8-refine")
    if requested in ("auto", "cpu") and ov_bf16:
        return ProviderChoice(OPENVINO, "ov-bf16")
    if requested in ("auto", "cpu") and ov_int8 and int8_isa:
        return ProviderChoice(OPENVINO, "ov-int8-refine")
    return ProviderChoice(CPU, "int8" if have("int8") else "fp32")


def isa_tag(flags: set[str] | None = None) -> str:
    """The widest vector instruction set the kernels may use: part of a score's provenance."""
    flags = openvino_backend.cpu_flags() if flags is None else flags
    for f in ("amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx_vnni", "avx2"):
        if f in flags:
            return f
    return "base"


def plan(model_dir: str | Path, provider: str = "auto", variant: str | None = None) -> tuple[ProviderChoice, dict]:
    """The runtime and variant an engine for ``model_dir`` would use, and the model's metadata,
    without loading the model (the score cache needs them before deciding to load it)."""
    import onnxruntime as ort

    model_dir = Path(model_dir)
    metadata = json.loads((model_dir / METADATA).read_text())
    files = {p.name for p in model_dir.iterdir()}
    requested = (provider or "auto").lower()
    forced = os.environ.get(CPU_RUNTIME_ENV, "").strip().lower()
    gpu = requested == "auto" and CUDA in ort.get_available_providers()
    if forced in ("openvino", "onnxruntime") and requested in ("auto", "cpu") and not gpu:
        requested = forced
    choice = choose_provider(
        ort.get_available_providers(),
        requested,
        files,
        openvino_backend.int8_isa(),
        openvino_backend.installed(),
        openvino_backend.bf16_isa(),
    )
    if variant:  # benchmarks and tests pin a variant; production lets the provider decide
        prov = OPENVINO if variant in OPENVINO_VARIANTS else (choice.provider if choice.provider != OPENVINO else CPU)
        choice = ProviderChoice(prov, variant)
    return choice, metadata


def runtime_key(choice: ProviderChoice) -> str:
    """What, besides the weights, decides a score's bits: variant, runtime and its version, ISA."""
    if choice.provider == OPENVINO:
        runtime = "openvino-" + openvino_backend.runtime_version()
    else:
        import onnxruntime as ort

        runtime = "onnxruntime-" + ort.__version__
    return f"{choice.variant}.{runtime}.{isa_tag()}"


def batch_invariant(choice: ProviderChoice, flags: set[str] | None = None) -> bool:
    """Whether a text's score is bit-identical alone and in any batch (tested). OpenVINO static
    INT8 with per-window padded widths is, and OpenVINO BF16 with widths in multiples of 16 and
    16-row calls where BF16 is native (measured on AMX and on AVX-512 BF16; elsewhere a BF16
    hint runs other, FP32, kernels, so it is not claimed for ``ov-bf16``); the refined INT8 is,
    as both its passes are (its second runs at FP32 where BF16 is not native: bit-identical
    alone and in a batch, measured on a Zen 4). ONNX Runtime's dynamic INT8 scales activations
    per batch; its FP32 differs in the last bit for a batch of one (another GEMM kernel); CUDA
    picks kernels by shape."""
    if choice.variant == "ov-bf16":
        return openvino_backend.bf16_native(flags) is not None
    return choice.variant in OPENVINO_VARIANTS


def padded_width(n: int, max_length: int) -> int:
    """A window's padded width from its own length alone: multiples of 4 up to 32 tokens, then
    steps of 1/8 of the power of two below (at most 12.5% padding), capped at max_length."""
    step = max(4, (1 << max(0, int(n).bit_length() - 1)) // 8)
    return min(max_length, -(-int(n) // step) * step)


def available_cpus() -> int:
    """Cores this process may really use: affinity mask and cgroup quota, not the host count."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


class SentimentEngine:
    def __init__(
        self,
        model_dir: str | Path,
        provider: str = "auto",
        threads: int | None = None,
        batch_size: int = 64,
        max_tokens_per_batch: int | None = None,
        stride: int = 32,
        variant: str | None = None,
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.choice, self.metadata = plan(self.model_dir, provider, variant)
        self.version = self.metadata.get("version", "unknown")
        self.max_length = int(self.metadata.get("max_length", 256))
        self.batch_size = batch_size
        self.max_tokens_per_batch = max_tokens_per_batch or self.TOKENS_PER_BATCH[self.choice.provider]
        self.batch_invariant = batch_invariant(self.choice)

        self.tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_JSON))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length, stride=stride)

        self.threads = threads or available_cpus()
        self.use_io_binding = self.choice.provider == CUDA
        self.session = None
        self._ov = None
        self._refine = None  # the second pass of ov-int8-refine
        self.refined = 0  # texts it has scored again (read by bench/refine_margin.py and the tests)
        if self.choice.provider == OPENVINO:
            bf16 = self.choice.variant == "ov-bf16"
            self._ov = openvino_backend.Runner(
                self.model_dir / self.choice.filename,
                self.threads,
                precision="bf16" if bf16 else None,
                rows=openvino_backend.BF16_BLOCK if bf16 else None,
            )
            if self.choice.variant == "ov-int8-refine":
                self._refine = openvino_backend.Runner(
                    self.model_dir / VARIANTS["ov-bf16"],
                    self.threads,
                    precision="bf16" if openvino_backend.bf16_native() else "f32",
                    rows=openvino_backend.BF16_BLOCK,
                )
        else:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            providers = [self.choice.provider] if self.choice.provider == CPU else [self.choice.provider, CPU]
            self.session = ort.InferenceSession(str(self.model_dir / self.choice.filename), opts, providers=providers)
        log.info(
            "sentiment model %s on %s (%s, %d threads; CPU INT8 instructions: %s, BF16: %s; "
            "batch-invariant scores: %s)",
            self.version,
            self.choice.provider,
            self.choice.variant,
            self.threads,
            openvino_backend.int8_isa() or "none",
            openvino_backend.bf16_isa() or "none",
            self.batch_invariant,
        )

    # Padded tokens per batch. On a CPU a batch's feed-forward activations (tokens x 1536
    # floats) should stay in cache: 4,096 tokens (25 MB) ran 9% faster than 8,192 (5 alternating
    # runs of bench/inference.py's texts, AMD EPYC, 2 threads: 78.0 vs 71.3 texts/s; 2,048: 79.0).
    # A GPU wants big batches to fill its cores; its 8,192 is the earlier default, not tuned here
    # (no GPU on the machines this was measured on).
    TOKENS_PER_BATCH = {CPU: 4096, CUDA: 8192, OPENVINO: 4096}

    # -- tokenisation -------------------------------------------------------------------
    # Texts per encode_batch call. A tokenizers Encoding also holds token strings, offsets
    # and masks (hundreds of bytes a token); only the ids are kept, as int32 arrays, so a
    # shard's memory grows with its token count, not with its Encodings.
    TOKENIZE_CHUNK = 1024

    def _windows(self, texts: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """Token id windows for every text and, per window, the index of its text."""
        ids: list[np.ndarray] = []
        owner: list[int] = []
        for start in range(0, len(texts), self.TOKENIZE_CHUNK):
            chunk = self.tokenizer.encode_batch(texts[start : start + self.TOKENIZE_CHUNK])
            for i, enc in enumerate(chunk, start):
                for e in [enc, *enc.overflowing]:
                    ids.append(np.asarray(e.ids, dtype=np.int32))
                    owner.append(i)
        return ids, np.asarray(owner, dtype=np.int64)

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self._ov is not None:
            return self._ov(input_ids, attention_mask)
        session = self.session
        if session is None:  # pragma: no cover - __init__ sets one runtime or the other
            raise RuntimeError("the engine has neither an OpenVINO nor an ONNX Runtime session")
        if not self.use_io_binding:
            return session.run(["probs"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        binding = session.io_binding()  # keeps outputs on the device until copied once
        binding.bind_cpu_input("input_ids", input_ids)
        binding.bind_cpu_input("attention_mask", attention_mask)
        binding.bind_output("probs")
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    # -- public API ---------------------------------------------------------------------
    @property
    def classes_(self) -> tuple[str, ...]:
        """Class names of predict_proba's columns (the model's metadata; old models: binary)."""
        return tuple(self.metadata.get("labels", ("negative", "positive")))

    @property
    def decision(self) -> dict | None:
        """The model's own labelling rule (3-class models), or None: the neutral band decides."""
        return self.metadata.get("decision")

    # ov-int8-refine scores again the texts whose INT8 margin (``decision_margin``, log units)
    # is under this. Chosen on 2,000 training reviews that calibrated nothing (seed 11, a quarter
    # from each source; never the dev splits the benchmarks report): all 23 of INT8's label
    # flips against FP32 had a margin under 0.2, the largest 0.19; 4.8% of texts did.
    REFINE_MARGIN = 0.2

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (n, len(classes_)), rows in input order."""
        k = len(self.classes_)
        if not texts:
            return np.zeros((0, k), dtype=np.float32)
        unique: dict[str, int] = {}
        inverse = np.fromiter((unique.setdefault(t, len(unique)) for t in texts), dtype=np.int64, count=len(texts))
        uniq_texts = list(unique)
        block = openvino_backend.BF16_BLOCK if self.choice.variant == "ov-bf16" else 0
        per_unique = self._proba(uniq_texts, block, self._run)
        if self._refine is not None:
            near = np.flatnonzero(decision_margin(per_unique, self.classes_, self.decision) < self.REFINE_MARGIN)
            if len(near):
                per_unique[near] = self._proba([uniq_texts[i] for i in near], openvino_backend.BF16_BLOCK, self._refine)
            self.refined += len(near)
        return per_unique[inverse]

    def _proba(
        self, uniq_texts: list[str], block: int, run: Callable[[np.ndarray, np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """Probabilities of distinct texts, (n, classes), through ``run(input_ids, mask)``."""
        k = len(self.classes_)
        ids, owner = self._windows(uniq_texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        window_p = np.zeros((len(ids), k), dtype=np.float32)
        order = np.argsort(lengths, kind="stable")
        # OpenVINO INT8 pads each window to a width of its own (batches hold one width). The
        # others pad to their batch's longest window, OpenVINO BF16 rounded up to a multiple of
        # 16 tokens (its kernels give a row the same bits at any such width >= its length)
        # and its batches hold a multiple of 16 rows where they can (its calls are 16 rows).
        fixed = self.batch_invariant and not block
        if fixed:
            widths = np.fromiter(
                (padded_width(n, self.max_length) for n in lengths), dtype=np.int64, count=len(lengths)
            )
        elif block:
            widths = -(-lengths // block) * block
        else:
            widths = lengths
        start = 0
        while start < len(order):
            # Grow the batch while it stays within the size and padded-token budgets.
            end = start + 1
            while (
                end < len(order)
                and end - start < self.batch_size
                and widths[order[end]] * (end - start + 1) <= self.max_tokens_per_batch
                and (not fixed or widths[order[end]] == widths[order[start]])
            ):
                end += 1
            if block and end < len(order) and end - start > block:
                end -= (end - start) % block  # no pad rows but in the last batch
            idx = order[start:end]
            width = int(widths[idx].max())
            batch_ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                batch_ids[row, : lengths[j]] = ids[j]
                mask[row, : lengths[j]] = 1
            window_p[idx] = run(batch_ids, mask)
            start = end
        # Long texts: token-weighted mean over their windows (rows still sum to 1).
        weights = lengths.astype(np.float64)
        den = np.maximum(np.bincount(owner, weights=weights, minlength=len(uniq_texts)), 1.0)
        return np.stack(
            [np.bincount(owner, weights=window_p[:, c] * weights, minlength=len(uniq_texts)) / den for c in range(k)], 1
        ).astype(np.float32)

    def predict_positive(self, texts: list[str]) -> np.ndarray:
        """P(positive) alone, shape (n,): the report's ``score``."""
        return self.predict_proba(texts)[:, self.classes_.index("positive")]
