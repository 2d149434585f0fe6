"""Publish a day: reconcile, stage every table, gate on invalid input, commit, then the extras.

The steps, each a function below, in the order ``publish`` runs them:

1. ``check_shards``: every validated shard was redacted and scored exactly once;
2. ``stage_report`` / ``stage_quarantine``: stream the scored shards and the quarantine files
   into the day's staged Parquet files (``partitions.StagedWriter``: bounded rows per file and
   per row group), adding each batch to the day's partial aggregates (``DayTotals``) on the
   way: the day is never held in memory, only one row group and the aggregates;
3. ``reconcile``: per input file, records read = reported + quarantined;
4. ``summary_table``, ``build_manifest`` and the run summary, from the aggregates;
5. ``gate_invalid``: above ``max_invalid_fraction``, publish the quarantine only and fail;
6. ``commit_day``: every table becomes visible (``partitions.commit``), then the manifest;
7. ``copy_data_docs``, ``write_html`` (best effort) and ``clean_up``.

A publish killed at any point leaves readers the previous complete partitions or the new ones
(see nlp_tasks.partitions), and its retry finishes the job.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import posixpath
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import layout, partitions
from .results import DriftResult, IngestResult, PublishResult, ShardResult, ValidateResult
from .schema import LABELS, QUARANTINE, SENTIMENT_REPORT, SUMMARY
from .storage import Lake

log = logging.getLogger(__name__)


class ReconciliationError(RuntimeError):
    pass


class TooManyInvalidRows(RuntimeError):
    pass


# -- partial aggregates -------------------------------------------------------------------
# What the summary needs per row, summed per product and for the day. Sums of partial sums
# are exact for the counts; mean_score is a float64 sum of float32 scores over n.
_SUMS = ("n", "negative", "neutral", "positive", "score", "rated", "agree", "rated_binary", "agree_binary", "pii")
# Partial product aggregates are folded together once they hold this many rows, so memory
# is bounded by the number of distinct products, not by rows.
_FOLD_ROWS = 200_000


def row_parts(batch: pa.Table | pa.RecordBatch) -> pa.Table:
    """Per row: product_id and the 0/1 or numeric terms of every summary sum."""
    label = batch.column("label")
    rating = batch.column("rating").cast(pa.int64())
    rated = pc.is_valid(rating)
    expect = pc.if_else(pc.less_equal(rating, 2), "negative", pc.if_else(pc.equal(rating, 3), "neutral", "positive"))
    agree = pc.fill_null(pc.and_(rated, pc.equal(expect, label)), False)
    rated_binary = pc.fill_null(pc.and_(rated, pc.not_equal(rating, 3)), False)
    positive = pc.equal(label, "positive")
    same_side = pc.equal(positive, pc.greater_equal(rating, 4))
    agree_binary = pc.fill_null(pc.and_(pc.and_(rated_binary, same_side), pc.not_equal(label, "neutral")), False)
    as_int = lambda a: pc.cast(a, pa.int64())  # noqa: E731
    return pa.table(
        {
            "product_id": batch.column("product_id"),
            "n": pa.array(np.ones(len(batch), dtype=np.int64)),
            **{name: as_int(pc.fill_null(pc.equal(label, name), False)) for name in LABELS},
            "score": pc.cast(batch.column("score"), pa.float64()),
            "rated": as_int(rated),
            "agree": as_int(agree),
            "rated_binary": as_int(rated_binary),
            "agree_binary": as_int(agree_binary),
            "pii": pc.cast(pc.fill_null(batch.column("pii_entities"), 0), pa.int64()),
        }
    )


def _group_sums(table: pa.Table) -> pa.Table:
    out = table.group_by("product_id").aggregate([(c, "sum") for c in _SUMS])
    return out.rename_columns([c.removesuffix("_sum") for c in out.column_names])


class SummarySums:
    """The summary's sums for the day and per product, added a batch at a time."""

    def __init__(self) -> None:
        self.overall = {c: 0 for c in _SUMS}
        self._products: list[pa.Table] = []
        self._product_rows = 0

    def add(self, batch: pa.Table) -> None:
        parts = row_parts(batch)
        for c in _SUMS:
            self.overall[c] += pc.sum(parts.column(c)).as_py() or 0
        grouped = _group_sums(parts.filter(pc.is_valid(parts.column("product_id"))))
        self._products.append(grouped)
        self._product_rows += grouped.num_rows
        if self._product_rows > _FOLD_ROWS:
            self._fold()

    def products(self) -> pa.Table | None:
        self._fold()
        return self._products[0].sort_by("product_id") if self._products else None

    def _fold(self) -> None:
        if len(self._products) > 1:
            self._products = [_group_sums(pa.concat_tables(self._products))]
        self._product_rows = self._products[0].num_rows if self._products else 0


