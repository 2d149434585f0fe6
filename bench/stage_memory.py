"""Peak memory and seconds of the nightly's stages, each in its own process, as a day grows.

    python bench/stage_memory.py 100000 1000000 [--stages ingest,validate] [--gzip] [--workdir DIR]

For each N: one day of N generated reviews written as ONE raw JSONL object (the worst case
for a stage that holds an object: the whole day in it; ``--gzip`` writes it as .jsonl.gz) to
a fresh local lake; then each stage runs in a fresh Python process (as on an Airflow worker,
where every task is its own process) on the previous stage's output, and the table prints
its wall seconds and peak RSS (ru_maxrss of that process). The stages are the library's own
functions (nlp_tasks.pipeline), called the way the DAG's tasks call them.

Issue 19's target is a peak RSS under 1.5 GB for every task whatever the day's size: ingest
streams (one shard of rows in memory); validate still reads the whole day (next step).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
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


def write_day(root: Path, n: int, compress: bool) -> str:
    """One raw object holding the whole day; returns its URI."""
    folder = root / "raw" / "reviews" / f"dt={DAY}"
    folder.mkdir(parents=True)
    path = folder / ("day.jsonl.gz" if compress else "day.jsonl")
    with (gzip.open(path, "wt", compresslevel=1) if compress else path.open("w")) as f:
        for i in range(n):
            f.write(json.dumps({
                "review_id": f"r{i}", "title": "My review", "text": TEXTS[i % len(TEXTS)],
                "rating": 1 + i % 5, "product_id": f"P{i % 200}", "created_at": "2026-06-01T10:00:00Z",
            }) + "\n")
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

    from nlp_tasks import pipeline
    from nlp_tasks.storage import Lake

    run = pipeline.Run(Lake("file://" + root), DAY, "bench")
    t0 = time.perf_counter()
    if stage == "ingest":
        out = pipeline.ingest(run, arg, 0, pipeline.DEFAULT_SHARD_ROWS)
    elif stage == "validate":
        out = pipeline.validate(run, json.loads(Path(arg).read_text()), pipeline.DEFAULT_SHARD_ROWS)
    else:
        raise SystemExit(f"unknown stage {stage}")
    out = {k: v for k, v in out.items() if k in ("file", "shards", "rows", "records", "valid", "rejected")}
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="+", type=int, help="reviews in the day, e.g. 100000 1000000")
    ap.add_argument("--stages", default="ingest,validate")
    ap.add_argument("--gzip", action="store_true", help="write the day's object as .jsonl.gz")
    ap.add_argument("--workdir", default=None, help="where the lakes go (default: a temp folder)")
    args = ap.parse_args()
    stages = args.stages.split(",")
    print(f"{'N':>9} {'raw MB':>8} " + " ".join(f"{s + ' s':>12} {s + ' MB':>12}" for s in stages))
    for n in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            root = Path(tmp) / "lake"
            uri = write_day(root, n, args.gzip)
            raw_mb = os.path.getsize(uri[len("file://"):]) / 1e6
            cells = []
            ingested = None
            for stage in stages:
                if stage == "ingest":
                    res = run_stage("ingest", root, uri)
                    ingested = Path(tmp) / "ingested.json"
                    # What the DAG hands validate: ingest's result per object.
                    ingested.write_text(json.dumps([res]))
                else:
                    res = run_stage(stage, root, str(ingested))
                cells.append(f"{res['seconds']:12.1f} {res['peak_rss_mb']:12.0f}")
            print(f"{n:>9} {raw_mb:8.0f} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
