"""The nightly stages as plain functions over URIs: what each Airflow task calls.

Each stage reads Parquet shards from the run's scratch space, writes new shards there and
returns a small JSON-able dict (URIs and counts, never row data or text) for XCom. Nothing
here imports Airflow, so every stage is testable on its own.
"""

from __future__ import annotations

import logging
import math
import posixpath
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import layout
from .results import DriftResult, IngestResult, ShardResult, ValidateResult
from .schema import DRIFT, quarantine_rows
from .storage import Lake

log = logging.getLogger(__name__)

DEFAULT_SHARD_ROWS = 20_000
QUARANTINE_TEXT_CHARS = 2_000


@dataclass(frozen=True)
class Run:
    lake: Lake
    day: str
    run_id: str

    def work(self, *parts: str) -> str:
        return self.lake.uri(layout.work(self.day, self.run_id), *parts)


def _shard_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


# A shard may hold this much more than shard_rows, so 100,008 rows at 20,000 make five
# shards rather than five and a tail of 8 rows that costs a whole mapped task downstream.
SHARD_SLACK = 0.1


def shard_sizes(rows: int, shard_rows: int) -> list[int]:
    """Balanced shard sizes: as few shards as the slack allows, sizes differing by at most 1,
    so mapped tasks finish together. Each holds at most (1 + SHARD_SLACK) * shard_rows."""
    if rows <= 0:
        return []
    n = max(1, math.ceil(rows / shard_rows - SHARD_SLACK))
    base, extra = divmod(rows, n)
    return [base + 1] * extra + [base] * (n - extra)


def _write_shards(run: Run, table: pa.Table, folder: str, shard_rows: int, prefix: str = "") -> list[str]:
    uris, start = [], 0
    for i, size in enumerate(shard_sizes(table.num_rows, shard_rows)):
        uri = run.work(folder, prefix + _shard_name(i))
        run.lake.write_parquet(table.slice(start, size), uri)
        uris.append(uri)
        start += size
    return uris


# -- 1. discover ------------------------------------------------------------------------
def discover(run: Run) -> list[str]:
    """All raw objects of the day; unsupported ones are kept so ingest can quarantine them."""
    files = run.lake.list_files(run.lake.uri(layout.raw_reviews(run.day))) + run.lake.list_files(
        run.lake.uri(layout.raw_pdfs(run.day))
    )
    # A retry of the same run starts from a clean scratch space.
    run.lake.delete_prefix(run.work())
    log.info("discovered %d raw objects for %s", len(files), run.day)
    if not files:
        log.warning("no raw input for %s: the day will be published with an empty report", run.day)
    return files


# -- 2. ingest --------------------------------------------------------------------------
def ingest(run: Run, uri: str, index: int, shard_rows: int = DEFAULT_SHARD_ROWS) -> IngestResult:
    from .ingest import ParsedObject, ingest_stream
    from .storage import ObjectReadError, ObjectUnavailable

    t0 = time.perf_counter()
    name = posixpath.basename(uri)
    shards: list[str] = []
    shard_bytes: list[int] = []  # in Arrow: validate plans its batches by rows and by bytes

    def write_shard(table: pa.Table) -> None:
        # Written as the object is read: a task holds one shard of rows, whatever the object's size.
        shard = run.work("ingested", f"{index:05d}-{_shard_name(len(shards))}")
        run.lake.write_parquet(table, shard)
        shards.append(shard)
        shard_bytes.append(int(table.nbytes))

    try:
        with run.lake.open_input(uri) as f:
            result = ingest_stream(uri, f, sink=write_shard, batch_rows=shard_rows)
    except ObjectUnavailable as e:
        # Listed by discover, then gone (404) or forbidden (403): no retry will change that,
        # so the object is one quarantined record with the reason, and the night goes on (the
        # invalid-share gate still fails a night where most objects are unreadable).
        log.warning("cannot read %s: %s", name, e.reason)
        result = ParsedObject(uri)
        result.reject(0, e.reason)
    except (ObjectReadError, OSError) as e:
        raise OSError(f"could not read {uri}: {type(e).__name__}") from None
    if result.discarded:  # the object failed as a whole after some shards were written
        for shard in shards:
            run.lake.delete(shard)
        shards.clear()
        shard_bytes.clear()
    if result.rows:
        write_shard(result.table())
    q_uri = None
    if result.rejects:
        q_uri = run.work("quarantine", f"ingest-{index:05d}.parquet")
        run.lake.write_parquet(quarantine_rows(result.rejects, run.run_id), q_uri)
    log.info(
        "ingested %s: %d records, %d rows, %d quarantined in %.2fs",
        name,
        result.records,
        result.row_count,
        len(result.rejects),
        time.perf_counter() - t0,
    )
    return {
        "file": uri,
        "rows": result.records,
        "records": result.records,
        "parsed": result.row_count,
        "rejected": len(result.rejects),
        "shards": shards,
        "shard_bytes": shard_bytes,
        "quarantine": q_uri,
        "seconds": round(time.perf_counter() - t0, 3),
    }


