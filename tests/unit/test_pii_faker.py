"""Recall/precision on a small Faker-generated labelled set (bench/pii_faker_set.py).

Generated in the test at a fixed seed (never read from ../shared). Seed 7 is
neither the dev seed (1) the rules were tuned on nor the test seed (2) the
issue's figures are reported on.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from nlp_tasks.pii import redact, redact_batch

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def records():
    return _load("pii_faker_set").generate(seed=7, n=1500)


def test_generator_is_deterministic():
    gen = _load("pii_faker_set")
    assert gen.generate(seed=3, n=50) == gen.generate(seed=3, n=50)
    assert gen.generate(seed=3, n=50) != gen.generate(seed=4, n=50)


def test_generator_covers_every_type_and_negatives(records):
    kinds = {s["entity_type"] for r in records for s in r["spans"]}
    assert kinds == {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "IBAN_CODE"}
    assert sum(r["kind"] == "negative" for r in records) > 300
    for r in records:
        for s in r["spans"]:
            assert 0 <= s["start_position"] < s["end_position"] <= len(r["full_text"])


def test_recall_and_precision_per_type(records):
    report = _load("pii_eval").evaluate(records)
    for t, r in report.items():
        assert r["gold"] > 0, t
        assert r["recall"] >= 0.97, (t, r)
        assert r["precision"] >= 0.98, (t, r)


def test_zero_redactions_on_hard_negatives(records):
    negatives = [r["full_text"] for r in records if r["kind"] == "negative"]
    hits = [(e.type, i) for i, t in enumerate(negatives) for e in redact(t).entities]
    assert hits == []


def test_batch_path_equals_single_text_path(records):
    texts = [r["full_text"] for r in records]
    batch, _ = redact_batch(texts)
    assert batch == [redact(t).text for t in texts]
