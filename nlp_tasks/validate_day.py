"""Validate a day of any size as mapped tasks: plan -> validate_batch (one per batch) -> finish.

* ``plan_batches`` groups the ingested shards into batches of about VALIDATE_BATCH_ROWS rows.
* ``validate_batch`` (one mapped task each) runs the Great Expectations suite without the
  uniqueness check on its batch and writes: its valid rows (``prevalidated/``), its rejects
  (quarantine), its expectation counts (returned) and an id file: (hash, order key, review_id)
  of every row with a review_id, sorted by hash, in small row groups, so that one hash range
  of it can be read through the row groups' min/max statistics.
* ``finish_validate`` checks review_id uniqueness across the day one hash range (bucket) at a
  time: the day's id files are read a bucket at a time, ``duplicate_losers`` finds the rows
  whose id was seen earlier in (file, line) order (shared hashes confirmed on the exact ids),
  and the losers are spilled to a local file per batch. Then, a batch at a time, the valid rows
  that lost are quarantined, rejects that also lost get both reasons, and the kept rows are
  re-sharded into balanced shards. Its memory is one bucket plus one batch and one shard.

Same verdicts, reasons and valid rows (in the same order) as the suite run on the
concatenated day; ``pipeline.validate`` chains the three in one process.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import validation as V
from .pipeline import (
    DEFAULT_SHARD_ROWS,
    SHARD_SLACK,
    Run,
    _order_keys,
    _quarantine_rejects,
    _shard_name,
    _ShardWriter,
    shard_sizes,
)
from .results import IngestResult, ValidateBatchResult, ValidateResult

log = logging.getLogger(__name__)

# Rows handed to Great Expectations per mapped task: each GX run costs ~0.2 s of its own (and
# every task ~2 s importing GX), and 100,000 rows cost ~400 MB. 10 GB a night (~40M reviews)
# is then 400 validate_batch tasks: well within Airflow's max_map_length (default 1024).
VALIDATE_BATCH_ROWS = 100_000
# ...or fewer rows when they are long: a batch is closed once its shards hold this many bytes
# in Arrow (100,000 reviews of 2,000 characters would be 200 MB of text and ~1.4 GB of task).
VALIDATE_BATCH_BYTES = 64 * 1024 * 1024
# Past this many batches a day gets larger batches instead of more tasks (max_map_length 1024).
MAX_VALIDATE_BATCHES = 1_000
# The validated shards feed the mapped redact and score tasks: past this many, shards grow
# instead (40M rows at 20,000 would be 2,000 tasks, over max_map_length's default of 1024).
MAX_SHARDS = 1_000
# Data Docs pages published per day: the first batch and the first batches with failures.
DOCS_PAGES = 10
# A batch task cannot know how many earlier batches failed, so only batches below this index
# render a page (~0.25 s each); finish_validate keeps the first DOCS_PAGES of them.
DOCS_RENDER_BATCHES = 4 * DOCS_PAGES
# Ids checked together for uniqueness: a bucket of 2M rows is ~40 MB of arrays (hash, order
# key, batch) plus the sort's indices.
ID_BUCKET_ROWS = 2_000_000
# Row groups of an id file: small, so a bucket's range of a 100,000-row file reads a few.
ID_ROW_GROUP_ROWS = 4_096


# -- plan ---------------------------------------------------------------------------------
def file_ranks(ingested: list[IngestResult]) -> dict[str, int]:
    """Each raw object's rank among the day's (sorted by URI): the high bits of an order key."""
    return {f: i for i, f in enumerate(sorted({item["file"] for item in ingested}))}


def batch_rows_for(rows: int) -> int:
    """VALIDATE_BATCH_ROWS, or more when the day would need more than MAX_VALIDATE_BATCHES."""
    return max(VALIDATE_BATCH_ROWS, math.ceil(rows / MAX_VALIDATE_BATCHES))


def plan_batches(ingested: list[IngestResult]) -> list[dict]:
    """The ingested shards, in order, grouped into batches of about batch_rows_for(day) rows.

    A shard's rows are estimated from its object's (ingest writes shards of ``shard_rows``
    rows and a last one), so planning reads nothing. Each batch carries the ranks of its
    objects, which is all a batch needs to give its rows their day-wide order keys.
    """
    ranks = file_ranks(ingested)
    day_rows = sum(item["parsed"] for item in ingested if item["shards"])
    # Balanced, as shards are: 100,008 rows make one batch, not one and a tail of 8 rows that
    # would cost a task (and its ~3 s of importing Great Expectations) of its own.
    n = max(1, math.ceil(day_rows / batch_rows_for(day_rows) - SHARD_SLACK))
    target = day_rows / n
    # Shard sizes in bytes, where ingest recorded them (results from before it did have none).
    total_bytes = sum(sum(item.get("shard_bytes") or []) for item in ingested)
    target_bytes = max(VALIDATE_BATCH_BYTES, math.ceil(total_bytes / MAX_VALIDATE_BATCHES))
    batches: list[dict] = []
    shards: list[str] = []
    files: dict[str, int] = {}
    rows = 0.0
    size = 0
    for item in ingested:
        sizes = item.get("shard_bytes") or [0] * len(item["shards"])
        for shard, shard_bytes in zip(item["shards"], sizes, strict=True):
            shards.append(shard)
            files[item["file"]] = ranks[item["file"]]
            rows += item["parsed"] / len(item["shards"])
            size += shard_bytes
            if rows >= target or size >= target_bytes:
                batches.append({"index": len(batches), "shards": shards, "file_rank": files})
                shards, files, rows, size = [], {}, 0.0, 0
    if shards:
        batches.append({"index": len(batches), "shards": shards, "file_rank": files})
    return batches


# -- one batch (a mapped task) --------------------------------------------------------------
def _write_ids(run: Run, index: int, review_ids: pa.ChunkedArray, keys: np.ndarray) -> tuple[str | None, int]:
    """The batch's id file: hash, order key and review_id of every row with an id, by hash."""
    h, present = V.id_hashes(review_ids)
    if not len(h):
        return None, 0
    by_hash = np.argsort(h, kind="stable")
    ids = pa.table(
        {
            "hash": pa.array(h[by_hash], pa.uint64()),
            "order": pa.array(keys[present][by_hash], pa.int64()),
            "review_id": review_ids.filter(pa.array(present)).take(pa.array(by_hash)),
        }
    )
    uri = run.work("validate_ids", _shard_name(index))
    run.lake.write_parquet(ids, uri, row_group_size=ID_ROW_GROUP_ROWS)
    return uri, len(h)