# -- 3. validate ------------------------------------------------------------------------
def _order_keys(table: pa.Table, file_rank: dict[str, int]) -> np.ndarray:
    """A record's place in the day, (file, line) order as one int64: rank of its file among the
    day's files (sorted by URI) in the high bits, its line in the low 40."""
    files = pc.dictionary_encode(table.column("source_file")).combine_chunks()
    ranks = np.asarray([file_rank[f] for f in files.dictionary.to_pylist()], dtype=np.int64)
    rows = table.column("source_row").to_numpy(zero_copy_only=False).astype(np.int64)
    return (ranks[files.indices.to_numpy(zero_copy_only=False)] << 40) | rows


def _quarantine_rejects(run: Run, rejects: list[dict], name: str) -> str:
    """Write rejects to the run's quarantine: text kept for triage, but only redacted and cut."""
    from .pii import redact_batch

    redacted, _ = redact_batch([r.pop("text") for r in rejects])
    for r, t in zip(rejects, redacted, strict=True):
        # Enough text to triage; a multi-megabyte reject need not be copied whole.
        r["text_redacted"] = t if t is None or len(t) <= QUARANTINE_TEXT_CHARS else t[:QUARANTINE_TEXT_CHARS] + " [...]"
    uri = run.work("quarantine", name)
    run.lake.write_parquet(quarantine_rows(rejects, run.run_id), uri)
    return uri


class _ShardWriter:
    """Streams tables into shards of planned sizes (balanced over the day, see shard_sizes)."""

    def __init__(self, run: Run, folder: str, sizes: list[int]) -> None:
        self.run, self.folder, self.sizes = run, folder, list(sizes)
        self.parts: list[pa.Table] = []
        self.buffered = 0
        self.uris: list[str] = []

    def add(self, table: pa.Table) -> None:
        self.parts.append(table)
        self.buffered += table.num_rows
        while self.sizes and self.buffered >= self.sizes[0]:
            merged = pa.concat_tables(self.parts)
            size = self.sizes.pop(0)
            uri = self.run.work(self.folder, _shard_name(len(self.uris)))
            self.run.lake.write_parquet(merged.slice(0, size), uri)
            self.uris.append(uri)
            rest = merged.slice(size)
            self.parts, self.buffered = ([rest] if rest.num_rows else []), rest.num_rows


def validate(run: Run, ingested: list[IngestResult], shard_rows: int = DEFAULT_SHARD_ROWS) -> ValidateResult:
    """Validate the day: every batch with Great Expectations, then review_id uniqueness across
    the day and the re-sharding of the valid rows (nlp_tasks.validate_day).

    The DAG runs the same steps as tasks (one mapped validate_batch per batch, then
    finish_validate), so no task holds the day; this chains them in one process. Same
    verdicts as validating the concatenated day.
    """
    from . import validate_day

    batches = [validate_day.validate_batch(run, b) for b in validate_day.plan_batches(ingested)]
    return validate_day.finish_validate(run, ingested, batches, shard_rows)