class DayTotals:
    """The day's counts, built a batch at a time: what reconcile, summary and manifest need."""

    def __init__(self) -> None:
        from .pii import ENTITY_TYPES

        self.entity_types = ENTITY_TYPES
        self.reported = 0
        self.quarantined = 0
        self.reported_by_file: dict[str, int] = {}
        self.quarantined_by_file: dict[str, int] = {}
        self.pii = {t: 0 for t in ENTITY_TYPES}
        self.versions: set[str] = set()
        self.summary = SummarySums()

    def add_report(self, batch: pa.Table) -> None:
        self.reported += batch.num_rows
        _count_into(self.reported_by_file, batch.column("source_file"))
        for t in self.entity_types:
            self.pii[t] += int(pc.sum(batch.column(f"pii_{t.lower()}")).as_py() or 0)
        self.versions.update(v for v in pc.unique(batch.column("model_version")).to_pylist() if v)
        self.summary.add(batch)

    def add_quarantine(self, batch: pa.Table) -> None:
        self.quarantined += batch.num_rows
        _count_into(self.quarantined_by_file, batch.column("source_file"))

    @property
    def labels(self) -> dict[str, int]:
        return {k: int(self.summary.overall[k]) for k in LABELS}


def _count_into(counts: dict[str, int], column) -> None:
    for v in pc.value_counts(column):
        key = v["values"].as_py()
        counts[key] = counts.get(key, 0) + v["counts"].as_py()


def _agg_row(sums: dict, scope: str, product, rows_in, rows_q, verdict: str, run_id: str) -> dict:
    n = sums["n"]
    share = lambda k: sums[k] / n if n else None  # noqa: E731
    return {
        "scope": scope,
        "product_id": product,
        "rows_in": rows_in,
        "rows_reported": n,
        "rows_quarantined": rows_q,
        "negative_share": share("negative"),
        "neutral_share": share("neutral"),
        "positive_share": share("positive"),
        "mean_score": share("score"),
        "rating_agreement": sums["agree"] / sums["rated"] if sums["rated"] else None,
        "pii_entities": int(sums["pii"]),
        "drift_verdict": verdict,
        "run_id": run_id,
        "rows_rated": int(sums["rated"]),
        "rating_agreement_binary": sums["agree_binary"] / sums["rated_binary"] if sums["rated_binary"] else None,
    }


def summary_table(sums: SummarySums, rows_in: int, rows_quarantined: int, verdict: str, run_id: str) -> pa.Table:
    """``reports/summary``: one overall row, then one per product (sorted), from the sums."""
    rows = [_agg_row(sums.overall, "overall", None, rows_in, rows_quarantined, verdict, run_id)]
    products = sums.products()
    if products is not None:
        for r in products.to_pylist():
            rows.append(_agg_row(r, "product", r["product_id"], None, None, verdict, run_id))
    return pa.Table.from_pylist(rows, schema=SUMMARY)


# -- the steps ----------------------------------------------------------------------------
def check_shards(day: str, validated: ValidateResult, redacted: list[ShardResult], scored: list[ShardResult]) -> None:
    """Every validated shard must have been redacted and scored exactly once."""
    expected = sorted(posixpath.basename(u) for u in validated["shards"])
    for stage, outputs in (("redact", redacted), ("score", scored)):
        got = sorted(posixpath.basename(o["shard"]) for o in outputs)
        if got != expected:
            raise ReconciliationError(f"{day}: {stage} produced {len(got)} shards for {len(expected)} validated shards")


def _stream(lake: Lake, uris: list[str], schema: pa.Schema, folder: str, add) -> list[tuple[str, int]]:
    writer = partitions.StagedWriter(lake, folder, schema)
    for uri in uris:
        for batch in partitions.batches(lake, uri):
            table = pa.Table.from_batches([batch])
            add(table)
            writer.write(table)
    return writer.close()


def stage_report(lake: Lake, scored_shards: list[str], folder: str, totals: DayTotals) -> list[tuple[str, int]]:
    """The scored shards, in shard order, as the day's sentiment files (report columns only)."""
    return _stream(lake, scored_shards, SENTIMENT_REPORT, folder, totals.add_report)


def stage_quarantine(lake: Lake, uris: list[str], folder: str, totals: DayTotals) -> list[tuple[str, int]]:
    """Ingest's then validate's quarantine files as the day's quarantine files."""
    return _stream(lake, uris, QUARANTINE, folder, totals.add_quarantine)


def quarantine_uris(ingested: list[IngestResult], validated: ValidateResult) -> list[str]:
    vq = validated["quarantine"]  # a list of files (one per batch with rejects); one URI before
    return [i["quarantine"] for i in ingested if i["quarantine"]] + ([vq] if isinstance(vq, str) else list(vq or []))


