"""The score cache across nights: bounded, never failing a night, bit-identical to a cold run."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest

from nlp_tasks import pipeline
from nlp_tasks.sentiment import score_cache
from nlp_tasks.sentiment.score_cache import ScoreCache, text_key

CLASSES = ("negative", "neutral", "positive")


def _probs(n, seed=0):
    p = np.random.default_rng(seed).random((n, 3)).astype(np.float32)
    return p / p.sum(1, keepdims=True)


def test_lookup_add_and_repeated_keys(local_lake):
    cache = ScoreCache(local_lake, "m-1", "ov-int8.openvino-x.avx2", CLASSES)
    keys = [text_key(f"text {i}") for i in range(5)]
    p = _probs(5)
    found, got = cache.lookup(keys)
    assert not found.any() and (got == 0).all()
    cache.add("2026-01-01", keys[:3], p[:3])
    found, got = cache.lookup([keys[4], keys[1], keys[0], keys[1]])
    assert found.tolist() == [False, True, True, True]
    np.testing.assert_array_equal(got[1:], p[[1, 0, 1]])  # bit for bit
    # Another model version or runtime sees nothing.
    assert not ScoreCache(local_lake, "m-2", "ov-int8.openvino-x.avx2", CLASSES).lookup(keys)[0].any()
    assert not ScoreCache(local_lake, "m-1", "int8.onnxruntime-x.avx2", CLASSES).lookup(keys)[0].any()


def test_the_two_openvino_variants_never_share_a_cache_folder(local_lake):
    # ov-int8 and ov-bf16 both run on OpenVINO, on the same CPU, and ov-bf16 reads the FP32
    # file: only the variant in the runtime key keeps their scores apart.
    pytest.importorskip("openvino")
    from nlp_tasks.sentiment.engine import OPENVINO, ProviderChoice, runtime_key

    int8, bf16 = (runtime_key(ProviderChoice(OPENVINO, v)) for v in ("ov-int8", "ov-bf16"))
    assert int8.startswith("ov-int8.openvino-") and bf16.startswith("ov-bf16.openvino-")
    keys = [text_key("a text")]
    ScoreCache(local_lake, "m-1", int8, CLASSES).add("2026-01-01", keys, _probs(1))
    assert ScoreCache(local_lake, "m-1", int8, CLASSES).lookup(keys)[0].all()
    assert not ScoreCache(local_lake, "m-1", bf16, CLASSES).lookup(keys)[0].any()


def test_compaction_keeps_the_newest_use_drops_the_old_and_is_bounded(local_lake, monkeypatch):
    monkeypatch.setattr(score_cache, "MAX_SEGMENTS", 3)
    cache = ScoreCache(local_lake, "m-1", "r", CLASSES, retention_days=10, max_entries=6)
    keys = [text_key(f"t{i}") for i in range(10)]
    p = _probs(10)
    cache.add("2026-01-01", keys[:4], p[:4])  # t0..t3, day 1
    cache.add("2026-01-05", keys[4:8], p[4:8])  # t4..t7, day 5
    cache.add("2026-01-20", keys[2:3] + keys[8:10], p[[2, 8, 9]])  # t2 used again, t8, t9 new
    assert cache.compact() is None  # 3 segments: not more than MAX_SEGMENTS
    cache.add("2026-01-20", keys[9:10], p[9:10])
    out = cache.compact()
    assert out["segments"] == 4 and len(cache.segments()) == 1
    found, got = cache.lookup(keys)
    # Day 1 is more than 10 days before the newest use (day 20): t0, t1, t3 dropped; t2 kept
    # by its second use; t4..t7 (day 5... 15 days old) dropped too.
    assert found.tolist() == [False, False, True, False, False, False, False, False, True, True]
    np.testing.assert_array_equal(got[found], p[found])
    big = ScoreCache(local_lake, "m-2", "r", CLASSES, retention_days=1000, max_entries=3)
    big.add("2026-01-01", keys[:5], p[:5])
    big.add("2026-01-02", keys[5:], p[5:])
    assert big.compact(force=True)["rows_kept"] == 3
    assert big.lookup(keys)[0].sum() == 3


def test_an_unreadable_segment_is_a_miss_not_an_error(local_lake, caplog):
    cache = ScoreCache(local_lake, "m-1", "r", CLASSES)
    keys = [text_key("a"), text_key("b")]
    cache.add("2026-01-01", keys[:1], _probs(1))
    local_lake.write_bytes(
        local_lake.uri(cache.folder.split(local_lake.root, 1)[1].lstrip("/"), "part-broken.parquet"), b"not parquet"
    )
    with caplog.at_level(logging.WARNING):
        found, _ = cache.lookup(keys)
    assert found.tolist() == [True, False] and "unreadable" in caplog.text


@pytest.fixture
def shard(local_lake):
    run = pipeline.Run(local_lake, "2026-02-01", "manual__a")
    titles = ["Broke in a week", None, "Love it", None, None]
    texts = [
        "I ordered it in March.",
        "Great value, works as described.",
        "Fits well.",
        "Great value, works as described.",
        "Meh " * 200,
    ]
    uri = run.work("redacted", "part-00000.parquet")
    local_lake.write_parquet(
        pa.table({"review_id": list("abcde"), "title_redacted": pa.array(titles, pa.string()), "text_redacted": texts}),
        uri,
    )
    return run, uri


REPORTED = ["score", "p_negative", "p_neutral", "label", "model_version", "provider"]


def test_score_with_the_cache_is_bit_identical_to_a_cold_run(shard, model_dir, monkeypatch):
    pytest.importorskip("openvino")
    if not (model_dir / "model.ov-int8.xml").exists():
        pytest.skip("model built without the OpenVINO INT8 variant")
    monkeypatch.setenv("NLP_TASKS_CPU_RUNTIME", "openvino")  # the batch-invariant engine, on any CPU
    run, uri = shard
    cold = run.lake.read_parquet(pipeline.score(run, uri, str(model_dir))["shard"]).select(REPORTED)
    first = pipeline.score(run, uri, str(model_dir), cache_days=30)
    assert first["cache_hits"] == 0 and first["provider"] == "OpenVINO-CPU"
    assert run.lake.read_parquet(first["shard"]).select(REPORTED).equals(cold)

    # A later night: every text is cached, so the model is not even loaded.
    later = pipeline.Run(run.lake, "2026-02-02", "manual__b")
    monkeypatch.setattr(pipeline, "load_engine", lambda *a, **k: pytest.fail("engine loaded on a fully cached shard"))
    warm = pipeline.score(later, uri, str(model_dir), cache_days=30)
    assert warm["cache_hits"] == 5
    assert run.lake.read_parquet(warm["shard"]).select(REPORTED).equals(cold)


def test_a_broken_cache_never_fails_the_night(shard, model_dir, monkeypatch, caplog):
    run, uri = shard
    monkeypatch.setenv("NLP_TASKS_CPU_RUNTIME", "openvino")
    monkeypatch.setattr(ScoreCache, "lookup", lambda *a: (_ for _ in ()).throw(OSError("bucket gone")))
    with caplog.at_level(logging.WARNING):
        out = pipeline.score(run, uri, str(model_dir), cache_days=30)
    assert out["rows"] == 5 and "cache_hits" not in out and "bucket gone" in caplog.text


def test_the_cache_is_off_for_batch_dependent_engines(shard, model_dir, monkeypatch, caplog):
    run, uri = shard
    monkeypatch.setenv("NLP_TASKS_CPU_RUNTIME", "onnxruntime")  # dynamic INT8
    with caplog.at_level(logging.INFO):
        out = pipeline.score(run, uri, str(model_dir), cache_days=30)
    assert "cache_hits" not in out and "score cache off" in caplog.text
    assert not run.lake.list_files(run.lake.uri(score_cache.ROOT))
