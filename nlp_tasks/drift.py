"""Two-sample Kolmogorov-Smirnov drift checks of text features and scores.

A feature drifts only when BOTH the KS statistic (an effect size: the largest gap between
the two empirical CDFs) passes ``threshold`` AND its Benjamini-Hochberg adjusted p-value is
below ``alpha``. At large volumes every tiny difference is "significant"; the effect-size
gate keeps the alarm about differences that matter. Both sides are sampled with a seed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FEATURES = (
    "text_length",
    "word_count",
    "avg_word_length",
    "unique_word_ratio",
    "non_letter_share",
    "pii_per_review",
    "score",
)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class DriftConfig:
    threshold: float = 0.1
    alpha: float = 0.05
    max_sample: int = 50_000
    seed: int = 20240101
    min_rows: int = 20


def text_features(texts: list[str]) -> dict[str, np.ndarray]:
    arr = pa.array(texts, pa.string()).fill_null("")
    length = pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.float64)
    letters = pc.utf8_length(pc.replace_substring_regex(arr, r"[^\p{L}]", "")).to_numpy(zero_copy_only=False)
    words = [_WORD.findall(t.lower()) for t in arr.to_pylist()]
    wc = np.fromiter((len(w) for w in words), dtype=np.float64, count=len(words))
    uniq = np.fromiter((len(set(w)) for w in words), dtype=np.float64, count=len(words))
    wlen = np.fromiter((sum(map(len, w)) for w in words), dtype=np.float64, count=len(words))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "text_length": length,
            "word_count": wc,
            "avg_word_length": np.where(wc > 0, wlen / wc, 0.0),
            "unique_word_ratio": np.where(wc > 0, uniq / wc, 0.0),
            "non_letter_share": np.where(length > 0, 1.0 - letters / np.maximum(length, 1), 0.0),
        }


def report_features(table: pa.Table) -> dict[str, np.ndarray]:
    feats = text_features(table.column("text_redacted").to_pylist())
    feats["pii_per_review"] = table.column("pii_entities").to_numpy(zero_copy_only=False).astype(np.float64)
    feats["score"] = table.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    return feats


def sample(table: pa.Table, n: int, seed: int) -> pa.Table:
    if table.num_rows <= n:
        return table
    idx = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=n, replace=False))
    return table.take(pa.array(idx))


def ks_drift(today: dict[str, np.ndarray], reference: dict[str, np.ndarray], cfg: DriftConfig, reference_name: str) -> list[dict]:
    from scipy.stats import false_discovery_control, ks_2samp

    rows = []
    for f in FEATURES:
        a, b = today.get(f), reference.get(f)
        if a is None or b is None or len(a) < cfg.min_rows or len(b) < cfg.min_rows:
            rows.append(
                {"feature": f, "reference": reference_name, "statistic": None, "p_value": None, "n_today": int(0 if a is None else len(a)),
                 "n_reference": int(0 if b is None else len(b))}
            )
            continue
        res = ks_2samp(a, b)
        rows.append(
            {"feature": f, "reference": reference_name, "statistic": float(res.statistic), "p_value": float(res.pvalue),
             "n_today": int(len(a)), "n_reference": int(len(b))}
        )
    tested = [r for r in rows if r["p_value"] is not None]
    if tested:
        adjusted = false_discovery_control([r["p_value"] for r in tested], method="bh")
        for r, p in zip(tested, adjusted):
            r["p_adjusted"] = float(p)
    for r in rows:
        r.setdefault("p_adjusted", None)
        r["threshold"] = cfg.threshold
        r["alpha"] = cfg.alpha
        if r["p_value"] is None:
            r["verdict"] = "insufficient_data"
        elif r["statistic"] >= cfg.threshold and r["p_adjusted"] < cfg.alpha:
            r["verdict"] = "drift"
        else:
            r["verdict"] = "ok"
    return rows


def day_verdict(rows: list[dict]) -> str:
    verdicts = {r["verdict"] for r in rows}
    if not rows or verdicts == {"insufficient_data"}:
        return "no_reference"
    return "drift" if "drift" in verdicts else "ok"


DRIFT_SCHEMA = pa.schema(
    [
        ("feature", pa.string()),
        ("reference", pa.string()),
        ("statistic", pa.float64()),
        ("p_value", pa.float64()),
        ("p_adjusted", pa.float64()),
        ("threshold", pa.float64()),
        ("alpha", pa.float64()),
        ("n_today", pa.int64()),
        ("n_reference", pa.int64()),
        ("verdict", pa.string()),
        ("reference_days", pa.string()),
        ("run_id", pa.string()),
    ]
)
