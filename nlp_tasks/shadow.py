"""Shadow scoring: the challenger model scores the same shards as the champion, out of sight.

Its output goes to the run's scratch space and into ``reports/model_comparison/dt=D/`` only:
never into the sentiment report, the summary or the drift checks. Every function here turns a
failure into a recorded status instead of an exception, because a broken challenger must
never cost a night.
"""

from __future__ import annotations

import logging
import posixpath
import time

import pyarrow as pa

from . import layout, model_comparison, partitions
from .pipeline import Run, load_engine
from .results import ShardResult

log = logging.getLogger(__name__)

NONE = "none"


def _why(exc: BaseException) -> str:
    # The exception type only: a message may quote a path or, from a tokenizer, review text.
    return type(exc).__name__


def resolve_challenger(lake, ref: str | None, champion: str) -> dict:
    """The run's challenger: ``{"version": V or None, "error": None or why, "ref": ref}``.

    ``challenger`` (the default) is the registry alias and may be unset; ``none`` switches
    shadow scoring off; anything else is a version or alias that must exist. A challenger that
    is the champion is not a comparison and is skipped.
    """
    from .sentiment import registry

    ref = (ref or registry.CHALLENGER).strip()
    if ref.lower() == NONE:
        return {"version": None, "error": None, "ref": ref}
    try:
        if ref == registry.CHALLENGER and not registry.aliases(lake).get(registry.CHALLENGER):
            return {"version": None, "error": None, "ref": ref}
        version = registry.resolve(lake, ref)
    except Exception as e:
        log.warning("challenger %s could not be resolved (%s): no shadow scoring tonight", ref, _why(e))
        return {"version": None, "error": f"missing: {_why(e)}", "ref": ref}
    if version == champion:
        log.info("challenger %s is the champion: nothing to compare", version)
        return {"version": None, "error": None, "ref": ref}
    return {"version": version, "error": None, "ref": ref}


def shadow_score(
    run: Run, shard: str, model_version: str, provider: str, neutral_band: tuple[float, float], fraction: float
) -> ShardResult:
    """Score the sampled rows of one redacted shard with the challenger; never raises."""
    from .sentiment import labels_from_proba, registry
    from .sentiment.datasets import review_input

    t0 = time.perf_counter()
    name = posixpath.basename(shard)
    try:
        model_dir = registry.fetch(run.lake, model_version)
        engine = load_engine(str(model_dir), provider)
        table = run.lake.read_parquet(shard, columns=["review_id", "title_redacted", "text_redacted"])
        keep = model_comparison.sample_mask(table.column("review_id").to_pylist(), fraction)
        table = table.filter(pa.array(keep))
        texts = [
            review_input(a, b)
            for a, b in zip(
                table.column("title_redacted").to_pylist(), table.column("text_redacted").to_pylist(), strict=True
            )
        ]
        probs = engine.predict_proba(texts)
        classes = engine.classes_
        out = pa.table(
            {
                "review_id": table.column("review_id"),
                "label": pa.array(labels_from_proba(probs, classes, engine.decision, neutral_band), pa.string()),
                "score": pa.array(probs[:, classes.index("positive")], pa.float32()),
                "p_negative": pa.array(probs[:, classes.index("negative")], pa.float32()),
            }
        )
        uri = run.work("shadow", name)
        run.lake.write_parquet(out, uri)
    except Exception as e:
        log.warning(
            "challenger %s failed on %s (%s): recorded as missing, the night goes on", model_version, name, _why(e)
        )
        return {
            "shard": name,
            "uri": None,
            "rows": 0,
            "error": _why(e),
            "model_version": model_version,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    secs = time.perf_counter() - t0
    log.info("shadow-scored %s: %d of %d rows with %s in %.2fs", name, out.num_rows, len(keep), model_version, secs)
    return {
        "shard": name,
        "uri": uri,
        "rows": out.num_rows,
        "classes": list(classes),
        "model_version": model_version,
        "provider": engine.choice.provider,
        "error": None,
        "seconds": round(secs, 3),
    }


def compare(
    run: Run, champion: str, challenger: dict, scored: list[dict], shadowed: list[dict], fraction: float
) -> dict:
    """Write (or, with no challenger tonight, remove) the day's ``reports/model_comparison``.

    Reads one shard of each model at a time, so memory follows the shard size. Never raises:
    the champion's reports do not wait on this.
    """
    prefix = layout.report("model_comparison", run.day)
    lake = run.lake
    version = challenger.get("version")
    if not version and not challenger.get("error"):
        # A rerun without a challenger replaces the day completely: no stale comparison.
        lake.delete_prefix(lake.uri(prefix))
        return {"status": "none", "challenger": None}
    # What the shadow tasks cost goes to the run summary (it prices them like score).
    tasks = [
        {k: s.get(k) for k in ("rows", "seconds", "model_version", "provider", "peak_rss_mb") if s.get(k) is not None}
        for s in shadowed
    ]
    try:
        return {**_compare(run, prefix, champion, challenger, scored, shadowed, fraction), "shadow_tasks": tasks}
    except Exception as e:
        log.warning("model comparison for %s not written (%s)", run.day, _why(e))
        return {"status": f"failed: {_why(e)}", "challenger": version, "shadow_tasks": tasks}


def _compare(
    run: Run, prefix: str, champion: str, challenger: dict, scored: list[dict], shadowed: list[dict], fraction: float
) -> dict:
    from .sentiment import registry

    lake = run.lake
    versions = {"champion": champion, "challenger": challenger.get("version") or challenger.get("ref")}
    by_name = {posixpath.basename(s["shard"]): s["shard"] for s in scored}
    good = [s for s in shadowed if s.get("uri") and s["shard"] in by_name]
    failed = [s for s in shadowed if not s.get("uri")]
    counts = None
    for s in good:
        champ = lake.read_parquet(
            by_name[s["shard"]], columns=["review_id", "product_id", "rating", "label", "score", "p_negative"]
        )
        chal = lake.read_parquet(s["uri"], columns=["review_id", "label", "score", "p_negative"])
        counts = model_comparison.add_counts(counts, model_comparison.shard_counts(champ.to_pandas(), chal.to_pandas()))
    if challenger.get("error"):
        status = challenger["error"]
    elif not shadowed and not scored:
        status = "ok"  # a day with no input: nothing to compare, and nothing failed
    elif not good:
        why = sorted({s.get("error") or "no output" for s in failed}) or ["no shards"]
        status = f"missing: {', '.join(why)}"
    elif failed:
        errors = ", ".join(sorted({s["error"] for s in failed}))
        status = f"partial: {len(good)} of {len(good) + len(failed)} shards ({errors})"
    else:
        status = "ok"
    classes = next((tuple(s["classes"]) for s in good if s.get("classes")), ())
    on = model_comparison.compared_on(registry.classes_of(lake, champion), classes) if good else None
    table = model_comparison.build_table(counts if good else None, versions, on, status, fraction, run.run_id)
    partitions.write(lake, lake.uri(prefix), table, run.run_id)
    overall = [r for r in table.to_pylist() if r["scope"] == "overall"]
    brief = {
        r["role"]: {k: r[k] for k in ("model_version", "rows", "accuracy_binary", "accuracy_3class")} for r in overall
    }
    log.info("model comparison %s: %s, %s", run.day, status, brief)
    return {
        "status": status,
        "challenger": versions["challenger"],
        "uri": lake.uri(prefix),
        "rows": int(overall[0]["rows"] or 0) if overall else 0,
        "mcnemar_p": overall[0].get("mcnemar_p") if overall else None,
        "agreement": overall[0].get("agreement") if overall else None,
    }
