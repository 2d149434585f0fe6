"""Peak memory and seconds of the nightly's stages, each in its own process, as a day grows.

    python bench/stage_memory.py 100000 1000000 [--stages ingest,validate,drift] [--gzip] [--workdir DIR]

For each N: one day of N generated reviews written as ONE raw JSONL object (the worst case
for a stage that holds an object: the whole day in it; ``--gzip`` writes it as .jsonl.gz) to
a fresh local lake; then each stage runs in a fresh Python process (as on an Airflow worker,
where every task is its own process) on the previous stage's output, and the table prints
its wall seconds and peak RSS (ru_maxrss of that process). The stages are the library's own
functions (nlp_tasks.pipeline), called the way the DAG's tasks call them.

``drift`` needs scored shards and published days to compare with. No model runs: the
validated shards get made-up scores (deterministic random numbers, labels from them) and their
text as the redacted text, and ``--reference-days`` days before the day are published from the
same rows under other review_ids, each as one Parquet object (as publish writes a partition);
the first of them is also the run's ``baseline_date``. The preparation is not measured; drift
then runs with the built model's tokenizer (``--tokenizer``) for the [UNK]-share feature.

Issue 19's target is a peak RSS under 1.5 GB for every task whatever the day's size: ingest
streams (one shard of rows in memory). ``validate`` runs as the DAG runs it: the plan, each
validate_batch in a process of its own (one after the other), then the reducer (finish_validate);
its columns are the seconds summed over those processes, the number of batches, the largest
batch task's peak RSS and the reducer's seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import posixpath
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY = "2026-06-01"
TEXTS = [
    "Love it, works great and arrived on time. The battery lasts all week and setup was easy.",
    "Broke after a week. Support never answered my emails, avoid.",
    "It is fine I guess, but the lid is flimsy and the handle gets hot after a few minutes.",
    "Exactly as described.",
    "Returned it: the colour was nothing like the photos and the fabric felt cheap and thin.",
]


def write_day(root: Path, n: int, compress: bool, text_chars: int = 0) -> str:
    """One raw object holding the whole day; returns its URI. ``text_chars``: pad every text
    to about that many characters (a few long reviews make a multi-GB object of few rows)."""
    folder = root / "raw" / "reviews" / f"dt={DAY}"
    folder.mkdir(parents=True)
    path = folder / ("day.jsonl.gz" if compress else "day.jsonl")
    texts = TEXTS
    if text_chars:
        texts = [" ".join([t] * max(1, text_chars // (len(t) + 1))) for t in TEXTS]
    with gzip.open(path, "wt", compresslevel=1) if compress else path.open("w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {
                        "review_id": f"r{i}",
                        "title": "My review",
                        "text": texts[i % len(texts)],
                        "rating": 1 + i % 5,
                        "product_id": f"P{i % 200}",
                        "created_at": "2026-06-01T10:00:00Z",
                    }
                )
                + "\n"
            )
    return "file://" + str(path)


def fake_scored(root: Path, validated: dict, reference_days: int) -> list[str]:
    """Scored shards from the validated ones with made-up scores (no model), and
    ``reference_days`` published days before DAY built from the same rows; returns the
    scored shards' URIs. Row data is handled a shard at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from nlp_tasks import layout, pipeline
    from nlp_tasks.storage import Lake

    lake = Lake("file://" + str(root))
    run = pipeline.Run(lake, DAY, "bench")
    from nlp_tasks.pii import ENTITY_TYPES
    from nlp_tasks.schema import SENTIMENT_REPORT

    scored = []
    for i, shard in enumerate(validated["shards"]):
        t = lake.read_parquet(shard)
        n = t.num_rows
        score = np.random.default_rng(i).beta(2, 2, n).astype(np.float32)
        label = np.where(score < 0.4, "negative", np.where(score < 0.6, "neutral", "positive"))
        zeros = pa.array(np.zeros(n, np.int32))
        # Every column the score stage writes, so publish has the report's and the sums' columns.
        cols = {
            "review_id": t.column("review_id"),
            "product_id": t.column("product_id"),
            "rating": t.column("rating"),
            "created_at": t.column("created_at"),
            "title_redacted": t.column("title"),
            "text_redacted": t.column("text"),
            "label": pa.array(label, pa.string()),
            "score": pa.array(score),
            "p_negative": pa.array(1 - score),
            "p_neutral": pa.nulls(n, pa.float32()),
            "pii_entities": zeros,
            "source_kind": t.column("source_kind"),
            "source_file": t.column("source_file"),
            "model_version": pa.array(["fake"] * n, pa.string()),
            "provider": pa.array(["none"] * n, pa.string()),
            "run_id": pa.array(["bench"] * n, pa.string()),
        }
        out = pa.table(cols).select(SENTIMENT_REPORT.names).cast(SENTIMENT_REPORT)
        for e in ENTITY_TYPES:
            out = out.append_column(f"pii_{e.lower()}", zeros)
        uri = run.work("scored", posixpath.basename(shard))
        lake.write_parquet(out, uri)
        scored.append(uri)
    for d in range(1, reference_days + 1):
        day = (date.fromisoformat(DAY) - timedelta(days=d)).isoformat()
        folder = Path(lake.path(lake.uri(layout.report(layout.SENTIMENT, day))))
        folder.mkdir(parents=True)
        writer, rows = None, 0
        for uri in scored:
            t = lake.read_parquet(uri)
            ids = pc.binary_join_element_wise(pa.scalar(f"{day}-"), t.column("review_id"), "")
            t = t.set_column(0, "review_id", ids)
            if writer is None:
                writer = pq.ParquetWriter(folder / layout.SINGLE_FILE, t.schema, compression="zstd")
            writer.write_table(t, row_group_size=64_000)
            rows += t.num_rows
        writer.close()
        (folder / layout.SUCCESS).write_text(json.dumps({"run_id": "bench", "rows": rows}) + "\n")
    return scored


