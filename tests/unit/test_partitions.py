"""Published partitions of several files: bounded files and row groups, an atomic switch for
readers that honour _SUCCESS, old files gone after it; DuckDB and pandas read them as they are."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlp_tasks import layout, partitions, pipeline
from nlp_tasks import publish as publishing
from nlp_tasks.sample_data import write_day
from tests.helpers import CopyKilledLake, summary_of


def _table(n: int, start: int = 0, tag: str = "a") -> pa.Table:
    return pa.table({"i": pa.array(range(start, start + n), pa.int64()), "tag": [tag] * n})


def _stage(lake, folder, tables, rows_per_file, row_group_rows):
    w = partitions.StagedWriter(lake, lake.uri(folder), tables[0].schema, rows_per_file, row_group_rows)
    for t in tables:
        w.write(t)
    return w.close()


def test_staged_files_hold_bounded_rows_and_row_groups(local_lake):
    staged = _stage(
        local_lake, "_staging/x", [_table(7), _table(30, 7), _table(5, 37)], rows_per_file=16, row_group_rows=5
    )
    assert [r for _, r in staged] == [16, 16, 10]
    for uri, rows in staged:
        meta = pq.ParquetFile(local_lake.path(uri)).metadata
        assert meta.num_rows == rows and all(meta.row_group(g).num_rows <= 5 for g in range(meta.num_row_groups))
    got = pa.concat_tables(local_lake.read_parquet(u) for u, _ in staged)
    assert got.column("i").to_pylist() == list(range(42))


def test_row_groups_of_long_texts_are_cut_by_size(local_lake, monkeypatch):
    monkeypatch.setattr(partitions, "ROW_GROUP_BYTES", 10_000)
    long = pa.table({"i": pa.array(range(40), pa.int64()), "tag": ["x" * 1_000] * 40})
    staged = _stage(
        local_lake,
        "_staging/l",
        [long.slice(0, 8), long.slice(8, 8), long.slice(16, 24)],
        rows_per_file=100,
        row_group_rows=50,
    )
    meta = pq.ParquetFile(local_lake.path(staged[0][0])).metadata
    groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    assert groups == [16, 24]  # 8 rows (8 kB) wait for more; 16 rows pass 10 kB: one group each time


def test_an_empty_partition_still_has_its_columns(local_lake):
    staged = _stage(local_lake, "_staging/e", [_table(0)], rows_per_file=10, row_group_rows=5)
    assert [r for _, r in staged] == [0]
    partitions.commit(local_lake, local_lake.uri("t/dt=2026-01-01"), staged, "r1")
    assert partitions.read(local_lake, local_lake.uri("t/dt=2026-01-01")).column_names == ["i", "tag"]


@pytest.fixture(params=["local", "s3"])
def lake(request):
    """The local lake and a real S3 API (moto's server on 127.0.0.1)."""
    return request.getfixturevalue("local_lake" if request.param == "local" else "s3_lake")


def test_commit_switches_readers_in_one_step_and_removes_the_old_files(lake):
    prefix = lake.uri("t/dt=2026-01-01")
    partitions.commit(lake, prefix, _stage(lake, "_s/1", [_table(25, 0, "old")], 10, 5), "r1")
    old_files = partitions.files(lake, prefix)
    assert len(old_files) == 3 and partitions.read(lake, prefix).num_rows == 25

    marker = partitions.commit(lake, prefix, _stage(lake, "_s/2", [_table(12, 0, "new")], 10, 5), "r2")
    assert marker["run_id"] == "r2" and marker["rows"] == 12 and [f["rows"] for f in marker["files"]] == [10, 2]
    # Only the listed files are left, under names no earlier commit used.
    assert lake.list_files(prefix) == sorted(partitions.files(lake, prefix))
    assert not set(old_files) & set(partitions.files(lake, prefix))
    assert set(partitions.read(lake, prefix).column("tag").to_pylist()) == {"new"}

    # Back to one file: part-00000.parquet, replaced in place.
    partitions.commit(lake, prefix, _stage(lake, "_s/3", [_table(3, 0, "one")], 10, 5), "r3")
    assert [u.rsplit("/", 1)[-1] for u in lake.list_files(prefix)] == ["part-00000.parquet"]


def test_a_commit_killed_half_way_leaves_the_old_partition_and_a_retry_finishes(lake):
    prefix = lake.uri("t/dt=2026-01-01")
    partitions.commit(lake, prefix, _stage(lake, "_s/1", [_table(25, 0, "old")], 10, 5), "r1")
    staged = _stage(lake, "_s/2", [_table(30, 0, "new")], 10, 5)
    with pytest.raises(OSError, match="injected"):
        partitions.commit(CopyKilledLake(lake, 3), prefix, staged, "r2")  # 2 of 3 new files copied
    # Readers that honour the marker still see the whole old partition.
    old = partitions.read(lake, prefix)
    assert old.num_rows == 25 and set(old.column("tag").to_pylist()) == {"old"}
    partitions.commit(lake, prefix, staged, "r2")
    new = partitions.read(lake, prefix)
    assert new.num_rows == 30 and set(new.column("tag").to_pylist()) == {"new"}
    assert lake.list_files(prefix) == partitions.files(lake, prefix)  # half-copied leftovers gone


def test_a_marker_without_a_file_list_means_every_parquet_file(local_lake):
    prefix = local_lake.uri("t/dt=2026-01-02")
    local_lake.write_parquet(_table(2), prefix + "/part-00000.parquet")
    assert partitions.read(local_lake, prefix) is None  # not complete yet
    local_lake.write_text(prefix + "/_SUCCESS", "{}\n")
    assert partitions.read(local_lake, prefix).num_rows == 2
    assert partitions.published_days(local_lake, local_lake.uri("t")) == ["2026-01-02"]


@pytest.fixture
def published_in_files(local_lake, model_dir, monkeypatch):
    """A day published with at most 9 rows per file and 4 per row group."""
    monkeypatch.setattr(partitions, "ROWS_PER_FILE", 9)
    monkeypatch.setattr(partitions, "ROW_GROUP_ROWS", 4)
    run = pipeline.Run(local_lake, "2026-02-01", "manual__files")
    seed = write_day(local_lake, run.day, n_reviews=40)
    files = pipeline.discover(run)
    ingested = [pipeline.ingest(run, f, i, 20) for i, f in enumerate(files)]
    validated = pipeline.validate(run, ingested, 20)
    redacted = [pipeline.redact(run, s) for s in validated["shards"]]
    scored = [pipeline.score(run, r["shard"], str(model_dir)) for r in redacted]
    drift = pipeline.drift(run, [s["shard"] for s in scored])
    # The day as one table, from the stage outputs, for comparison.
    whole = pa.concat_tables(local_lake.read_parquet(s["shard"]) for s in scored)
    out = publishing.publish(run, ingested, validated, redacted, scored, drift, max_invalid_fraction=0.5)
    return run, seed, out, whole


def test_publish_writes_bounded_files_and_summaries_from_partial_aggregates(published_in_files):
    run, seed, out, whole = published_in_files
    lake = run.lake
    prefix = lake.uri(layout.report("sentiment", run.day))
    marker = partitions.marker(lake, prefix)
    assert len(marker["files"]) >= 3 and all(f["rows"] <= 9 for f in marker["files"])
    assert marker["rows"] == out["rows_reported"] == seed["records"] - seed["expected_bad"]
    report = partitions.read(lake, prefix)
    assert sorted(report.column("review_id").to_pylist()) == sorted(whole.column("review_id").to_pylist())
    # The summary from per-batch sums equals the summary of the whole day at once.
    summary = partitions.read(lake, lake.uri(layout.report("summary", run.day)))
    at_once = summary_of(run.run_id, whole, out["rows_in"], out["rows_quarantined"], out["drift_verdict"])
    got, want = summary.to_pylist(), at_once.to_pylist()
    assert len(got) == len(want) > 2
    for g, w in zip(got, want, strict=True):
        for k, v in w.items():
            assert g[k] == (pytest.approx(v) if isinstance(v, float) else v), k
    manifest = json.loads(lake.read_text(lake.uri(layout.manifest(run.day))))
    assert manifest["labels"] == {
        k: int(v) for k, v in zip(*np.unique(whole.column("label").to_pylist(), return_counts=True), strict=True)
    }
    assert sum(f["reported"] for f in manifest["files"]) == report.num_rows


def test_duckdb_and_pandas_read_a_partition_of_several_files(published_in_files):
    import duckdb
    import pandas as pd

    run, _, out, _ = published_in_files
    root = run.lake.path(run.lake.uri("reports", "sentiment"))
    con = duckdb.connect()
    n, days = con.execute(
        f"select count(*), list(distinct dt) from read_parquet('{root}/*/*.parquet', hive_partitioning = true)"
    ).fetchone()
    assert n == out["rows_reported"] and [str(d) for d in days] == [run.day]
    df = pd.read_parquet(root)
    assert len(df) == out["rows_reported"] and set(df["dt"].astype(str)) == {run.day}
