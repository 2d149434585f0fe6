"""The stages chained as plain functions on a local lake, as the DAG chains them."""

from __future__ import annotations

import json

import pytest

from nlp_tasks import layout, partitions, pipeline
from nlp_tasks import publish as publishing
from nlp_tasks.sample_data import write_day
from tests.helpers import CopyKilledLake, summary_of


@pytest.fixture
def run(local_lake):
    return pipeline.Run(local_lake, "2026-02-01", "manual__test")


def stages(run, model_dir, shard_rows=20):
    """Every stage up to publish, as the DAG chains them; returns publish's arguments."""
    files = pipeline.discover(run)
    ingested = [pipeline.ingest(run, f, i, shard_rows) for i, f in enumerate(files)]
    validated = pipeline.validate(run, ingested, shard_rows)
    redacted = [pipeline.redact(run, s) for s in validated["shards"]]
    scored = [pipeline.score(run, r["shard"], str(model_dir)) for r in redacted]
    drift = pipeline.drift(run, [s["shard"] for s in scored])
    return ingested, validated, redacted, scored, drift


def run_all(run, model_dir, shard_rows=20):
    args = stages(run, model_dir, shard_rows)
    return publishing.publish(run, *args, max_invalid_fraction=0.5), args[0]


def test_stages_end_to_end_on_a_local_lake(run, model_dir):
    seed = write_day(run.lake, run.day, n_reviews=40)
    summary, ingested = run_all(run, model_dir)
    assert summary["rows_in"] == seed["records"]
    assert summary["rows_quarantined"] == seed["expected_bad"]
    assert summary["rows_reported"] == seed["records"] - seed["expected_bad"]
    # XCom payloads are small: URIs and counts only.
    assert len(json.dumps(ingested)) < 5000 and "text" not in json.dumps(summary)
    report = partitions.read(run.lake, run.lake.uri(layout.report("sentiment", run.day)))
    assert "text" not in report.column_names and "text_redacted" in report.column_names
    assert not run.lake.list_files(run.work())


def test_empty_day_publishes_an_empty_report(run, model_dir):
    summary, _ = run_all(run, model_dir)
    assert summary["rows_in"] == 0 and summary["rows_reported"] == 0 and summary["drift_verdict"] == "no_reference"
    report = partitions.read(run.lake, run.lake.uri(layout.report("sentiment", run.day)))
    assert report.num_rows == 0 and "label" in report.column_names


def test_lost_rows_fail_the_publish(run, model_dir):
    write_day(run.lake, run.day, n_reviews=20)
    ingested, validated, redacted, scored, drift = stages(run, model_dir)
    ingested[0]["records"] += 1  # a row that went nowhere
    with pytest.raises(publishing.ReconciliationError, match="read"):
        publishing.publish(run, ingested, validated, redacted, scored, drift)
    assert not run.lake.exists(run.lake.uri(layout.report("sentiment", run.day), "_SUCCESS"))


def test_too_many_invalid_rows_fail_after_publishing_the_quarantine(run, model_dir):
    write_day(run.lake, run.day, n_reviews=20)  # 6 bad records out of ~28
    args = stages(run, model_dir)
    with pytest.raises(publishing.TooManyInvalidRows, match=r"worst files: reviews-web.jsonl \(\d+/\d+\)"):
        publishing.publish(run, *args, max_invalid_fraction=0.05)
    assert run.lake.exists(run.lake.uri(layout.quarantine(run.day), "_SUCCESS"))
    assert not run.lake.exists(run.lake.uri(layout.report("sentiment", run.day), "_SUCCESS"))
    manifest = json.loads(run.lake.read_text(run.lake.uri(layout.manifest(run.day))))
    assert manifest["status"].startswith("rejected")


