"""Validate as the DAG maps it (plan -> validate_batch per batch -> finish_validate) gives the
verdicts, reasons and quarantine of the suite run on the concatenated day."""

from __future__ import annotations

import json
import logging

import numpy as np
import pyarrow as pa
import pytest

from nlp_tasks import layout, pipeline, validate_day, validation
from nlp_tasks.validation import UNIQUE_REASON
from nlp_tasks.validation import validate as whole_day


@pytest.fixture
def run(local_lake):
    return pipeline.Run(local_lake, "2026-02-01", "manual__test")


def j(**kw) -> str:
    return json.dumps(kw)


def write_day(run, files: dict[str, list[str]]) -> list[dict]:
    """Raw JSONL objects of the day, ingested in shards of 4 rows; returns ingest's results."""
    raw = run.lake.uri(layout.raw_reviews(run.day))
    for name, lines in files.items():
        run.lake.write_text(f"{raw}/{name}", "\n".join(lines) + "\n")
    return [pipeline.ingest(run, f, i, 4) for i, f in enumerate(pipeline.discover(run))]


def tricky_day(run) -> list[dict]:
    """Duplicates within a batch, across batches and across files; a rejected row whose id
    repeats an earlier one, and a valid row repeating a rejected one; missing ids."""
    a = [j(review_id=f"a{i}", text=f"review {i}", rating=1 + i % 5) for i in range(10)]
    a += [j(review_id="a3", text="same id, later line"), j(review_id="x", text="bad stars", rating=9)]
    a += [j(review_id="a1", text="   "), j(text="no id at all")]  # rejected and a duplicate; no id
    b = [
        j(review_id="a5", text="same id, another file"),
        j(review_id="x", text="repeats a rejected id"),
        j(review_id="b1", text="   "),
        j(review_id="b1", text="repeats a blank one"),
        j(review_id="b2", text="fine"),
        j(review_id="a0", text="again, the third file's twin"),
        j(text="no id either"),
    ]
    c = [
        j(review_id="a0", text="third copy"),
        j(review_id="c1", text="ok"),
        j(review_id="c1", text="ok twice", rating=7),
    ]
    return write_day(run, {"a.jsonl": a, "b.jsonl": b, "c.jsonl": c})


def mapped(run, ingested, shard_rows=4):
    """The DAG's way: every batch on its own, results through JSON (XCom), then the reducer."""
    plan = json.loads(json.dumps(validate_day.plan_batches(ingested)))
    batches = [json.loads(json.dumps(validate_day.validate_batch(run, b))) for b in plan]
    return validate_day.finish_validate(run, ingested, batches, shard_rows)


def reasons(rows):
    return sorted((r["source_file"].rsplit("/", 1)[-1], r["source_row"], r["reason"]) for r in rows)


def assert_same_as_whole_day(run, ingested, out):
    day = pa.concat_tables([run.lake.read_parquet(s) for i in ingested for s in i["shards"]])
    want = whole_day(day, day=run.day)
    got_valid = pa.concat_tables([run.lake.read_parquet(s) for s in out["shards"]])
    assert got_valid.to_pylist() == want.valid.to_pylist()  # same rows, same order
    got_q = pa.concat_tables([run.lake.read_parquet(u) for u in out["quarantine"]]).to_pylist()
    assert reasons(got_q) == reasons(want.rejects)
    assert out["rows"] == day.num_rows and out["valid"] == want.valid.num_rows and out["rejected"] == len(want.rejects)
    assert [(e["expectation"], e["column"], e["unexpected_count"], e["success"]) for e in out["expectations"]] == [
        (e["expectation"], e["column"], e["unexpected_count"], e["success"]) for e in want.expectations
    ]
    return got_q