# -- 4. redact --------------------------------------------------------------------------
def redact(run: Run, shard: str) -> ShardResult:
    """Replace PII in text and title; the raw text column does not survive this stage."""
    from .pii import ENTITY_TYPES, redact_batch

    t0 = time.perf_counter()
    table = run.lake.read_parquet(shard)
    text, text_counts = redact_batch(table.column("text").to_pylist())
    title, title_counts = redact_batch(table.column("title").to_pylist())
    # Most rows hold no PII: start from zeros and visit only the rows that do.
    per_type = {t: np.zeros(table.num_rows, dtype=np.int32) for t in ENTITY_TYPES}
    for counts in (text_counts, title_counts):
        for i, c in enumerate(counts):
            for t, k in c.items():
                per_type[t][i] += k
    total = sum(per_type.values(), np.zeros(table.num_rows, dtype=np.int32))
    out = table.drop_columns(["text", "title"])
    out = out.append_column("text_redacted", pa.array(text, pa.string()))
    out = out.append_column("title_redacted", pa.array(title, pa.string()))
    out = out.append_column("pii_entities", pa.array(total, pa.int32()))
    for t, column in per_type.items():
        out = out.append_column(f"pii_{t.lower()}", pa.array(column, pa.int32()))
    uri = run.work("redacted", posixpath.basename(shard))
    run.lake.write_parquet(out, uri)
    pii = {t: int(v.sum()) for t, v in per_type.items()}
    log.info(
        "redacted %s: %d rows, %d entities in %.2fs",
        posixpath.basename(shard),
        out.num_rows,
        sum(pii.values()),
        time.perf_counter() - t0,
    )
    return {"shard": uri, "rows": out.num_rows, "pii": pii, "seconds": round(time.perf_counter() - t0, 3)}


# -- 5. score ---------------------------------------------------------------------------
_ENGINES: dict = {}


def load_engine(model_dir: str, provider: str = "auto"):
    """One engine per worker process and model: mapped shards on one worker share it."""
    import os

    from .sentiment.engine import CPU_RUNTIME_ENV, SentimentEngine

    key = (model_dir, provider, os.environ.get(CPU_RUNTIME_ENV, ""))
    if key not in _ENGINES:
        _ENGINES[key] = SentimentEngine(model_dir, provider=provider)
    return _ENGINES[key]


def _open_score_cache(run: Run, model_dir: str, provider: str, cache_days: int):
    """(choice, metadata, cache or None); the cache only for batch-invariant engines."""
    from .sentiment.engine import batch_invariant, plan, runtime_key
    from .sentiment.score_cache import ScoreCache

    choice, meta = plan(model_dir, provider)
    if cache_days <= 0:
        return choice, meta, None
    if not batch_invariant(choice):
        log.info(
            "score cache off: %s %s scores depend on their batch, a cached score could differ from a cold run's",
            choice.provider,
            choice.variant,
        )
        return choice, meta, None
    classes = tuple(meta.get("labels", ("negative", "positive")))
    return (
        choice,
        meta,
        ScoreCache(run.lake, meta.get("version", "unknown"), runtime_key(choice), classes, retention_days=cache_days),
    )