def reconcile(day: str, ingested: list[IngestResult], totals: DayTotals) -> list[dict]:
    """No row is lost silently: per file, records read = reported + quarantined. Returns the
    per-file counts for the manifest."""
    files = []
    for item in ingested:
        f = item["file"]
        rep, q = totals.reported_by_file.get(f, 0), totals.quarantined_by_file.get(f, 0)
        files.append({"file": f, "records": item["records"], "reported": rep, "quarantined": q})
        if item["records"] != rep + q:
            raise ReconciliationError(f"{f}: read {item['records']} records but reported {rep} + quarantined {q}")
    rows_in = sum(i["records"] for i in ingested)
    if rows_in != totals.reported + totals.quarantined:
        raise ReconciliationError(
            f"{day}: read {rows_in} but reported {totals.reported} + quarantined {totals.quarantined}"
        )
    return files


def build_manifest(
    run,
    totals: DayTotals,
    files: list[dict],
    validated: ValidateResult,
    drift_result: DriftResult,
    comparison: dict | None,
    max_invalid_fraction: float,
    run_brief: dict,
) -> dict:
    rows_in = sum(f["records"] for f in files)
    return {
        "dt": run.day,
        "run_id": run.run_id,
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "published",
        "rows_in": rows_in,
        "rows_reported": totals.reported,
        "rows_quarantined": totals.quarantined,
        "invalid_fraction": round(totals.quarantined / rows_in if rows_in else 0.0, 6),
        "max_invalid_fraction": max_invalid_fraction,
        "files": files,
        "pii_entities": totals.pii,
        "labels": totals.labels,
        "drift_verdict": drift_result["verdict"],
        "drifted_features": drift_result["drifted"],
        "reference_days": drift_result.get("reference_days", []),
        "model_versions": sorted(totals.versions),
        # The challenger's night, if one ran (its rows are in reports/model_comparison only).
        "model_comparison": {k: v for k, v in (comparison or {"status": "none"}).items() if k != "shadow_tasks"},
        "expectations": validated["expectations"],
        "run_summary": run_brief,
    }


def write_manifest(lake: Lake, day: str, manifest: dict) -> None:
    lake.write_text(lake.uri(layout.manifest(day)), json.dumps(manifest, indent=2) + "\n")


def gate_invalid(lake: Lake, run, staged: dict, manifest: dict) -> None:
    """Too much bad input: publish the quarantine (so people can see why) and fail loudly."""
    rows_in, bad = manifest["rows_in"], manifest["rows_quarantined"]
    fraction, limit = manifest["invalid_fraction"], manifest["max_invalid_fraction"]
    if not rows_in or bad / rows_in <= limit:
        return
    partitions.commit(lake, lake.uri(layout.quarantine(run.day)), staged["quarantine"], run.run_id)
    manifest["status"] = "rejected: too many invalid rows"
    write_manifest(lake, run.day, manifest)
    worst = sorted(manifest["files"], key=lambda f: f["quarantined"] / max(f["records"], 1), reverse=True)[:3]
    names = ", ".join(
        f"{posixpath.basename(f['file'])} ({f['quarantined']}/{f['records']})" for f in worst if f["quarantined"]
    )
    raise TooManyInvalidRows(
        f"{run.day}: {bad} of {rows_in} records invalid ({fraction:.1%} > max_invalid_fraction {limit:.1%}); "
        f"worst files: {names}. Quarantine published at {lake.uri(layout.quarantine(run.day))}; reports left unchanged."
    )


def table_prefixes(day: str) -> dict[str, str]:
    return {
        "sentiment": layout.report("sentiment", day),
        "summary": layout.report("summary", day),
        "drift": layout.report("drift", day),
        "quarantine": layout.quarantine(day),
        "run_summary": layout.report("run_summary", day),
    }


def commit_day(lake: Lake, run, staged: dict, manifest: dict) -> None:
    """Each table becomes visible (partitions.commit), then the day's manifest."""
    for name, prefix in table_prefixes(run.day).items():
        partitions.commit(lake, lake.uri(prefix), staged[name], run.run_id)
    write_manifest(lake, run.day, manifest)


def copy_data_docs(lake: Lake, day: str, docs_uri: str | None) -> str | None:
    if not docs_uri:
        return None
    prefix = lake.uri(layout.report("data_docs", day))
    lake.delete_prefix(prefix)
    for f in lake.list_files(docs_uri):
        lake.copy(f, prefix + f[len(docs_uri) :])
    return prefix + "/index.html"


def write_html(lake: Lake, day: str, run_id: str) -> str | None:
    """The day's HTML page; the reports are committed, so a failure here is logged, not raised."""
    try:
        from . import html_report

        return html_report.write_day(lake, day, run_id)
    except Exception:
        log.exception("html report for %s not written", day)
        return None


def clean_up(lake: Lake, run, staging: str) -> None:
    lake.delete_prefix(staging)
    lake.delete_prefix(run.work())