def test_publish_killed_mid_commit_keeps_readers_on_a_complete_partition_and_retry_completes(run, model_dir):
    write_day(run.lake, run.day, n_reviews=40)
    first, _ = run_all(run, model_dir)
    old = partitions.read(run.lake, run.lake.uri(layout.report("sentiment", run.day)))

    # The second attempt's input differs (one more review), so old and new are distinguishable.
    rerun = pipeline.Run(run.lake, run.day, "manual__second")
    extra = '{"review_id": "late-1", "text": "Arrived late but works well."}\n'
    uri = run.lake.uri(layout.raw_reviews(run.day), "reviews-late.jsonl")
    run.lake.write_text(uri, extra)
    ingested, validated, redacted, scored, drift = stages(rerun, model_dir)
    broken = pipeline.Run(CopyKilledLake(run.lake, 1, only="/_staging/"), run.day, rerun.run_id)
    with pytest.raises(OSError, match="injected"):
        publishing.publish(broken, ingested, validated, redacted, scored, drift, max_invalid_fraction=0.5)
    # Readers still see a whole partition: the old sentiment report, untouched.
    now = partitions.read(run.lake, run.lake.uri(layout.report("sentiment", run.day)))
    assert now.equals(old)
    marker = json.loads(run.lake.read_text(run.lake.uri(layout.report("sentiment", run.day), "_SUCCESS")))
    assert marker["run_id"] == run.run_id
    # The retry (same run, same inputs) completes it.
    done = publishing.publish(rerun, ingested, validated, redacted, scored, drift, max_invalid_fraction=0.5)
    assert done["rows_reported"] == first["rows_reported"] + 1
    new = partitions.read(run.lake, run.lake.uri(layout.report("sentiment", run.day)))
    assert "late-1" in new.column("review_id").to_pylist()
    assert not run.lake.list_files(run.lake.uri("_staging")) and not run.lake.list_files(run.lake.uri("_work"))


@pytest.mark.parametrize(
    "rows, shard_rows, sizes",
    [
        (0, 20, []),
        (5, 20, [5]),
        (20, 20, [20]),
        (22, 20, [22]),  # within the slack: one shard, no 2-row tail task
        (23, 20, [12, 11]),
        (100_008, 20_000, [20_002] * 3 + [20_001] * 2),
        (50_000, 20_000, [16_667, 16_667, 16_666]),
    ],
)
def test_shards_are_balanced_and_bounded(rows, shard_rows, sizes):
    got = pipeline.shard_sizes(rows, shard_rows)
    assert got == sizes
    assert sum(got) == rows
    assert all(s <= (1 + pipeline.SHARD_SLACK) * shard_rows for s in got)


def test_score_reads_title_and_text_and_writes_all_three_probabilities(run, model_dir):
    """The title carries much of a review's sentiment: the model reads title + ". " + text."""
    import pyarrow as pa

    from nlp_tasks.sentiment.datasets import review_input
    from nlp_tasks.sentiment.engine import SentimentEngine

    titles = ["Broke in a week, total waste of money", None, "Absolutely love it"]
    texts = [
        "I ordered it in March for my sister.",
        "I ordered it in March for my sister.",
        "I ordered it in March for my sister.",
    ]
    shard = run.work("redacted", "part-00000.parquet")
    run.lake.write_parquet(
        pa.table(
            {"review_id": ["a", "b", "c"], "title_redacted": pa.array(titles, pa.string()), "text_redacted": texts}
        ),
        shard,
    )
    out = run.lake.read_parquet(pipeline.score(run, shard, str(model_dir))["shard"]).to_pylist()
    engine = SentimentEngine(model_dir, provider="cpu")
    want = engine.predict_proba([review_input(ti, te) for ti, te in zip(titles, texts, strict=True)])
    for row, p in zip(out, want, strict=True):
        assert row["p_negative"] == pytest.approx(float(p[0]), abs=1e-6)
        assert row["p_neutral"] == pytest.approx(float(p[1]), abs=1e-6)
        assert row["score"] == pytest.approx(float(p[2]), abs=1e-6)
    # Same text, different titles: the title moves the score the way it reads.
    assert out[0]["p_negative"] > out[1]["p_negative"] + 0.2 and out[0]["label"] == "negative"
    assert out[2]["score"] > out[1]["score"] and out[2]["label"] == "positive"