def _no_drift(root: Path) -> str:
    """An empty drift table, for publish measured without the drift stage."""
    import pyarrow as pa

    from nlp_tasks.schema import DRIFT

    path = root.parent / "no-drift.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([], schema=DRIFT), path)
    return "file://" + str(path)


def run_stage(stage: str, root: Path, arg: str) -> dict:
    """Run one stage in a child process; returns its result dict plus seconds and peak RSS."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", stage, str(root), arg], capture_output=True, text=True, check=False
    )
    if proc.returncode:
        raise SystemExit(f"{stage} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(stage: str, root: str, arg: str) -> None:
    import resource

    from nlp_tasks import pipeline, validate_day
    from nlp_tasks.storage import Lake

    run = pipeline.Run(Lake("file://" + root), DAY, "bench")
    t0 = time.perf_counter()
    if stage == "ingest":
        out = pipeline.ingest(run, arg, 0, pipeline.DEFAULT_SHARD_ROWS)
    elif stage == "validate_plan":
        out = {"batches": validate_day.plan_batches(json.loads(Path(arg).read_text()))}
    elif stage == "validate_batch":
        out = validate_day.validate_batch(run, json.loads(Path(arg).read_text()))
    elif stage == "validate":  # the reducer: the DAG's validate task
        job = json.loads(Path(arg).read_text())
        out = validate_day.finish_validate(run, job["ingested"], job["batches"], pipeline.DEFAULT_SHARD_ROWS)
    elif stage == "drift":
        job = json.loads(Path(arg).read_text())
        out = pipeline.drift(run, job["scored"], tokenizer=job["tokenizer"], baseline_date=job["baseline_date"])
        out["reference"] = ",".join(out["reference_days"])
    elif stage == "publish":
        from nlp_tasks import publish

        job = json.loads(Path(arg).read_text())
        scored = [{"shard": u, "rows": 0, "seconds": 0.0} for u in job["scored"]]
        out = publish.publish(
            run, job["ingested"], job["validated"], scored, scored, job["drift"], max_invalid_fraction=1.0
        )
        out["rows"] = out["rows_reported"]
        # As the DAG's publish task does next: settle the drift of the day (and of later days).
        from nlp_tasks import drift as D

        t1 = time.perf_counter()
        D.settle(run.lake, run.day, lambda version: job["tokenizer"])
        out["settle_seconds"] = round(time.perf_counter() - t1, 1)
    else:
        raise SystemExit(f"unknown stage {stage}")
    # The whole result for the next stage (publish needs validate's and drift's).
    (Path(root).parent / f"{stage}-result.json").write_text(json.dumps(out, default=str))
    if stage not in ("validate_plan", "validate_batch"):  # those go on whole to the next task
        out = {
            k: v
            for k, v in out.items()
            if k in ("file", "shards", "rows", "records", "valid", "rejected", "verdict", "reference", "settle_seconds")
        }
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_validate(root: Path, tmp: Path, ingested: Path) -> dict:
    """Validate as the DAG runs it, each task in a process of its own: the plan, every
    validate_batch, then the reducer. Returns the reducer's result with the tasks' figures."""
    plan = run_stage("validate_plan", root, str(ingested))
    batches = []
    for b in plan["batches"]:
        job = tmp / f"validate-batch-{b['index']:05d}.json"
        job.write_text(json.dumps(b))
        batches.append(run_stage("validate_batch", root, str(job)))
    job = tmp / "validate-finish.json"
    job.write_text(json.dumps({"ingested": json.loads(ingested.read_text()), "batches": batches}))
    res = run_stage("validate", root, str(job))
    return {
        **res,
        "batches": len(batches),
        "batch_mb": max((b["peak_rss_mb"] for b in batches), default=0.0),
        "finish_s": res["seconds"],
        "finish_mb": res["peak_rss_mb"],
        "seconds": plan["seconds"] + sum(b["seconds"] for b in batches) + res["seconds"],
    }


def header(stage: str) -> str:
    if stage == "validate":
        return f"{'validate s':>12} {'batches':>8} {'batch MB':>12} {'finish s':>12} {'finish MB':>12}"
    return f"{stage + ' s':>12} {stage + ' MB':>12}"


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="+", type=int, help="reviews in the day, e.g. 100000 1000000")
    ap.add_argument("--stages", default="ingest,validate", help="in order; drift needs validate's shards")
    ap.add_argument("--gzip", action="store_true", help="write the day's object as .jsonl.gz")
    ap.add_argument(
        "--text-chars",
        type=int,
        default=0,
        help="pad each review's text to ~this many characters (e.g. 2000 with N=1000000: one ~2 GB object)",
    )
    ap.add_argument("--workdir", default=None, help="where the lakes go (default: a temp folder)")
    ap.add_argument(
        "--reference-days", type=int, default=7, help="published days before the day, for drift (default 7)"
    )
    ap.add_argument("--tokenizer", default=str(REPO / "build" / "model"), help="model folder for drift's [UNK] share")
    args = ap.parse_args()
    stages = args.stages.split(",")
    if "drift" in stages or "publish" in stages:
        print(
            "drift, publish: made-up scores (no model: the score stage is not run), "
            f"{args.reference_days} published reference days of N rows each"
        )
    print(f"{'N':>9} {'raw MB':>8} " + " ".join(header(s) for s in stages))
    for n in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            root = Path(tmp) / "lake"
            uri = write_day(root, n, args.gzip, args.text_chars)
            raw_mb = os.path.getsize(uri[len("file://") :]) / 1e6
            cells = []
            ingested = scored = None
            for stage in stages:
                if stage == "ingest":
                    res = run_stage("ingest", root, uri)
                    ingested = Path(tmp) / "ingested.json"
                    # What the DAG hands validate: ingest's result per object.
                    ingested.write_text("[" + (Path(tmp) / "ingest-result.json").read_text() + "]")
                elif stage == "validate":
                    res = run_validate(root, Path(tmp), ingested)
                    validated = res
                    cells.append(
                        f"{res['seconds']:12.1f} {res['batches']:8d} {res['batch_mb']:12.0f} "
                        f"{res['finish_s']:12.1f} {res['finish_mb']:12.0f}"
                    )
                    continue
                elif stage == "drift":
                    job = Path(tmp) / "drift.json"
                    base = (
                        (date.fromisoformat(DAY) - timedelta(days=args.reference_days)).isoformat()
                        if args.reference_days
                        else None
                    )
                    scored = fake_scored(root, validated, args.reference_days)
                    job.write_text(json.dumps({"scored": scored, "tokenizer": args.tokenizer, "baseline_date": base}))
                    res = run_stage("drift", root, str(job))
                elif stage == "publish":
                    job = Path(tmp) / "publish.json"
                    if scored is None:
                        scored = fake_scored(root, validated, 0)
                    drift_res = (
                        json.loads((Path(tmp) / "drift-result.json").read_text())
                        if "drift" in stages
                        else {"uri": _no_drift(root), "verdict": "no_reference", "drifted": [], "reference_days": []}
                    )
                    job.write_text(
                        json.dumps(
                            {
                                "ingested": json.loads(ingested.read_text()),
                                "validated": json.loads((Path(tmp) / "validate-result.json").read_text()),
                                "scored": scored,
                                "drift": drift_res,
                                "tokenizer": args.tokenizer,
                            }
                        )
                    )
                    res = run_stage("publish", root, str(job))
                else:
                    res = run_stage(stage, root, str(ingested))
                cells.append(f"{res['seconds']:12.1f} {res['peak_rss_mb']:12.0f}")
            print(f"{n:>9} {raw_mb:8.0f} " + " ".join(cells), flush=True)
            if "publish" in stages:
                print(f"{'':>9} publish s includes settling the day's drift: {res.get('settle_seconds')} s", flush=True)


if __name__ == "__main__":
    main()