def _upload_docs(run: Run, local: str, index: int) -> str:
    """This batch's rendered Data Docs site, under the run's scratch space."""
    site = run.work("validate_docs", f"{index:05d}")
    run.lake.delete_prefix(site)  # a retried task renders a page of its own again
    for f in sorted(Path(local).rglob("*")):
        if f.is_file():
            run.lake.write_bytes(f"{site}/{f.relative_to(local).as_posix()}", f.read_bytes())
    return site


def validate_batch(run: Run, batch: dict) -> ValidateBatchResult:
    """Validate one batch (review_id uniqueness left to finish_validate); counts and URIs out."""
    t0 = time.perf_counter()
    i = batch["index"]
    table = pa.concat_tables([run.lake.read_parquet(s) for s in batch["shards"]])
    ids_uri, n_ids = _write_ids(run, i, table.column("review_id"), _order_keys(table, batch["file_rank"]))
    docs_uri = None
    with tempfile.TemporaryDirectory() as docs:
        validator = V.Validator(docs, run.run_id, run.day, check_unique=False)
        name = f"{run.run_id} (batch {i + 1})"
        result = validator.validate(table, run_name=name, docs=False)
        if i < DOCS_RENDER_BATCHES and (i == 0 or result.rejects):
            # Data Docs: the first batch and batches with failures get a page (rendering costs
            # ~0.25 s; the day's totals are in the run summary).
            validator.validate(table, run_name=name, docs=True)
            docs_uri = _upload_docs(run, docs, i)
    valid_uri = None
    if result.valid.num_rows:
        valid_uri = run.work("prevalidated", _shard_name(i))
        run.lake.write_parquet(result.valid, valid_uri)
    n_rejects = len(result.rejects)
    q_uri = _quarantine_rejects(run, result.rejects, f"validate-{i:05d}.parquet") if result.rejects else None
    log.info(
        "validated batch %d: %d rows, %d valid, %d rejected in %.2fs",
        i,
        table.num_rows,
        result.valid.num_rows,
        n_rejects,
        time.perf_counter() - t0,
    )
    return {
        "index": i,
        "rows": table.num_rows,
        "valid": result.valid.num_rows,
        "rejected": n_rejects,
        "ids": n_ids,
        "ids_uri": ids_uri,
        "prevalidated": valid_uri,
        "quarantine": q_uri,
        "expectations": result.expectations,
        "data_docs": docs_uri,
        "seconds": round(time.perf_counter() - t0, 3),
    }