@pytest.mark.parametrize("batch_rows, bucket_rows", [(4, 3), (8, 1_000), (100_000, 2)])
def test_mapped_validate_gives_the_whole_day_verdicts(run, monkeypatch, batch_rows, bucket_rows):
    monkeypatch.setattr(validate_day, "VALIDATE_BATCH_ROWS", batch_rows)
    monkeypatch.setattr(validate_day, "ID_BUCKET_ROWS", bucket_rows)  # several hash ranges
    monkeypatch.setattr(validate_day, "ID_ROW_GROUP_ROWS", 2)  # ranges read by row group
    ingested = tricky_day(run)
    out = mapped(run, ingested)
    assert set(out) == {"shards", "rows", "valid", "rejected", "quarantine", "expectations", "data_docs", "seconds"}
    got_q = assert_same_as_whole_day(run, ingested, out)
    why = {(r[0], r[1]): r[2] for r in reasons(got_q)}
    assert why[("a.jsonl", 11)] == UNIQUE_REASON  # a3 again, later in the same file
    assert why[("b.jsonl", 1)] == UNIQUE_REASON  # a5 again, in another file
    assert why[("b.jsonl", 2)] == UNIQUE_REASON  # repeats a rejected row's id: the rejected row won
    assert why[("a.jsonl", 13)] == f"{UNIQUE_REASON}; empty text"  # rejected and a duplicate: both
    assert (
        why[("c.jsonl", 1)] == UNIQUE_REASON
        and why[("c.jsonl", 3)] == f"{UNIQUE_REASON}; rating not an integer in 1..5"
    )
    # Balanced shards of the kept rows, the same split as the single-process validate.
    sizes = [run.lake.read_parquet(s).num_rows for s in out["shards"]]
    assert sizes == pipeline.shard_sizes(out["valid"], 4)
    assert out == {**pipeline.validate(run, ingested, 4), "seconds": out["seconds"]}


