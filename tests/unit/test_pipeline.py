"""The stages chained as plain functions on a local lake, as the DAG chains them."""
from __future__ import annotations

import json

import pytest

from nlp_tasks import layout, pipeline
from nlp_tasks.sample_data import write_day


@pytest.fixture
def run(local_lake):
    return pipeline.Run(local_lake, "2026-02-01", "manual__test")


def run_all(run, model_dir, shard_rows=20):
    files = pipeline.discover(run)
    ingested = [pipeline.ingest(run, f, i, shard_rows) for i, f in enumerate(files)]
    validated = pipeline.validate(run, ingested, shard_rows)
    redacted = [pipeline.redact(run, s) for s in validated["shards"]]
    scored = [pipeline.score(run, r["shard"], str(model_dir)) for r in redacted]
    drift = pipeline.drift(run, [s["shard"] for s in scored])
    return pipeline.publish(run, ingested, validated, redacted, scored, drift), ingested


def test_stages_end_to_end_on_a_local_lake(run, model_dir):
    seed = write_day(run.lake, run.day, n_reviews=40)
    summary, ingested = run_all(run, model_dir)
    assert summary["rows_in"] == seed["records"]
    assert summary["rows_quarantined"] == seed["expected_bad"]
    assert summary["rows_reported"] == seed["records"] - seed["expected_bad"]
    # XCom payloads are small: URIs and counts only.
    assert len(json.dumps(ingested)) < 5000 and "text" not in json.dumps(summary)
    report = run.lake.read_parquet(run.lake.uri(layout.report("sentiment", run.day), "part-00000.parquet"))
    assert "text" not in report.column_names and "text_redacted" in report.column_names
    assert not run.lake.list_files(run.work())


def test_empty_day_publishes_an_empty_report(run, model_dir):
    summary, _ = run_all(run, model_dir)
    assert summary["rows_in"] == 0 and summary["rows_reported"] == 0 and summary["drift_verdict"] == "no_reference"
    report = run.lake.read_parquet(run.lake.uri(layout.report("sentiment", run.day), "part-00000.parquet"))
    assert report.num_rows == 0 and "label" in report.column_names


def test_lost_rows_fail_the_publish(run, model_dir):
    write_day(run.lake, run.day, n_reviews=20)
    files = pipeline.discover(run)
    ingested = [pipeline.ingest(run, f, i) for i, f in enumerate(files)]
    validated = pipeline.validate(run, ingested)
    redacted = [pipeline.redact(run, s) for s in validated["shards"]]
    scored = [pipeline.score(run, r["shard"], str(model_dir)) for r in redacted]
    drift = pipeline.drift(run, [s["shard"] for s in scored])
    ingested[0]["records"] += 1  # a row that went nowhere
    with pytest.raises(pipeline.ReconciliationError, match="read"):
        pipeline.publish(run, ingested, validated, redacted, scored, drift)
    assert not run.lake.exists(run.lake.uri(layout.report("sentiment", run.day), "_SUCCESS"))