# -- review_id uniqueness across the day, a hash range at a time -----------------------------
def id_buckets(ids: int) -> list[tuple[int, int | None]]:
    """[lo, hi) ranges of the 64-bit hash space (hi None: to the end), enough that a bucket
    holds about ID_BUCKET_ROWS ids (hashes are uniform)."""
    n = max(1, math.ceil(ids / ID_BUCKET_ROWS))
    edges = [k * 2**64 // n for k in range(n)]
    return [(lo, edges[k + 1] if k + 1 < n else None) for k, lo in enumerate(edges)]


def read_hash_range(run: Run, uri: str, lo: int, hi: int | None, columns: list[str]) -> pa.Table:
    """The rows of an id file with lo <= hash < hi: only the row groups whose statistics
    overlap the range are read."""
    with run.lake.fs.open_input_file(run.lake.path(uri)) as f:
        pf = pq.ParquetFile(f)
        col = pf.schema_arrow.get_field_index("hash")
        groups = []
        for g in range(pf.num_row_groups):
            st = pf.metadata.row_group(g).column(col).statistics
            if st is None or not st.has_min_max or (st.max >= lo and (hi is None or st.min < hi)):
                groups.append(g)
        cols = ["hash", *columns]
        table = pf.read_row_groups(groups, columns=cols) if groups else pf.schema_arrow.empty_table().select(cols)
    h = table.column("hash").to_numpy()
    inside = h >= np.uint64(lo)
    if hi is not None:
        inside &= h < np.uint64(hi)
    return table.filter(pa.array(inside))


def _read_bucket(run: Run, batches: list[ValidateBatchResult], lo: int, hi: int | None):
    """Hashes, order keys and the position in ``batches`` of every id in the bucket."""
    hashes, orders, source = [], [], []
    for j, b in enumerate(batches):
        uri = b["ids_uri"]
        if uri is None:  # the caller passes only batches that wrote ids
            raise ValueError(f"batch {b['index']} has no ids file")
        t = read_hash_range(run, uri, lo, hi, ["order"])
        hashes.append(t.column("hash").to_numpy())
        orders.append(t.column("order").to_numpy())
        source.append(np.full(t.num_rows, j, np.int32))
    return np.concatenate(hashes), np.concatenate(orders), np.concatenate(source)


def _exact_ids(
    run: Run,
    batches: list[ValidateBatchResult],
    lo: int,
    hi: int | None,
    orders: np.ndarray,
    source: np.ndarray,
    candidates,
) -> dict[int, str]:
    """review_id of each candidate (rows sharing a hash), read back from the bucket's range
    of the id files that hold candidates, one file at a time."""
    candidates = np.asarray(candidates, np.int64)
    out: dict[int, str] = {}
    for j in np.unique(source[np.isin(orders, candidates)]):
        t = read_hash_range(run, batches[j]["ids_uri"], lo, hi, ["order", "review_id"])
        hit = np.isin(t.column("order").to_numpy(), candidates)
        out.update(
            zip(
                t.column("order").filter(pa.array(hit)).to_pylist(),
                t.column("review_id").filter(pa.array(hit)).to_pylist(),
                strict=True,
            )
        )
    return out


def _spill(folder: str, index: int) -> str:
    return os.path.join(folder, f"losers-{index:05d}.i64")


def find_losers(run: Run, batches: list[ValidateBatchResult], folder: str) -> int:
    """Order keys of the rows that repeat an earlier review_id (first seen by (file, line)
    wins), appended per batch to local files in ``folder`` (read by losers_of); returns how many.

    A row's id and its earlier twin hash to the same bucket, so each bucket is decided on its
    own; the losers go to disk so that a day of duplicates does not pile up in memory."""
    with_ids = [b for b in batches if b["ids"]]
    if not with_ids:
        return 0
    found = 0
    for lo, hi in id_buckets(sum(b["ids"] for b in with_ids)):
        hashes, orders, source = _read_bucket(run, with_ids, lo, hi)
        # Bound now, not when called: the callback must see this bucket's arrays.
        exact = functools.partial(_exact_ids, run, with_ids, lo, hi, orders, source)
        losers = V.duplicate_losers(hashes, orders, exact)
        if not len(losers):
            continue
        lost = np.isin(orders, losers)
        for j in np.unique(source[lost]):
            with open(_spill(folder, with_ids[j]["index"]), "ab") as f:
                orders[lost & (source == j)].astype(np.int64).tofile(f)
        found += len(losers)
    return found


def losers_of(folder: str, index: int) -> np.ndarray:
    path = _spill(folder, index)
    return np.fromfile(path, np.int64) if os.path.exists(path) else np.empty(0, np.int64)


# -- finish: apply the verdicts, re-shard, totals, Data Docs ---------------------------------
def _mark_duplicate_rejects(
    run: Run, batch: ValidateBatchResult, losers: np.ndarray, ranks: dict[str, int]
) -> tuple[str | None, int]:
    """The batch's quarantine file, with UNIQUE_REASON added to the rejects that also repeat
    an earlier id (both reasons, as the whole-day suite gives), and how many did.

    The batch's own file is never changed (a retried finish must not add the reason twice): a
    changed copy is written next to it and listed instead."""
    uri = batch["quarantine"]
    if not uri or not len(losers):
        return uri, 0
    q = run.lake.read_parquet(uri)
    dup = np.isin(_order_keys(q, ranks), losers)
    if not dup.any():
        return uri, 0
    # Listed where the whole-day suite lists it: GX reports review_id's results first, and the
    # only other one (missing review_id) cannot befall a duplicate, so the reason goes first.
    reasons = [V.UNIQUE_REASON + "; " + r if d else r for r, d in zip(q.column("reason").to_pylist(), dup, strict=True)]
    marked = run.work("quarantine", f"validate-{batch['index']:05d}-unique.parquet")
    run.lake.write_parquet(
        q.set_column(q.schema.get_field_index("reason"), "reason", pa.array(reasons, pa.string())), marked
    )
    return marked, int(dup.sum())


def _split_duplicates(
    run: Run, batch: ValidateBatchResult, losers: np.ndarray, ranks: dict[str, int], writer: _ShardWriter
) -> str | None:
    """The batch's valid rows: those that repeat an earlier id to quarantine (URI returned),
    the rest on to the validated shards."""
    if not batch["prevalidated"]:
        return None
    t = run.lake.read_parquet(batch["prevalidated"])
    lose = np.isin(_order_keys(t, ranks), losers) if len(losers) else np.zeros(t.num_rows, bool)
    uri = None
    if lose.any():
        dup = t.filter(pa.array(lose)).select(["review_id", "source_file", "source_row", "text"])
        rejects = [{**r, "stage": "validate", "reason": V.UNIQUE_REASON} for r in dup.to_pylist()]
        uri = _quarantine_rejects(run, rejects, f"validate-duplicates-{batch['index']:05d}.parquet")
        t = t.filter(pa.array(~lose))
    writer.add(t)
    return uri


def capped_shard_rows(rows: int, shard_rows: int) -> int:
    """``shard_rows``, or more when the day would otherwise need more than MAX_SHARDS shards."""
    capped = max(shard_rows, math.ceil(rows / MAX_SHARDS))
    if capped > shard_rows:
        log.info(
            "%d valid rows: shards of %d rows instead of %d, to stay within %d shards (mapped tasks)",
            rows,
            capped,
            shard_rows,
            MAX_SHARDS,
        )
    return capped


def day_expectations(batches: list[ValidateBatchResult], duplicates: int) -> list[dict]:
    """The day's totals of the per-batch expectation counts, with the day-wide uniqueness
    result where the whole-day suite lists it (GX lists results by column, review_id's first)."""
    totals: dict[str, dict] = {}
    for b in batches:
        for e in b["expectations"]:
            agg = totals.setdefault(e["expectation"] + "/" + str(e["column"]), {**e, "unexpected_count": 0})
            agg["unexpected_count"] += e["unexpected_count"]
            agg["success"] = agg["unexpected_count"] == 0
    listed = list(totals.values())
    if any(b["rows"] for b in batches):
        unique = {
            "expectation": V.UNIQUE_EXPECTATION,
            "column": "review_id",
            "success": not duplicates,
            "unexpected_count": int(duplicates),
        }
        at = max((k + 1 for k, e in enumerate(listed) if e["column"] == "review_id"), default=0)
        listed.insert(at, unique)
    return listed


# The rows of a Data Docs index page's table of validation runs (GX writes them as a literal).
_INDEX_ROWS = re.compile(r"(\n\s*data: \[)(\{'validation_success'.*?)(\],\n\s*toolbar:)", re.S)


def merge_docs_index(pages: list[str]) -> str:
    """One Data Docs index listing the runs of several single-run index pages (GX renders an
    index per site; each batch task rendered a site of its own). Unknown layout: the first."""
    matched = [_INDEX_ROWS.search(p) for p in pages]
    found = [m for m in matched if m is not None]
    if len(found) < len(pages):
        log.warning("Data Docs index layout not recognised: the merged index lists the first batch only")
        return pages[0]
    first = found[0]
    rows = ", ".join(m.group(2) for m in found)
    return pages[0][: first.start(2)] + rows + pages[0][first.end(2) :]


def merge_docs(run: Run, batches: list[ValidateBatchResult]) -> str:
    """The batches' Data Docs sites (the first DOCS_PAGES that rendered one) as one site under
    run.work("data_docs"): every run's page, the static files once and one index of all."""
    docs_uri = run.work("data_docs")
    run.lake.delete_prefix(docs_uri)  # a retried finish starts over
    indexes = []
    sites = [site for b in batches if (site := b.get("data_docs"))]
    for k, site in enumerate(sites[:DOCS_PAGES]):
        for f in run.lake.list_files(site):
            rel = f[len(site) + 1 :]
            if rel == "index.html":
                indexes.append(run.lake.read_text(f))
            elif k == 0 or rel.startswith("validations/"):  # the rest is the same in every site
                run.lake.copy(f, f"{docs_uri}/{rel}")
    if indexes:
        run.lake.write_text(f"{docs_uri}/index.html", merge_docs_index(indexes))
    return docs_uri


def finish_validate(
    run: Run, ingested: list[IngestResult], batches: list[ValidateBatchResult], shard_rows: int = DEFAULT_SHARD_ROWS
) -> ValidateResult:
    """Review_id uniqueness across the day, then the validated shards: validate's result.

    Reads each batch's outputs and never changes them, so a retry gives the same result (they
    are removed with the run's scratch space). ``seconds`` covers the batches' tasks too.
    """
    t0 = time.perf_counter()
    batches = sorted(batches, key=lambda b: b["index"])
    ranks = file_ranks(ingested)
    rows = sum(b["rows"] for b in batches)
    q_uris, dup_uris = [], []
    with tempfile.TemporaryDirectory() as spill:
        n_losers = find_losers(run, batches, spill)
        rejected_losers = 0
        for b in batches:
            uri, n = _mark_duplicate_rejects(run, b, losers_of(spill, b["index"]), ranks)
            rejected_losers += n
            if uri:
                q_uris.append(uri)
        valid = sum(b["valid"] for b in batches) - (n_losers - rejected_losers)
        writer = _ShardWriter(run, "validated", shard_sizes(valid, capped_shard_rows(valid, shard_rows)))
        for b in batches:
            uri = _split_duplicates(run, b, losers_of(spill, b["index"]), ranks, writer)
            if uri:
                dup_uris.append(uri)
    docs_uri = merge_docs(run, batches) if rows else None
    seconds = time.perf_counter() - t0 + sum(b["seconds"] for b in batches)
    log.info(
        "validated %d rows in %d batches: %d valid, %d quarantined (%d duplicate ids); finish %.2fs, all tasks %.2fs",
        rows,
        len(batches),
        valid,
        rows - valid,
        n_losers,
        time.perf_counter() - t0,
        seconds,
    )
    out: ValidateResult = {
        "shards": writer.uris,
        "rows": rows,
        "valid": valid,
        "rejected": rows - valid,
        "quarantine": q_uris + dup_uris,
        "expectations": day_expectations(batches, n_losers),
        "data_docs": docs_uri,
        "seconds": round(seconds, 3),
    }
    # The stage's peak for the run summary: the largest of its tasks', the batches' included.
    peaks = [b["peak_rss_mb"] for b in batches if b.get("peak_rss_mb") is not None]
    if peaks:
        out["peak_rss_mb"] = max(peaks)
    return out
