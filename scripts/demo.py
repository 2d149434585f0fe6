"""`make demo`: seed sample data for a few days, run the real DAG for each through Airflow,
print what each night produced.

Runs ``airflow dags test`` (a real Airflow run with its metadata DB, in one process) per
day. Any data root works: the local lake folder by default, or s3://bucket/prefix with the
`aws_default` connection (AIRFLOW_CONN_AWS_DEFAULT) pointing at S3 or an S3-compatible store.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nlp_tasks import layout, partitions  # noqa: E402
from nlp_tasks.sample_data import write_day  # noqa: E402
from nlp_tasks.storage import Lake, S3Options  # noqa: E402


def lake_for(root: str) -> Lake:
    s3 = S3Options()
    if root.startswith("s3://"):
        s3 = s3_options_from_env()
    return Lake(root, s3)


def s3_options_from_env() -> S3Options:
    """The same connection the DAG will use: AIRFLOW_CONN_AWS_DEFAULT, else AWS_* variables."""
    conn = os.environ.get("AIRFLOW_CONN_AWS_DEFAULT")
    if conn and conn.lstrip().startswith("{"):
        return S3Options.from_connection(json.loads(conn))
    return S3Options.from_env()


def demo_env(root: str) -> dict:
    """The environment of the demo's Airflow runs. The DAG only runs on allowed data roots (the
    default root, or one under $NLP_TASKS_ALLOWED_ROOTS): a root given to the demo on purpose
    (`make demo DATA_ROOT=s3://...`) is added to the list, as an operator would allow it."""
    env = dict(os.environ)
    allowed = [r for r in (env.get("NLP_TASKS_ALLOWED_ROOTS") or "").split(",") if r.strip()]
    if root not in allowed:
        env["NLP_TASKS_ALLOWED_ROOTS"] = ",".join([*allowed, root])
    return env


def run_day(day: str, root: str, log_dir: Path) -> float:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"demo-{day}.log"
    conf = json.dumps({"data_root": root})
    t0 = time.time()
    with open(log_file, "w") as log:
        proc = subprocess.run(
            [
                str(Path(sys.executable).with_name("airflow")),
                "dags",
                "test",
                "review_sentiment_nightly",
                day,
                "-c",
                conf,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=demo_env(root),
        )
    if proc.returncode != 0:
        tail = log_file.read_text().splitlines()[-25:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"the DAG run for {day} failed (exit {proc.returncode}); full log: {log_file}")
    return time.time() - t0


def table(lake: Lake, days: list[str], seconds: dict[str, float]) -> str:
    head = [
        "date",
        "rows in",
        "reported",
        "quarantined",
        "PII redacted",
        "pos",
        "neg",
        "neu",
        "stars agree",
        "drift",
        "secs",
    ]
    rows = []
    for d in days:
        m = json.loads(lake.read_text(lake.uri(layout.manifest(d))))
        n = max(m["rows_reported"], 1)
        lab = m["labels"]
        # The summary's overall row: how often the label matches the review's stars.
        summary = partitions.read(lake, lake.uri(layout.report("summary", d))).to_pylist()
        agree = next((r["rating_agreement"] for r in summary if r["scope"] == "overall"), None)
        rows.append(
            [
                d,
                m["rows_in"],
                m["rows_reported"],
                m["rows_quarantined"],
                sum(m["pii_entities"].values()),
                f"{lab['positive'] / n:.0%}",
                f"{lab['negative'] / n:.0%}",
                f"{lab['neutral'] / n:.0%}",
                "-" if agree is None else f"{agree:.0%}",
                m["drift_verdict"],
                f"{seconds.get(d, 0):.0f}",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]

    def fmt(r):
        return "  ".join(
            str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def set_challenger(lake: Lake, model_dir: Path) -> str:
    """Publish a model and point the registry's challenger alias at it (production untouched)."""
    from nlp_tasks.sentiment import registry

    registry.ensure_default(lake)
    version = registry.publish(lake, model_dir)
    registry.set_alias(
        lake, version, registry.CHALLENGER, by="make demo-shadow", reason="demo: shadow-score the previous model"
    )
    print(f"challenger: {version} (production: {registry.aliases(lake)[registry.PRODUCTION]})")
    return version


def show_comparison(lake: Lake, days: list[str], challenger: str) -> None:
    """The pooled comparison of the demo days, then the challenger alias is cleared again."""
    from nlp_tasks import model_comparison as mc
    from nlp_tasks.sentiment import registry

    print(mc.render(mc.pool(mc.read_window(lake, days[0], days[-1])), days[0], days[-1]))
    registry.set_alias(lake, None, registry.CHALLENGER, by="make demo-shadow", reason="demo finished")
    print(
        f"\nper day: {lake.uri(layout.report_table(layout.MODEL_COMPARISON))}/dt=YYYY-MM-DD/; the same verdict, pooled:"
    )
    print(f"  .venv/bin/python -m nlp_tasks.sentiment compare --data-root {lake.root} --from {days[0]} --to {days[-1]}")
    print(
        "(the challenger alias is cleared again; set it with: "
        f"promote --data-root {lake.root} --alias challenger --version {challenger})\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=os.environ.get("NLP_TASKS_DATA_ROOT", f"file://{REPO}/lake"))
    ap.add_argument("--start", default="2026-11-16")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--reviews", type=int, default=120)
    ap.add_argument(
        "--challenger-dir",
        help="a built model folder to shadow-score beside production for these days "
        "(make demo-shadow: the previous model)",
    )
    args = ap.parse_args()

    lake = lake_for(args.data_root)
    start = dt.date.fromisoformat(args.start)
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range(args.days)]
    print(f"seeding sample data for {', '.join(days)} under {lake.root}")
    for d in days:
        write_day(lake, d, args.reviews)
    challenger = set_challenger(lake, Path(args.challenger_dir)) if args.challenger_dir else None
    seconds = {}
    for d in days:
        print(f"running review_sentiment_nightly for {d} through Airflow ...", flush=True)
        seconds[d] = run_day(d, lake.root, Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow")) / "demo-logs")
    print()
    print(table(lake, days, seconds))
    print()
    if challenger:
        show_comparison(lake, days, challenger)
    sentiment, summary, drift = (
        lake.uri(layout.report_table(t)) for t in (layout.SENTIMENT, layout.SUMMARY, layout.DRIFT)
    )
    print(f"reports:    {sentiment}/dt=YYYY-MM-DD/ (the files its {layout.SUCCESS} lists)")
    print(f"summary:    {summary}/   drift: {drift}/")
    print(f"quarantine: {lake.uri(layout.QUARANTINE)}/   manifests: {lake.uri(layout.MANIFESTS)}/")
    if not lake.is_s3:
        path = lake.path(sentiment)
        print("\nread them with DuckDB or pandas, e.g.:")
        print(
            '  .venv/bin/python -c "import duckdb; print(duckdb.sql(\\"select dt, label, count(*) '
            f"from read_parquet('{path}/*/*.parquet', hive_partitioning=true) group by all order by all\\\"))\""
        )


if __name__ == "__main__":
    main()