def score(
    run: Run,
    shard: str,
    model_dir: str,
    provider: str = "auto",
    neutral_band: tuple[float, float] = (0.4, 0.6),
    cache_days: int = 0,
) -> ShardResult:
    """Score title + text (both redacted) of every row: P(positive), P(negative), P(neutral), label.

    A 3-class model labels by its own calibrated rule and the neutral band is ignored; a binary
    model (an imported checkpoint) has no P(neutral) (null) and the band makes its neutral label.
    ``cache_days`` > 0: texts scored on an earlier night (by the same model and runtime) come from
    the score cache (sentiment.score_cache), bit-identical, and the model scores only the rest;
    a cache that cannot be read or written is logged and the night goes on without it.
    """
    from .sentiment import DEFAULT_NEUTRAL_BAND, labels_from_proba, uses_neutral_band
    from .sentiment.datasets import review_input

    t0 = time.perf_counter()
    table = run.lake.read_parquet(shard)
    titles = table.column("title_redacted").to_pylist()
    texts = [review_input(ti, te) for ti, te in zip(titles, table.column("text_redacted").to_pylist(), strict=True)]
    cache = keys = None
    try:
        choice, meta, cache = _open_score_cache(run, model_dir, provider, cache_days)
        if cache is not None:
            from .sentiment.score_cache import text_key

            keys = [text_key(t) for t in texts]
            found, probs = cache.lookup(keys)
    except Exception as exc:  # noqa: BLE001 - the cache must never fail a night
        log.warning("score cache unreadable (%s): scoring every row", exc)
        cache = None
    if cache is None:
        engine = load_engine(model_dir, provider)
        choice, meta = engine.choice, engine.metadata
        probs, found = engine.predict_proba(texts), np.zeros(len(texts), dtype=bool)
    elif not found.all():
        engine = load_engine(model_dir, provider)
        miss = np.flatnonzero(~found)
        probs[miss] = engine.predict_proba([texts[i] for i in miss])
    hits = int(found.sum())
    if cache is not None:
        try:
            cache.add(run.day, keys, probs)
            cache.compact()
        except Exception as exc:  # noqa: BLE001
            log.warning("score cache not updated (%s): the night's scores are unaffected", exc)
    version = meta.get("version", "unknown")
    classes = tuple(meta.get("labels", ("negative", "positive")))
    decision = meta.get("decision")
    if uses_neutral_band(classes):
        p_neutral = pa.nulls(len(texts), pa.float32())
    else:
        if tuple(neutral_band) != DEFAULT_NEUTRAL_BAND:
            log.info("model %s has its own neutral class: neutral_low/high %s are ignored", version, neutral_band)
        p_neutral = pa.array(probs[:, classes.index("neutral")], pa.float32())
    labels = labels_from_proba(probs, classes, decision, neutral_band)
    n = table.num_rows
    out = (
        table.append_column("score", pa.array(probs[:, classes.index("positive")], pa.float32()))
        .append_column("p_negative", pa.array(probs[:, classes.index("negative")], pa.float32()))
        .append_column("p_neutral", p_neutral)
        .append_column("label", pa.array(labels, pa.string()))
        .append_column("model_version", pa.array([version] * n, pa.string()))
        .append_column("provider", pa.array([choice.provider] * n, pa.string()))
        .append_column("run_id", pa.array([run.run_id] * n, pa.string()))
    )
    uri = run.work("scored", posixpath.basename(shard))
    run.lake.write_parquet(out, uri)
    secs = time.perf_counter() - t0
    log.info(
        "scored %s: %d rows in %.2fs (%.0f rows/s) with %s on %s (%s); score cache: %s",
        posixpath.basename(shard),
        n,
        secs,
        n / max(secs, 1e-9),
        version,
        choice.provider,
        choice.variant,
        f"{hits} of {n} rows" if cache is not None else "off",
    )
    result: ShardResult = {
        "shard": uri,
        "rows": n,
        "model_version": version,
        "provider": choice.provider,
        "seconds": round(secs, 3),
    }
    if cache is not None:
        result["cache_hits"] = hits
    return result


# -- 6. drift ---------------------------------------------------------------------------
def reference_days(run: Run, window: int = 7) -> list[str]:
    """Reported days strictly before this one, newest `window` of them within `window` days.

    Only days before ``run.day`` count, so a backfill of an old date compares with the window
    as it was for that date, never with days reported after it.
    """
    from . import drift as D

    return D.window_days(run.lake, run.day, window)


