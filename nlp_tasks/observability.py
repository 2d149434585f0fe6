"""Per-stage metrics, log context and the run's cost summary.

Each stage function returns its counts and ``seconds`` (time spent inside the stage). This
module turns those into

* metrics sent through any StatsD-style client (``incr``/``gauge``/``timing``, ``tags=``):
  in a task that is Airflow's ``Stats``, so they go wherever the deployment's ``[metrics]``
  section sends Airflow's own metrics (StatsD, Datadog or OpenTelemetry) and nowhere when
  metrics are off;
* a log context (run_id, dt, stage, shard) bound for the duration of a stage, so every log
  line the stage writes carries it: Airflow's task logger merges structlog's context
  variables into each record, and :class:`ContextFilter` does the same for plain logging;
* the run summary: rows, task seconds, rows/s and errors per stage, and what the night cost
  from a price per worker-hour, as a whole and per 1,000 reviews.

Nothing here sees row data, so nothing here can leak text.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from .schema import RUN_SUMMARY

PREFIX = "nlp_tasks"
STAGES = ("ingest", "validate", "redact", "score", "shadow_score", "drift", "publish")

# The log context when structlog is not there (plain CLI use); structlog's own context
# variables are used as well when it is, because that is what Airflow's task logs read.
# No mutable default (one dict would be shared by every context): an unset variable reads as {}.
_CONTEXT: contextvars.ContextVar[dict | None] = contextvars.ContextVar("nlp_tasks_log_context", default=None)


@contextlib.contextmanager
def log_context(**fields) -> Iterator[dict]:
    """Bind ``fields`` (run_id, dt, stage, shard...) to every log line written inside."""
    fields = {k: v for k, v in fields.items() if v is not None}
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    sl_tokens = None
    try:
        import structlog

        sl_tokens = structlog.contextvars.bind_contextvars(**fields)
    except ImportError:
        pass
    try:
        yield _CONTEXT.get() or {}
    finally:
        if sl_tokens is not None:
            import structlog

            structlog.contextvars.reset_contextvars(**sl_tokens)
        _CONTEXT.reset(token)


def current_context() -> dict:
    return dict(_CONTEXT.get() or {})


class ContextFilter(logging.Filter):
    """Adds the bound context to each record: as attributes (for format strings such as
    ``%(run_id)s``) and as a ``[k=v ...]`` suffix appended to the message when ``suffix``."""

    def __init__(self, suffix: bool = False):
        super().__init__()
        self.suffix = suffix

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _CONTEXT.get() or {}
        for k, v in ctx.items():
            setattr(record, k, v)
        if self.suffix and ctx:
            record.msg = f"{record.msg} [{' '.join(f'{k}={v}' for k, v in ctx.items())}]"
        return True


# -- metrics ----------------------------------------------------------------------------
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def metric_segment(value: str) -> str:
    """A value usable as one segment of a StatsD name (dots would add levels)."""
    return _NAME_UNSAFE.sub("_", str(value))[:80] or "none"


def stage_metrics(stage: str, result: Mapping[str, Any]) -> dict:
    """The numbers a stage reports, from the dict it returned to XCom."""
    rows = int(result["rows"])  # every stage result has it (nlp_tasks.results)
    seconds = float(result.get("seconds", 0.0))
    errors = int(result.get("rejected", 0) or 0)  # rows this stage itself quarantined
    out = {
        "stage": stage,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds, 1) if seconds > 0 else None,
        "errors": errors,
    }
    if result.get("pii"):
        out["pii"] = {k: int(v) for k, v in result["pii"].items()}
    for key in ("model_version", "provider"):
        if result.get(key):
            out[key] = result[key]
    if result.get("peak_rss_mb") is not None:
        out["peak_rss_mb"] = float(result["peak_rss_mb"])
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory so far. An Airflow worker runs each task in a
    process of its own, so at the end of a task it is that task's peak."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def emit(stats, stage: str, result: dict, tags: dict | None = None) -> dict:
    """Send a stage's metrics through ``stats`` (Airflow's Stats or any StatsD-like client).

    Counters (rows, errors, PII per type) add up over mapped tasks; ``seconds`` is a timer
    (per task); ``rows_per_second`` a gauge. Model version and provider are tags and, for
    plain StatsD (which drops tags), also segments of ``nlp_tasks.score.model.<v>.<provider>``.
    """
    m = stage_metrics(stage, result)
    base = f"{PREFIX}.{stage}"
    tags = {k: metric_segment(v) for k, v in {"stage": stage, **(tags or {})}.items() if v is not None}
    for key in ("model_version", "provider"):
        if key in m:
            tags[key] = metric_segment(m[key])
    stats.incr(f"{base}.rows", m["rows"], tags=tags)
    stats.incr(f"{base}.errors", m["errors"], tags=tags)
    stats.timing(f"{base}.seconds", m["seconds"] * 1000.0, tags=tags)
    if m["rows_per_second"] is not None:
        stats.gauge(f"{base}.rows_per_second", m["rows_per_second"], tags=tags)
    if "peak_rss_mb" in m:
        stats.gauge(f"{base}.peak_rss_mb", m["peak_rss_mb"], tags=tags)
    for entity, n in m.get("pii", {}).items():
        stats.incr(f"{PREFIX}.pii.{metric_segment(entity.lower())}", n, tags=tags)
    if "model_version" in m:
        stats.incr(
            f"{base}.model.{metric_segment(m['model_version'])}.{metric_segment(m.get('provider', 'none'))}",
            1,
            tags=tags,
        )
    return m


def emit_run(stats, summary: dict, tags: dict | None = None) -> None:
    """Run-level metrics from publish's summary (counts, cost, drift)."""
    tags = {k: metric_segment(v) for k, v in (tags or {}).items() if v is not None}
    for key in ("rows_in", "rows_reported", "rows_quarantined", "pii_entities"):
        stats.gauge(f"{PREFIX}.run.{key}", summary.get(key, 0), tags=tags)
    cost = summary.get("run_summary") or {}
    if cost.get("task_seconds") is not None:
        stats.gauge(f"{PREFIX}.run.task_seconds", cost["task_seconds"], tags=tags)
    if cost.get("cost_per_1000_reviews") is not None:
        stats.gauge(f"{PREFIX}.run.cost_per_1000_reviews", cost["cost_per_1000_reviews"], tags=tags)
    stats.gauge(f"{PREFIX}.run.drift", 1 if summary.get("drift_verdict") == "drift" else 0, tags=tags)