def test_rating_agreement_and_its_binary_twin():
    import pyarrow as pa

    ratings = [1, 2, 3, 4, 5, 5, None]
    labels = ["negative", "neutral", "neutral", "positive", "positive", "negative", "positive"]
    report = pa.table(
        {
            "product_id": ["p"] * 7,
            "label": labels,
            "score": [0.5] * 7,
            "rating": pa.array(ratings, pa.int8()),
            "pii_entities": pa.array([0] * 7, pa.int32()),
            "source_file": ["f"] * 7,
            "model_version": ["m"] * 7,
            **{f"pii_{t}": pa.array([0] * 7, pa.int32()) for t in ("email", "phone", "card", "ssn", "ip", "iban")},
        }
    )
    overall = summary_of("r", report, 7, 0, "ok").to_pylist()[0]
    assert overall["rating_agreement"] == pytest.approx(4 / 6) and overall["rows_rated"] == 6
    # 3 stars and unrated rows are left out; a neutral label on a 2-star review is a miss.
    assert overall["rating_agreement_binary"] == pytest.approx(3 / 5)
    only = summary_of("r", report.slice(2, 1), 1, 0, "ok").to_pylist()[0]
    assert only["rating_agreement"] == 1.0 and only["rating_agreement_binary"] is None


def test_a_three_class_model_ignores_the_neutral_band_and_says_so(run, model_dir, caplog):
    import logging

    import pyarrow as pa

    shard = run.work("redacted", "part-00000.parquet")
    texts = ["Average blender. Some things are good, some are not.", "Love it, works perfectly."]
    run.lake.write_parquet(
        pa.table({"review_id": ["a", "b"], "title_redacted": pa.nulls(2, pa.string()), "text_redacted": texts}), shard
    )
    default = run.lake.read_parquet(pipeline.score(run, shard, str(model_dir))["shard"]).column("label").to_pylist()
    with caplog.at_level(logging.INFO, logger="nlp_tasks.pipeline"):
        wide = pipeline.score(run, shard, str(model_dir), neutral_band=(0.0, 1.0))
    assert run.lake.read_parquet(wide["shard"]).column("label").to_pylist() == default
    assert any("are ignored" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("batch_rows", [4, 6, 100_000])
def test_validate_by_shard_gives_the_whole_day_verdicts(run, monkeypatch, batch_rows):
    """Batches of shards plus the day-wide id check = the suite run on the concatenated day:
    same valid rows in the same order, same reasons (duplicates across batches and files)."""
    import pyarrow as pa

    from nlp_tasks import validate_day

    monkeypatch.setattr(validate_day, "VALIDATE_BATCH_ROWS", batch_rows)

    from nlp_tasks.validation import validate as whole_day

    raw = run.lake.uri(layout.raw_reviews(run.day))
    j = lambda **kw: json.dumps(kw)  # noqa: E731
    a = [j(review_id=f"a{i}", text=f"review {i}", rating=1 + i % 5) for i in range(10)]
    a += [j(review_id="a3", text="same id, later line"), j(review_id="x", text="bad stars", rating=9)]
    b = [
        j(review_id="a5", text="same id, another file"),
        j(review_id="x", text="repeats a rejected id"),
        j(review_id="b1", text="   "),
        j(review_id="b1", text="repeats a blank one"),
        j(review_id="b2", text="fine"),
    ]
    run.lake.write_text(f"{raw}/a.jsonl", "\n".join(a) + "\n")
    run.lake.write_text(f"{raw}/b.jsonl", "\n".join(b) + "\n")
    ingested = [pipeline.ingest(run, f, i, 4) for i, f in enumerate(pipeline.discover(run))]
    assert [len(i["shards"]) for i in ingested] == [3, 2]  # 12 rows in 4s, 5 in 4 + 1

    out = pipeline.validate(run, ingested, 4)
    day = pa.concat_tables([run.lake.read_parquet(s) for i in ingested for s in i["shards"]])
    want = whole_day(day, day=run.day)

    got_valid = pa.concat_tables([run.lake.read_parquet(s) for s in out["shards"]])
    assert got_valid.column("review_id").to_pylist() == want.valid.column("review_id").to_pylist()
    assert [s.rsplit("/", 1)[-1] for s in out["shards"]] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert [run.lake.read_parquet(s).num_rows for s in out["shards"]] == [4, 4, 3]  # balanced
    got_q = pa.concat_tables([run.lake.read_parquet(u) for u in out["quarantine"]]).to_pylist()
    reasons = lambda rows: sorted((r["source_file"].rsplit("/", 1)[-1], r["source_row"], r["reason"]) for r in rows)  # noqa: E731
    assert reasons(got_q) == reasons(want.rejects)
    assert ("b.jsonl", 2, "duplicate review_id") in reasons(got_q)
    assert ("b.jsonl", 4, "duplicate review_id") in reasons(got_q)
    assert out["rows"] == 17 and out["valid"] == got_valid.num_rows and out["rejected"] == len(want.rejects)
    got_e = {(e["expectation"], e["column"]): e["unexpected_count"] for e in out["expectations"]}
    want_e = {(e["expectation"], e["column"]): e["unexpected_count"] for e in want.expectations}
    assert got_e == want_e
    assert [e["expectation"] for e in out["expectations"]] == [e["expectation"] for e in want.expectations]


def test_duplicate_losers_confirm_hash_collisions_on_the_exact_ids():
    import numpy as np

    from nlp_tasks.validation import duplicate_losers

    # Orders 1..5; ids: p, q, p, r, q. Force every row to share one hash: only exact ids decide.
    ids = {1: "p", 2: "q", 3: "p", 4: "r", 5: "q"}
    asked = []

    def exact(keys):
        asked.append(sorted(int(k) for k in keys))
        return {int(k): ids[int(k)] for k in keys}

    losers = duplicate_losers(np.zeros(5, np.uint64), np.array([5, 3, 1, 4, 2]), exact)
    assert sorted(losers.tolist()) == [3, 5] and asked == [[1, 2, 3, 4, 5]]
    # Distinct hashes: nothing to confirm, nothing read back.
    assert duplicate_losers(np.arange(5, dtype=np.uint64), np.arange(5), exact).tolist() == [] and len(asked) == 1


def test_publish_that_fails_settling_drift_is_retried_from_its_shards(run, model_dir, monkeypatch):
    """Settling drift comes after the day is committed; if it fails (a transient store error),
    publish's retry must still find every shard: the run's scratch space is cleared last."""
    write_day(run.lake, run.day, n_reviews=40)
    args = stages(run, model_dir)
    calls = []

    def settle_failing_once(r):
        calls.append(r.day)
        if len(calls) == 1:
            raise OSError("injected: store error while settling drift")
        return [{"dt": r.day, "result": {**args[-1], "verdict": "settled"}, "changed": True}]

    monkeypatch.setattr(pipeline, "settle_drift", settle_failing_once)
    with pytest.raises(OSError, match="settling drift"):
        publishing.publish(run, *args, max_invalid_fraction=0.5, settle_drift=True)
    assert run.lake.list_files(run.work("scored"))  # the shards a retry needs are still there
    done = publishing.publish(run, *args, max_invalid_fraction=0.5, settle_drift=True)
    assert calls == [run.day, run.day] and done["settled_drift"]["verdict"] == done["drift_verdict"] == "settled"
    report = partitions.read(run.lake, run.lake.uri(layout.report("sentiment", run.day)))
    assert done["rows_reported"] == report.num_rows
    assert not run.lake.list_files(run.work())