def drift(
    run: Run,
    scored: list[str],
    threshold: float = 0.1,
    alpha: float = 0.05,
    window: int = 7,
    *,
    tokenizer: str | None = None,
    baseline_date: str | None = None,
    use_baseline: bool = True,
    max_sample: int = 50_000,
) -> DriftResult:
    """Compare today's scored rows with the rolling window and (if any) the fixed baseline.

    ``tokenizer``: the model folder (or its tokenizer.json) for the [UNK]-share feature.
    ``baseline_date``: use that day's published report as the baseline instead of the one
    published under ``reference/baseline/`` (``set-baseline``). Nothing of the text leaves here.

    Memory is bounded by ``max_sample`` and one batch, not by the day: every side is a hash
    sample (``drift.HashSample``) read a shard or row group at a time. The sample depends on the
    rows alone, not on the shards, so settling the published day (drift.settle) gives the same
    rows bit for bit.
    """
    from . import drift as D

    t0 = time.perf_counter()
    cfg = D.DriftConfig(threshold=threshold, alpha=alpha, max_sample=max_sample)
    today = D.today_sample(cfg).add_files(run.lake, scored)
    n_today, today_feats = today.rows, D.features_of(today, tokenizer)
    del today  # one side's sample held at a time

    rolling_name = f"rolling_{window}d"
    rolling_feats, days = D.rolling_reference(run.lake, run.day, cfg, tokenizer, window)
    references: dict = {rolling_name: rolling_feats}
    ref_days = {rolling_name: days}

    baseline = None  # (objects, metadata)
    if baseline_date:
        files = D.report_day_files(run.lake, baseline_date)
        baseline = (files, {"dt": baseline_date}) if files else None
        if baseline is None:
            log.warning("baseline_date %s has no complete report partition: baseline skipped", baseline_date)
    elif use_baseline:
        baseline = D.baseline_files(run.lake)
    if baseline is not None and baseline[1].get("dt") != run.day:
        references["baseline"] = D.features_of(D.baseline_sample(cfg).add_files(run.lake, baseline[0]), tokenizer)
        ref_days["baseline"] = [baseline[1].get("dt", "")]

    rows = D.drift_rows(today_feats or {}, references, cfg)
    for r in rows:
        r["reference_days"] = ",".join(ref_days[r["reference"]])
        r["run_id"] = run.run_id
    uri = run.work("drift", layout.SINGLE_FILE)
    run.lake.write_parquet(pa.Table.from_pylist(rows, schema=DRIFT), uri)
    verdict = D.day_verdict(rows)
    by_ref = {
        name: [r["feature"] for r in rows if r["reference"] == name and r["verdict"] == "drift"] for name in references
    }
    drifted = sorted({f for fs in by_ref.values() for f in fs}, key=D.FEATURES.index)
    log.info("drift against %s: %s %s", {k: ",".join(v) or "-" for k, v in ref_days.items()}, verdict, by_ref)
    return {
        "uri": uri,
        "verdict": verdict,
        "drifted": drifted,
        "drifted_by_reference": by_ref,
        "reference_days": days,
        "baseline_date": ref_days.get("baseline", [None])[0],
        "threshold": threshold,
        "alpha": alpha,
        "rows": n_today,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def settle_drift(run: Run) -> list[dict]:
    """drift.settle for the day just published, each day's tokenizer fetched (alone, without
    the model files) from the model version that scored it."""
    import functools

    from . import drift as D
    from .sentiment import registry

    t0 = time.perf_counter()

    @functools.cache
    def tokenizer_for(version: str) -> str:
        return str(registry.fetch_tokenizer(run.lake, version))

    settled = D.settle(run.lake, run.day, tokenizer_for)
    updated = [s["dt"] for s in settled if s["changed"]]
    log.info(
        "drift settled for %s in %.2fs; updated: %s",
        ",".join(s["dt"] for s in settled),
        time.perf_counter() - t0,
        ",".join(updated) or "none",
    )
    return settled