# -- run summary --------------------------------------------------------------------------


def run_summary(
    stage_results: Mapping[str, Sequence[Mapping[str, Any]]],
    rows_in: int,
    run_id: str,
    price_per_hour: float,
    inference_price_per_hour: float | None = None,
) -> tuple[pa.Table, dict]:
    """Rows, seconds, throughput, errors and cost per stage and for the whole run.

    ``stage_results``: stage -> the dicts its task(s) returned. ``inference_price_per_hour``
    prices the score stage (a GPU worker costs more per hour); default ``price_per_hour``.
    """
    rows = []
    for stage in STAGES:
        results = stage_results.get(stage) or []
        ms = [stage_metrics(stage, r) for r in results]
        seconds = sum(m["seconds"] for m in ms)
        n = sum(m["rows"] for m in ms)
        # The challenger's shadow scoring runs on the same inference slots as score.
        on_inference = stage in ("score", "shadow_score")
        price = inference_price_per_hour if on_inference and inference_price_per_hour is not None else price_per_hour
        versions = sorted({m["model_version"] for m in ms if "model_version" in m})
        peaks = [m["peak_rss_mb"] for m in ms if "peak_rss_mb" in m]
        providers = sorted({m["provider"] for m in ms if "provider" in m})
        rows.append(
            {
                "stage": stage,
                "tasks": len(ms),
                "rows": n,
                "task_seconds": round(seconds, 3),
                "rows_per_second": round(n / seconds, 1) if seconds > 0 else None,
                "errors": sum(m["errors"] for m in ms),
                "peak_rss_mb": max(peaks) if peaks else None,
                "price_per_hour": price,
                "cost": seconds / 3600.0 * price,
                "model_version": ",".join(versions) or None,
                "provider": ",".join(providers) or None,
            }
        )
    total_seconds = sum(r["task_seconds"] for r in rows)
    total_cost = sum(r["cost"] for r in rows)
    rows.append(
        {
            "stage": "total",
            "tasks": sum(r["tasks"] for r in rows),
            "rows": rows_in,
            "task_seconds": round(total_seconds, 3),
            "rows_per_second": round(rows_in / total_seconds, 1) if total_seconds > 0 else None,
            "errors": sum(r["errors"] for r in rows),
            "peak_rss_mb": max((r["peak_rss_mb"] for r in rows if r["peak_rss_mb"] is not None), default=None),
            "price_per_hour": None,
            "cost": total_cost,
            "model_version": next((r["model_version"] for r in rows if r["stage"] == "score"), None),
            "provider": next((r["provider"] for r in rows if r["stage"] == "score"), None),
        }
    )
    for r in rows:
        r["cost_per_1000_reviews"] = r["cost"] / rows_in * 1000.0 if rows_in else None
        r["run_id"] = run_id
    table = pa.Table.from_pylist(rows, schema=RUN_SUMMARY)
    total = rows[-1]
    brief = {
        "task_seconds": total["task_seconds"],
        "cost": round(total_cost, 6),
        "cost_per_1000_reviews": round(total["cost_per_1000_reviews"], 6) if rows_in else None,
        "price_per_hour": price_per_hour,
        "inference_price_per_hour": inference_price_per_hour
        if inference_price_per_hour is not None
        else price_per_hour,
        "inference_share": round(next(r["task_seconds"] for r in rows if r["stage"] == "score") / total_seconds, 4)
        if total_seconds
        else None,
        "stages": {
            r["stage"]: {
                "rows": r["rows"],
                "task_seconds": r["task_seconds"],
                "rows_per_second": r["rows_per_second"],
                "errors": r["errors"],
                "peak_rss_mb": r["peak_rss_mb"],
            }
            for r in rows[:-1]
        },
    }
    return table, brief
