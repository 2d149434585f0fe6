"""KS drift: effect size AND BH-adjusted p-value, seeded sampling, text features."""
from __future__ import annotations

import numpy as np

from nlp_tasks.drift import FEATURES, DriftConfig, day_verdict, ks_drift, text_features


def features(rng, n, shift=0.0):
    return {f: rng.normal(0, 1, n) + (shift if f == "text_length" else 0.0) for f in FEATURES}


def test_same_distribution_is_quiet_and_a_shift_is_caught():
    rng = np.random.default_rng(1)
    cfg = DriftConfig()
    ref = features(rng, 5000)
    quiet = ks_drift(features(rng, 5000), ref, cfg, "rolling_7d")
    assert day_verdict(quiet) == "ok"
    shifted = ks_drift(features(rng, 5000, shift=0.5), ref, cfg, "rolling_7d")
    assert day_verdict(shifted) == "drift"
    assert [r["feature"] for r in shifted if r["verdict"] == "drift"] == ["text_length"]
    row = [r for r in shifted if r["feature"] == "text_length"][0]
    assert row["statistic"] >= cfg.threshold and row["p_adjusted"] < cfg.alpha and row["p_adjusted"] >= row["p_value"]


def test_significant_but_tiny_effects_do_not_alarm():
    rng = np.random.default_rng(2)
    ref = features(rng, 200_000)
    rows = ks_drift(features(rng, 200_000, shift=0.05), ref, DriftConfig(), "r")
    tl = [r for r in rows if r["feature"] == "text_length"][0]
    assert tl["p_adjusted"] < 0.05 and tl["statistic"] < 0.1 and tl["verdict"] == "ok"


def test_no_reference_is_reported_as_such():
    rows = ks_drift({}, {}, DriftConfig(), "rolling_7d")
    assert day_verdict(rows) == "no_reference" and all(r["verdict"] == "insufficient_data" for r in rows)


def test_text_features():
    f = text_features(["Hello hello world!", "", None, "123 456"])
    assert f["word_count"].tolist() == [3, 0, 0, 2]
    assert f["unique_word_ratio"][0] == 2 / 3
    assert f["text_length"].tolist() == [18, 0, 0, 7]
    assert f["non_letter_share"][3] == 1.0