def publish(
    run,
    ingested: list[IngestResult],
    validated: ValidateResult,
    redacted: list[ShardResult],
    scored: list[ShardResult],
    drift_result: DriftResult,
    max_invalid_fraction: float = 0.05,
    price_per_hour: float = 0.0,
    inference_price_per_hour: float | None = None,
    comparison: dict | None = None,
    settle_drift: bool = False,
) -> PublishResult:
    """Publish the day (the steps in the module's docstring); returns the run's brief for XCom.

    The run summary (``reports/run_summary``) prices the task seconds of every stage at
    ``price_per_hour`` per worker slot (``inference_price_per_hour`` for score, e.g. a GPU).
    ``settle_drift``: once the day is committed, settle drift (pipeline.settle_drift) and report
    the day's settled verdict (``settled_drift``). It runs before the run's scratch space is
    cleared, so a retry after a failure there still finds every shard and publishes again.
    """
    from . import observability

    t0 = time.perf_counter()
    lake = run.lake
    check_shards(run.day, validated, redacted, scored)
    staging = lake.uri(layout.staging(run.day, run.run_id))
    totals = DayTotals()
    staged = {
        "sentiment": stage_report(lake, [s["shard"] for s in scored], f"{staging}/sentiment", totals),
        "quarantine": stage_quarantine(lake, quarantine_uris(ingested, validated), f"{staging}/quarantine", totals),
    }
    files = reconcile(run.day, ingested, totals)
    rows_in = sum(i["records"] for i in ingested)
    # Publish's own seconds are counted up to here: what follows is a few small writes and copies.
    run_table, run_brief = observability.run_summary(
        {
            "ingest": ingested,
            "validate": [validated],
            "redact": redacted,
            "score": scored,
            "shadow_score": (comparison or {}).get("shadow_tasks") or [],
            "drift": [drift_result],
            "publish": [
                {"rows": rows_in, "seconds": time.perf_counter() - t0, "peak_rss_mb": observability.peak_rss_mb()}
            ],
        },
        rows_in,
        run.run_id,
        price_per_hour,
        inference_price_per_hour,
    )
    small = {
        "summary": summary_table(totals.summary, rows_in, totals.quarantined, drift_result["verdict"], run.run_id),
        "drift": lake.read_parquet(drift_result["uri"]),
        "run_summary": run_table,
    }
    for name, table in small.items():
        uri = f"{staging}/{name}/{partitions.SINGLE}"
        lake.write_parquet(table, uri)
        staged[name] = [(uri, table.num_rows)]
    manifest = build_manifest(run, totals, files, validated, drift_result, comparison, max_invalid_fraction, run_brief)

    gate_invalid(lake, run, staged, manifest)
    commit_day(lake, run, staged, manifest)
    docs = copy_data_docs(lake, run.day, validated.get("data_docs"))
    if docs:
        manifest["data_docs"] = docs
        write_manifest(lake, run.day, manifest)
    html = write_html(lake, run.day, run.run_id)
    if html:
        manifest["html_report"] = html
        write_manifest(lake, run.day, manifest)
    settled = None
    if settle_drift:
        from .pipeline import settle_drift as settle

        own = [s["result"] for s in settle(run) if s["dt"] == run.day]
        settled = own[0] if own else drift_result
    clean_up(lake, run, staging)  # last: until here a retry finds every shard it needs

    log.info(
        "published %s in %.2fs: %d in, %d reported, %d quarantined",
        run.day,
        time.perf_counter() - t0,
        rows_in,
        totals.reported,
        totals.quarantined,
    )
    log.info(
        (
            "run summary %s: %d reviews, %.1f task-seconds (%.0f%% inference), cost %.6f = %s per 1,000 reviews at "
            "%s/h (score at %s/h)"
        ),
        run.day,
        rows_in,
        run_brief["task_seconds"],
        100 * (run_brief["inference_share"] or 0),
        run_brief["cost"],
        "n/a" if run_brief["cost_per_1000_reviews"] is None else f"{run_brief['cost_per_1000_reviews']:.6f}",
        run_brief["price_per_hour"],
        run_brief["inference_price_per_hour"],
    )
    out: PublishResult = {
        "dt": run.day,
        "rows": rows_in,
        "rows_in": rows_in,
        "rows_reported": totals.reported,
        "rows_quarantined": totals.quarantined,
        "pii_entities": sum(totals.pii.values()),
        "labels": totals.labels,
        "drift_verdict": (settled or drift_result)["verdict"],
        "model_versions": sorted(totals.versions),
        "report_uri": lake.uri(layout.report(layout.SENTIMENT, run.day)),
        "html_report_uri": html,
        "run_summary": run_brief,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if settled is not None:
        out["settled_drift"] = settled
    return out