def test_the_day_is_split_into_batches_and_hash_ranges(run, monkeypatch):
    monkeypatch.setattr(validate_day, "VALIDATE_BATCH_ROWS", 8)
    ingested = tricky_day(run)
    plan = validate_day.plan_batches(ingested)
    # Shards of 3.5 (a: 14 rows in 4), 3.5 (b: 7 in 2) and 3 (c) rows: batches of >= 8 rows.
    assert [len(b["shards"]) for b in plan] == [3, 3, 1] and [b["index"] for b in plan] == [0, 1, 2]
    assert sum(len(b["shards"]) for b in plan) == sum(len(i["shards"]) for i in ingested)
    ranks = validate_day.file_ranks(ingested)
    assert all(b["file_rank"] == {f: ranks[f] for f in b["file_rank"]} for b in plan)
    # Every id of a batch's id file lands in exactly one hash range, read by row-group statistics.
    monkeypatch.setattr(validate_day, "ID_ROW_GROUP_ROWS", 2)
    monkeypatch.setattr(validate_day, "ID_BUCKET_ROWS", 2)
    out = validate_day.validate_batch(run, plan[0])
    ranges = validate_day.id_buckets(out["ids"])
    assert len(ranges) == -(-out["ids"] // 2) > 1 and ranges[0][0] == 0 and ranges[-1][1] is None
    parts = [validate_day.read_hash_range(run, out["ids_uri"], lo, hi, ["order"]) for lo, hi in ranges]
    every = run.lake.read_parquet(out["ids_uri"])
    assert sorted(o for p in parts for o in p.column("order").to_pylist()) == sorted(every.column("order").to_pylist())
    assert every.column("hash").to_pylist() == sorted(every.column("hash").to_pylist())  # sorted by hash


def test_a_day_with_many_batches_gets_larger_batches_not_more_tasks(monkeypatch):
    assert validate_day.batch_rows_for(40_000_000) == validate_day.VALIDATE_BATCH_ROWS  # 10 GB: 400 batches
    ingested = [{"file": f"f{i}", "parsed": 100_000, "shards": [f"f{i}-{k}" for k in range(5)]} for i in range(10)]
    assert len(validate_day.plan_batches(ingested)) == 10
    # A few rows over a batch make no batch of their own (balanced, like shards).
    tail = [
        {"file": f"f{i}", "parsed": 16_668 if i < 6 else 0, "shards": [f"f{i}-0"] if i < 6 else []} for i in range(7)
    ]
    assert [len(b["shards"]) for b in validate_day.plan_batches(tail)] == [6]
    monkeypatch.setattr(validate_day, "MAX_VALIDATE_BATCHES", 3)
    plan = validate_day.plan_batches(ingested)
    assert len(plan) == 3 and validate_day.batch_rows_for(1_000_000) == 333_334
    assert [s for b in plan for s in b["shards"]] == [s for i in ingested for s in i["shards"]]


def test_batches_of_long_reviews_are_cut_by_bytes(monkeypatch):
    """100,000 reviews of 2,000 characters would make one task hold ~1.4 GB: batches close at
    VALIDATE_BATCH_BYTES too (shards' Arrow bytes, recorded by ingest)."""
    mb = 1024 * 1024
    ingested = [{"file": "f0", "parsed": 100_000, "shards": [f"s{k}" for k in range(5)], "shard_bytes": [40 * mb] * 5}]
    assert [b["shards"] for b in validate_day.plan_batches(ingested)] == [["s0", "s1"], ["s2", "s3"], ["s4"]]
    short = [{**ingested[0], "shard_bytes": [4 * mb] * 5}]
    assert len(validate_day.plan_batches(short)) == 1
    # A huge day still keeps within MAX_VALIDATE_BATCHES: the byte target grows instead.
    monkeypatch.setattr(validate_day, "MAX_VALIDATE_BATCHES", 2)
    assert len(validate_day.plan_batches(ingested)) == 2


@pytest.mark.parametrize("collide", ["few", "all"])
def test_hash_collisions_are_confirmed_on_the_exact_ids(run, monkeypatch, collide):
    real = validation.id_hashes

    def colliding(review_ids):
        h, present = real(review_ids)
        return (h % np.uint64(3) if collide == "few" else np.zeros_like(h)), present

    monkeypatch.setattr(validation, "id_hashes", colliding)
    monkeypatch.setattr(validate_day, "VALIDATE_BATCH_ROWS", 4)
    ingested = tricky_day(run)
    assert_same_as_whole_day(run, ingested, mapped(run, ingested))


def test_a_day_without_input_validates_to_nothing(run):
    out = validate_day.finish_validate(run, [], [])
    assert out["shards"] == [] and out["quarantine"] == [] and out["expectations"] == []
    assert (out["rows"], out["valid"], out["rejected"], out["data_docs"]) == (0, 0, 0, None)
    assert validate_day.plan_batches([]) == []
    # Objects that gave no rows (all quarantined by ingest) plan no batch either.
    ingested = write_day(run, {"empty.jsonl": ["not json"]})
    assert ingested[0]["shards"] == [] and validate_day.plan_batches(ingested) == []
    assert mapped(run, ingested)["rows"] == 0


def test_shards_are_capped_so_mapped_tasks_stay_within_airflows_limit(run, monkeypatch, caplog):
    assert validate_day.capped_shard_rows(40_000_000, 20_000) == 40_000  # 10 GB a night: 1,000 shards
    assert validate_day.capped_shard_rows(1_000_000, 20_000) == 20_000
    monkeypatch.setattr(validate_day, "MAX_SHARDS", 2)
    ingested = tricky_day(run)
    with caplog.at_level(logging.INFO, logger="nlp_tasks.validate_day"):
        out = mapped(run, ingested, shard_rows=2)
    assert len(out["shards"]) == 2 and any("to stay within 2 shards" in r.getMessage() for r in caplog.records)
    assert [run.lake.read_parquet(s).num_rows for s in out["shards"]] == pipeline.shard_sizes(
        out["valid"], -(-out["valid"] // 2)
    )


def test_finish_is_safe_to_retry_and_merges_the_batches_data_docs(run, monkeypatch):
    monkeypatch.setattr(validate_day, "VALIDATE_BATCH_ROWS", 4)
    monkeypatch.setattr(validate_day, "DOCS_PAGES", 3)
    ingested = tricky_day(run)
    batches = [validate_day.validate_batch(run, b) for b in validate_day.plan_batches(ingested)]
    rendered = [b["index"] for b in batches if b["data_docs"]]
    assert rendered[0] == 0 and len(rendered) > 3  # batch 0 and every batch with failures
    first = validate_day.finish_validate(run, ingested, batches, 4)
    again = validate_day.finish_validate(run, ingested, batches, 4)  # a retried reducer
    assert {**again, "seconds": 0} == {**first, "seconds": 0}
    got_q = assert_same_as_whole_day(run, ingested, again)
    assert not any(r["reason"].count(UNIQUE_REASON) > 1 for r in got_q)
    files = run.lake.list_files(first["data_docs"])
    pages = [f for f in files if "/validations/" in f]
    assert len(pages) == 3  # the first DOCS_PAGES rendered
    index = run.lake.read_text(first["data_docs"] + "/index.html")
    for i in rendered[:3]:
        assert f"(batch {i + 1})" in index
    assert f"(batch {rendered[3] + 1})" not in index
