"""Metrics, calibration and the decision rule of a 3-class model, on numbers with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from nlp_tasks.sentiment.calibration import fit_decision_offsets, fit_temperature_bias, fold_into_head
from nlp_tasks.sentiment.datasets import licence_for, review_input, stars_to_label
from nlp_tasks.sentiment.metrics import binary_scores, decide, ece, f1_per_class, score


def test_stars_and_titles_map_as_documented():
    assert [stars_to_label(r) for r in (1, 2, 3, 4, 5)] == [0, 0, 1, 2, 2]
    assert review_input("Broke in a week", "It did.") == "Broke in a week. It did."
    assert review_input(None, "It did.") == review_input("  ", "It did.") == "It did."
    assert "non-commercial" in licence_for("x/yelp_train.jsonl") and licence_for("sst2/train.tsv").startswith("SST")


def test_balanced_binary_accuracy_is_not_fooled_by_always_positive():
    y = np.array([2] * 95 + [0] * 5)
    always_pos = np.tile([0.1, 0.1, 0.8], (100, 1))
    s = binary_scores(always_pos, y)
    assert s["binary_acc"] == pytest.approx(0.95) and s["balanced_binary_acc"] == pytest.approx(0.5)
    # Neutral reviews are left out of the binary figures.
    s = binary_scores(np.tile([0.1, 0.1, 0.8], (3, 1)), np.array([2, 1, 1]))
    assert s["n_binary"] == 1 and s["binary_acc"] == 1.0


def test_f1_and_ece():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    np.testing.assert_allclose(f1_per_class(y, pred), [0.5, 0.8, 2 / 3])
    # Perfectly calibrated: confidence 0.8, right 4 times in 5.
    probs = np.tile([0.8, 0.1, 0.1], (5, 1))
    assert ece(probs, np.array([0, 0, 0, 0, 1])) == pytest.approx(0.0)
    assert ece(probs, np.array([1, 1, 1, 1, 1])) == pytest.approx(0.8)
    assert score(probs, np.array([0, 0, 0, 0, 1]), binary=False)["acc3"] == pytest.approx(0.8)


def test_temperature_and_bias_recover_a_known_miscalibration_and_fold_into_the_head():
    rng = np.random.default_rng(0)
    n = 20_000
    true = rng.normal(size=(n, 3)) * 2.0
    p = np.exp(true) / np.exp(true).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    # A model that is 3x over-confident and shifted towards class 2.
    logits = true * 3.0 + np.array([0.0, 0.0, 1.5])
    t, c = fit_temperature_bias(logits, y)
    assert t == pytest.approx(3.0, rel=0.1)
    np.testing.assert_allclose(c, [0.0, 0.0, -0.5], atol=0.1)
    cal = logits / t + c
    cal_p = np.exp(cal) / np.exp(cal).sum(1, keepdims=True)
    raw_p = np.exp(logits - logits.max(1, keepdims=True))
    raw_p /= raw_p.sum(1, keepdims=True)
    assert ece(cal_p, y) < 0.02 < ece(raw_p, y)
    # Folding: (W x + b) / T + c == (W / T) x + (b / T + c).
    w, b, x = rng.normal(size=(3, 8)), rng.normal(size=3), rng.normal(size=8)
    w2, b2 = fold_into_head(w, b, t, c)
    np.testing.assert_allclose(w2 @ x + b2, (w @ x + b) / t + c)


def test_decision_offsets_trade_a_rare_class_in_for_macro_f1():
    # Neutral rows whose calibrated P(neutral) is real but never the largest.
    y = np.array([1] * 30 + [2] * 60 + [0] * 30)
    probs = np.vstack(
        [np.tile([0.1, 0.42, 0.48], (30, 1)), np.tile([0.05, 0.15, 0.8], (60, 1)), np.tile([0.8, 0.15, 0.05], (30, 1))]
    )
    groups = ["a"] * 120
    assert f1_per_class(y, decide(probs))[1] == 0.0
    d = fit_decision_offsets(probs, y, groups)
    assert d[0] == 0.0 and d[1] > d[2]
    assert f1_per_class(y, decide(probs, d)).mean() == pytest.approx(1.0)
