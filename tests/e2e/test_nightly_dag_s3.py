"""The real DAG, run by a real Airflow (`airflow dags test`), against moto's S3 server over HTTP.

Two consecutive dates, then the first date again: the report and quarantine partitions hold
exactly what the raw input implies, the counts reconcile, and a rerun replaces the
partition instead of adding to it.
"""

from __future__ import annotations

import json

import pyarrow.dataset as ds
import pytest

from nlp_tasks import layout
from nlp_tasks.pipeline import shard_sizes
from nlp_tasks.sample_data import write_day
from nlp_tasks.sentiment.engine import CPU_RUNTIME_ENV, plan
from tests.helpers import RAW_PII, read, run_dag

pytestmark = pytest.mark.e2e

DAY1, DAY2 = "2026-03-01", "2026-03-02"


def partition_files(lake, prefix: str) -> list[str]:
    selector_root = lake.uri(prefix)
    from pyarrow.fs import FileSelector

    infos = lake.fs.get_file_info(FileSelector(lake.path(selector_root), recursive=True, allow_not_found=True))
    return sorted(i.base_name for i in infos)


@pytest.fixture
def seeded(s3_lake):
    return {d: write_day(s3_lake, d, n_reviews=60) for d in (DAY1, DAY2)}


def test_two_days_then_rerun(airflow_env, s3_lake, seeded, model_dir, monkeypatch):
    conf = {"data_root": s3_lake.root, "shard_rows": 25, "max_invalid_fraction": 0.25, "price_per_hour": 0.5}
    logs = {d: run_dag(airflow_env, d, conf) for d in (DAY1, DAY2)}
    monkeypatch.delenv(CPU_RUNTIME_ENV, raising=False)  # as in airflow_env: the worker's own choice
    expected_provider = plan(model_dir, "auto")[0].provider

    for day, seed in seeded.items():
        report = read(s3_lake, layout.report("sentiment", day)).to_pylist()
        quarantine = read(s3_lake, layout.quarantine(day)).to_pylist()
        manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(day))))

        # Every input record is accounted for, by an independent count of what was written.
        assert manifest["rows_in"] == seed["records"]
        assert len(report) + len(quarantine) == seed["records"]
        assert len(quarantine) == seed["expected_bad"]
        for f in manifest["files"]:
            assert f["records"] == f["reported"] + f["quarantined"], f
        reasons = " | ".join(q["reason"] for q in quarantine)
        for expected in (
            "malformed JSON",
            "expected 6 columns",
            "empty text",
            "duplicate review_id",
            "rating not an integer",
        ):
            assert expected in reasons
        assert all(q["source_file"].startswith("s3://") and q["source_row"] is not None for q in quarantine)

        ids = [r["review_id"] for r in report]
        assert len(ids) == len(set(ids))
        assert sum(i.startswith("pdf-") for i in ids) == seed["pdfs"]
        assert {r["label"] for r in report} <= {"negative", "neutral", "positive"}
        assert all(0.0 <= r["score"] <= 1.0 for r in report)
        # The 3-class model's three probabilities, score = P(positive).
        assert all(abs(r["p_negative"] + r["p_neutral"] + r["score"] - 1.0) < 1e-3 for r in report)
        assert len({r["model_version"] for r in report}) == 1 and report[0]["model_version"]
        assert all(r["run_id"] for r in report)
        # PII never reaches the report; the redactions are counted.
        blob = json.dumps(report, default=str) + json.dumps(quarantine, default=str)
        for raw in RAW_PII:
            assert raw not in blob
        assert sum(manifest["pii_entities"].values()) > 0
        assert sum(r["pii_entities"] for r in report) == sum(manifest["pii_entities"].values())
        assert "[EMAIL]" in blob or "[PHONE]" in blob
        for raw in RAW_PII:
            assert raw not in logs[day]
        # Structured logs: every line the pipeline writes names the run, the date and the stage;
        # the mapped stages also name their shard.
        ours = [line for line in logs[day].splitlines() if "[nlp_tasks." in line]
        assert len(ours) > 10
        for line in ours:
            assert f"dt={day}" in line and "run_id=" in line and "stage=" in line, line
            if "stage=redact" in line or "stage=score" in line:
                assert "shard=part-" in line, line
        assert any("stage metrics:" in line and "stage=score" in line for line in ours)

        # The run summary: rows, task seconds and cost per stage, reconciled with the manifest.
        stages = {r["stage"]: r for r in read(s3_lake, layout.report("run_summary", day)).to_pylist()}
        assert list(stages) == ["ingest", "validate", "redact", "score", "shadow_score", "drift", "publish", "total"]
        assert stages["ingest"]["rows"] == stages["total"]["rows"] == seed["records"]
        assert stages["ingest"]["errors"] + stages["validate"]["errors"] == seed["expected_bad"]
        assert stages["score"]["rows"] == len(report) and stages["score"]["tasks"] == len(shard_sizes(len(report), 25))
        # What the engine picks on this worker (the DAG's default provider "auto"): ONNX Runtime
        # on a plain AVX2 CPU, OpenVINO where the CPU has VNNI or AMX.
        assert stages["score"]["provider"] == expected_provider
        assert stages["shadow_score"]["tasks"] == 0  # no challenger in this registry
        for r in stages.values():
            if r["stage"] == "shadow_score":
                continue
            assert r["task_seconds"] > 0
            if r["stage"] != "total":
                assert r["cost"] == pytest.approx(r["task_seconds"] / 3600 * 0.5, rel=1e-3)
        total = stages["total"]
        assert total["cost_per_1000_reviews"] == pytest.approx(total["cost"] / seed["records"] * 1000)
        assert manifest["run_summary"]["cost_per_1000_reviews"] == pytest.approx(
            total["cost_per_1000_reviews"], rel=1e-3
        )

        # Each published table is one Parquet object plus its _SUCCESS marker.
        for prefix in [*(layout.report(t, day) for t in layout.REPORT_TABLES), layout.quarantine(day)]:
            assert partition_files(s3_lake, prefix) == ["_SUCCESS", "part-00000.parquet"]
        assert partition_files(s3_lake, f"_work/dt={day}") == []
        assert partition_files(s3_lake, f"_staging/dt={day}") == []
        # Great Expectations' Data Docs for the day, next to the reports, with no raw text.
        docs = s3_lake.read_text(manifest["data_docs"])
        assert "<html" in docs.lower()
        # The self-contained HTML day report: embedded charts, aggregates only.
        page = s3_lake.read_text(manifest["html_report"])
        assert page.count("data:image/png;base64,") >= 3
        for raw in RAW_PII:
            assert raw not in page

    drift2 = read(s3_lake, layout.report("drift", DAY2)).to_pylist()
    assert {d["reference_days"] for d in drift2} == {DAY1}
    assert all(d["verdict"] in ("ok", "drift") for d in drift2)
    summary = read(s3_lake, layout.report("summary", DAY1)).to_pylist()
    overall = [s for s in summary if s["scope"] == "overall"][0]
    assert overall["rows_in"] == seeded[DAY1]["records"]

    # The reports read as one Hive-partitioned dataset, as Athena/DuckDB/pandas would.
    dataset = ds.dataset(
        s3_lake.path(s3_lake.uri("reports/sentiment")), filesystem=s3_lake.fs, format="parquet", partitioning="hive"
    )
    table = dataset.to_table(columns=["review_id", "dt"])
    assert table.num_rows == sum(s["records"] - s["expected_bad"] for s in seeded.values())

    # Rerun day 1: the partition is replaced, not appended to, and its content is the same.
    before = read(s3_lake, layout.report("sentiment", DAY1)).drop_columns(["run_id"])
    run_dag(airflow_env, DAY1, conf)
    after = read(s3_lake, layout.report("sentiment", DAY1))
    assert after.drop_columns(["run_id"]).equals(before)
    assert len(set(after.column("run_id").to_pylist())) == 1
    assert partition_files(s3_lake, layout.report("sentiment", DAY1)) == ["_SUCCESS", "part-00000.parquet"]
    dataset = ds.dataset(
        s3_lake.path(s3_lake.uri("reports/sentiment")), filesystem=s3_lake.fs, format="parquet", partitioning="hive"
    )
    assert dataset.to_table(columns=["review_id"]).num_rows == table.num_rows
