"""Whole-night benchmark: N generated reviews through the real DAG, per-stage cost.

    python bench/nightly.py 100000 [--scales 1,10,100] [--shard-rows 20000]

For each of N, N/10 and N/100 it writes a realistic raw day (JSONL, CSV, Parquet reviews of
mixed lengths with some PII and a few bad rows, plus PDFs) to a fresh local lake, runs
`airflow dags test review_sentiment_nightly` for it (a real Airflow run with its own
SQLite metadata DB), then reads the task instances' start/end times from that DB and the
run's reports/run_summary, and prints per stage: wall seconds (first start to last end), busy
task-seconds (Airflow's per-task work included), rows/s over busy time, seconds inside the
stage itself, and peak RSS at the end of the stage's tasks; the share of the run spent
outside model inference (1 - score's in-stage seconds / the whole `airflow dags test`
process, start-up included); and busy seconds per 1,000 rows at each N, to show growth.
`dags test` runs every task in one process, so a stage's peak RSS there is the process's
peak so far: an upper bound on that task's own (on a worker each task has a process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY = "2026-06-01"
STAGES = [
    "discover",
    "resolve_model",
    "ingest",
    "validate_plan",
    "validate_batch",
    "validate",
    "shards_of",
    "redact",
    "score",
    "drift",
    "publish",
]


def airflow_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NLP_TASKS_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        GX_ANALYTICS_ENABLED="false",
        HF_HUB_OFFLINE="1",
        NLP_TASKS_MODEL_DIR=os.environ.get("NLP_TASKS_MODEL_DIR", str(REPO / "build" / "model")),
        NLP_TASKS_CACHE=str(home / "cache"),
    )
    return env


def task_times(db: Path) -> list[tuple[str, int, float, float]]:
    con = sqlite3.connect(db)
    rows = con.execute(
        "select task_id, map_index, start_date, end_date from task_instance where start_date is not null"
    ).fetchall()
    con.close()
    parse = lambda s: dt.datetime.fromisoformat(str(s)).timestamp()  # noqa: E731
    return [(t, m, parse(s), parse(e)) for t, m, s, e in rows if e is not None]


def one_night(n: int, shard_rows: int, workdir: Path) -> dict:
    from nlp_tasks import layout, partitions
    from nlp_tasks.sample_data import write_day
    from nlp_tasks.storage import Lake

    lake = Lake(str(workdir / "lake"))
    seed = write_day(lake, DAY, n_reviews=n)
    home = workdir / "airflow"
    home.mkdir()
    env = {**airflow_env(home), "NLP_TASKS_ALLOWED_ROOTS": lake.root}  # the bench lake is not the default root
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    # The generator writes a fixed handful of bad rows; at small N they exceed the default 5%.
    conf = json.dumps({"data_root": lake.root, "shard_rows": shard_rows, "max_invalid_fraction": 0.5})
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", BODY, airflow, DAY, conf], env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"DAG run failed for N={n}:\n" + "\n".join((proc.stdout + proc.stderr).splitlines()[-30:]))
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    times = task_times(home / "airflow.db")
    manifest = json.loads(lake.read_text(lake.uri(layout.manifest(DAY))))
    # What each stage measured inside itself (seconds in the stage, its tasks' peak RSS).
    inside = {
        r["stage"]: r for r in partitions.read(lake, lake.uri(layout.report(layout.RUN_SUMMARY, DAY))).to_pylist()
    }
    stages = {}
    for stage in STAGES:
        mine = [x for x in times if x[0] == stage]
        if not mine:
            continue
        busy = sum(e - s for _, _, s, e in mine)
        span = max(e for *_, e in mine) - min(s for _, _, s, _ in mine)
        own = inside.get(stage, {})
        stages[stage] = {
            "tasks": len(mine),
            "wall_s": round(span, 2),
            "busy_s": round(busy, 2),  # task instances' start..end, Airflow's per-task work included
            "rows_per_s": round(manifest["rows_in"] / busy, 0) if busy else None,
            "in_stage_s": own.get("task_seconds"),  # time inside the stage function only
            "peak_rss_mb": own.get("peak_rss_mb"),
        }
    run_span = max(e for *_, e in times) - min(s for _, _, s, _ in times)
    inference = inside.get("score", {}).get("task_seconds") or 0.0
    return {
        "n_reviews": n,
        "rows_in": manifest["rows_in"],
        "rows_reported": manifest["rows_reported"],
        "rows_quarantined": manifest["rows_quarantined"],
        "process_wall_s": round(wall, 1),
        "dag_run_span_s": round(run_span, 1),
        "inference_s": round(inference, 1),
        # Everything that is not the score stage's own work, Airflow's overhead included.
        "share_outside_inference": round(1 - inference / wall, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "stages": stages,
        "records_expected": seed["records"],
    }


# Runs `airflow dags test` in a child so its peak RSS (every task runs in it) can be read.
BODY = """
import resource, subprocess, sys
airflow, day, conf = sys.argv[1:4]
cmd = [airflow, "dags", "test", "review_sentiment_nightly", day, "-c", conf]
p = subprocess.run(cmd, capture_output=True, text=True)
sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
if p.returncode:
    sys.exit(p.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def backfill(n: int, days: int, workdir: Path, model_dir: str) -> dict:
    """The score cache (issue 22), on the score stage itself: ``days`` days of ``n`` reviews
    scored once, then re-scored as a backfill; then a day whose texts are 30% seen before,
    scored without and with the cache. The engine is loaded before the timings (a DAG task
    whose shard is fully cached does not load it at all). Reported values are compared bit
    for bit with the first run's. The cache serves batch-invariant engines only, so the CPU
    runtime is OpenVINO (BF16 on AMX, else static INT8) unless NLP_TASKS_CPU_RUNTIME says otherwise."""
    import random

    import pyarrow as pa

    from bench.inference import cpu_model, make_texts
    from nlp_tasks.layout import SINGLE_FILE
    from nlp_tasks.pipeline import Run, load_engine, score
    from nlp_tasks.storage import Lake

    os.environ.setdefault("NLP_TASKS_CPU_RUNTIME", "openvino")
    lake = Lake(str(workdir / "lake"))
    cols = ["score", "p_negative", "p_neutral", "label", "model_version", "provider"]

    def shard(day: str, run_id: str, texts: list[str]):
        run = Run(lake, day, run_id)
        uri = run.work("redacted", SINGLE_FILE)
        lake.write_parquet(
            pa.table(
                {
                    "review_id": [str(i) for i in range(len(texts))],
                    "title_redacted": pa.nulls(len(texts), pa.string()),
                    "text_redacted": texts,
                }
            ),
            uri,
        )
        return run, uri

    engine = load_engine(model_dir, "auto")
    engine.predict_proba(["warm-up"])
    day_texts = [[f"{t} (day {d})" for t in make_texts(n, seed=100 + d)] for d in range(days)]
    first, again, identical, hits = [], [], True, 0
    for d, texts in enumerate(day_texts):
        run, uri = shard(f"2026-07-{d + 1:02d}", "first", texts)
        r = score(run, uri, model_dir, cache_days=30)
        first.append((r["seconds"], lake.read_parquet(r["shard"]).select(cols)))
    for d, texts in enumerate(day_texts):
        run, uri = shard(f"2026-07-{d + 1:02d}", "backfill", texts)
        r = score(run, uri, model_dir, cache_days=30)
        again.append(r["seconds"])
        hits += r.get("cache_hits", 0)
        identical &= lake.read_parquet(r["shard"]).select(cols).equals(first[d][1])
    rng = random.Random(5)
    seen = [t for texts in day_texts for t in texts]
    mixed = rng.sample(seen, int(0.3 * n)) + [f"{t} (day new)" for t in make_texts(n - int(0.3 * n), seed=999)]
    rng.shuffle(mixed)
    run, uri = shard("2026-07-20", "nocache", mixed)
    cold = score(run, uri, model_dir, cache_days=0)
    run, uri = shard("2026-07-20", "cache", mixed)
    warm = score(run, uri, model_dir, cache_days=30)
    first_s = sum(x for x, _ in first)
    return {
        "reviews_per_day": n,
        "days": days,
        "provider": cold["provider"],
        "variant": engine.choice.variant,
        "cpu": cpu_model(),
        "first_inference_s": round(first_s, 2),
        "backfill_s": round(sum(again), 2),
        "backfill_share_of_first": round(sum(again) / first_s, 3),
        "backfill_cache_hits": f"{hits} of {n * days}",
        "backfill_bit_identical": bool(identical),
        "day_30pct_seen": {
            "without_cache_s": cold["seconds"],
            "with_cache_s": warm["seconds"],
            "saved": round(1 - warm["seconds"] / cold["seconds"], 3),
            "cache_hits": warm.get("cache_hits"),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument(
        "--backfill",
        type=int,
        metavar="DAYS",
        default=0,
        help="measure the score cache instead: DAYS days of N reviews scored, then backfilled (see backfill())",
    )
    ap.add_argument("--scales", default="100,10,1", help="divisors of N to run, in order")
    ap.add_argument("--shard-rows", type=int, default=20000, help="the DAG's default")
    args = ap.parse_args()
    if args.backfill:
        with tempfile.TemporaryDirectory(prefix="backfill-") as tmp:
            r = backfill(
                args.n, args.backfill, Path(tmp), os.environ.get("NLP_TASKS_MODEL_DIR", str(REPO / "build" / "model"))
            )
        print(json.dumps(r, indent=2))
        return
    results = []
    for div in [int(x) for x in args.scales.split(",")]:
        n = max(1, args.n // div)
        with tempfile.TemporaryDirectory(prefix=f"nightly-{n}-") as tmp:
            r = one_night(n, args.shard_rows, Path(tmp))
        results.append(r)
        print(
            f"\nN={n}: {r['rows_in']} rows in, {r['process_wall_s']} s wall, inference {r['inference_s']} s, "
            f"outside inference {r['share_outside_inference']:.0%}, peak RSS {r['peak_rss_mb']} MB",
            flush=True,
        )
        print(
            f"  {'stage':<14}{'tasks':>6}{'wall s':>9}{'busy s':>9}{'rows/s':>10}{'in-stage s':>12}{'peak RSS MB':>13}"
        )
        for stage, st in r["stages"].items():
            print(
                f"  {stage:<14}{st['tasks']:>6}{st['wall_s']:>9}{st['busy_s']:>9}{st['rows_per_s'] or '-':>10}"
                f"{st['in_stage_s'] if st['in_stage_s'] is not None else '-':>12}{st['peak_rss_mb'] or '-':>13}"
            )
    # Linear growth: busy seconds per 1,000 rows at each N (flat = linear cost).
    print("\nbusy seconds per 1,000 rows in")
    print(f"  {'stage':<14}" + "".join(f"{'N=' + str(r['rows_in']):>12}" for r in results))
    for stage in STAGES:
        if all(stage in r["stages"] for r in results):
            print(
                f"  {stage:<14}"
                + "".join(f"{r['stages'][stage]['busy_s'] / r['rows_in'] * 1000:>12.3f}" for r in results)
            )
    print("\n" + json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
