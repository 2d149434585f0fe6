"""Nightly sentiment over the day's raw reviews and PDFs.

discover -> ingest (one mapped task per raw object) -> validate (GX, one mapped task per
batch of shards, then review_id uniqueness across the day) ->
redact PII (mapped per shard) -> score with ONNX Runtime (mapped per shard) -> KS drift ->
publish (reconcile counts, replace the day's report partitions, mark each complete with a
`_SUCCESS` object).

With a challenger model set (the registry's ``challenger`` alias, or the ``challenger_version``
Param), shadow_score scores the same shards beside score, and compare_models writes
``reports/model_comparison/dt=D/``; neither can fail the night or touch the other reports.

``data_root`` must be the default root or lie under an entry of ``$NLP_TASKS_ALLOWED_ROOTS``
(nlp_tasks.roots); otherwise check_data_root fails the run before anything is read or written.
Before it, check_params fails the run at once if ``neutral_low`` is not below ``neutral_high``.

A run for logical date D reads ``{data_root}/raw/*/dt=D/`` and replaces exactly
``{data_root}/reports/*/dt=D/`` and ``{data_root}/quarantine/dt=D/``. Tasks exchange URIs
and counts through XCom, never rows or text. Only the standard library and Airflow are
imported at parse time; everything heavy is imported inside the tasks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys

from airflow.sdk import Param, TriggerRule, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

# Airflow puts the DAGs folder on sys.path; tests and tools that load this file directly may not.
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from assets import REVIEW_REPORTS  # noqa: E402
from drift_notifier import DriftNotifier  # noqa: E402

log = logging.getLogger("nlp_tasks.dags.review_sentiment_nightly")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_ROOT = os.environ.get("NLP_TASKS_DATA_ROOT") or "file://" + os.path.join(REPO_ROOT, "lake")
# Inference can be sent to a GPU worker by setting its queue (CeleryExecutor) and pool.
INFERENCE_QUEUE = os.environ.get("NLP_TASKS_INFERENCE_QUEUE", "default")
INFERENCE_POOL = os.environ.get("NLP_TASKS_INFERENCE_POOL", "default_pool")
# How many mapped tasks of one run may run at once: ingest, validate_batch and redact
# (NLP_TASKS_MAPPED_PARALLELISM), score and shadow_score (NLP_TASKS_INFERENCE_PARALLELISM).
# Raise them with the workers: 10 GB a night needs ~25 score tasks at once (docs/scale.md).
MAPPED_PARALLELISM = int(os.environ.get("NLP_TASKS_MAPPED_PARALLELISM", "8"))
INFERENCE_PARALLELISM = int(os.environ.get("NLP_TASKS_INFERENCE_PARALLELISM", "4"))

# Sections of the trigger form, in this order.
S_STORAGE, S_MODEL, S_VALIDATION, S_DRIFT, S_COST = (
    "Data and storage",
    "Model",
    "Validation",
    "Drift and alerts",
    "Cost",
)
# One address, or several separated by commas: name@host.tld, no spaces inside an address.
_EMAIL = r"[^@\s,]+@[^@\s,]+\.[^@\s,]+"
EMAIL_LIST = rf"^\s*{_EMAIL}(\s*,\s*{_EMAIL})*\s*$"


def params_problems(params) -> list[str]:
    """What is wrong with a run's Params beyond what their JSON Schema checks (one field at a
    time): the neutral band must be a band. Empty when all is well."""
    low, high = params.get("neutral_low"), params.get("neutral_high")
    if low is not None and high is not None and not low < high:
        return [
            f"neutral_low ({low:g}) must be below neutral_high ({high:g}): P(positive) in [neutral_low, neutral_high) "
            "is neutral for a binary model, so the band would be empty or inverted"
        ]
    return []


def _run(**log_fields):
    """The run's lake, partition date and scratch key, from the task context."""
    from nlp_tasks import observability
    from nlp_tasks.pipeline import Run
    from nlp_tasks.storage import Lake, S3Options

    ctx = get_current_context()
    params = ctx["params"]
    day = _day(ctx)
    root = _allowed_root(params["data_root"])
    s3 = S3Options()
    if root.startswith("s3://"):
        from nlp_tasks.airflow.connections import s3_options

        # Which credentials the task uses is logged: with the run's fields, like every line.
        with observability.log_context(run_id=ctx["run_id"], dt=day, **log_fields):
            s3 = s3_options(params["aws_conn_id"])
    return Run(Lake(root, s3), day, ctx["run_id"])


def _day(ctx) -> str:
    """The partition date a run processes: the run_date Param, else the logical date."""
    day = ctx["params"].get("run_date") or ctx.get("ds")
    if not day:  # manual runs may have no logical date in Airflow 3
        day = (ctx["dag_run"].run_after or dt.datetime.now(dt.UTC)).date().isoformat()
    return day


def _allowed_root(root: str) -> str:
    """`root` if the allow-list (nlp_tasks.roots: the default root plus $NLP_TASKS_ALLOWED_ROOTS
    in this worker's environment) allows it; else the task fails at once, without retries."""
    from nlp_tasks import roots

    try:
        return roots.check_root(root, DEFAULT_DATA_ROOT)
    except roots.RootNotAllowed as e:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(e)) from None


@contextlib.contextmanager
def _stage(stage: str, shard: str | None = None):
    """Run a stage with run_id/dt/stage/shard on every log line it writes; on success its
    metrics (rows, seconds, rows/s, errors, PII, model, provider) go to Airflow's Stats."""
    from nlp_tasks import observability

    ctx = get_current_context()
    name = shard.rsplit("/", 1)[-1] if shard else None
    run = _run(stage=stage, shard=name, map_index=_map_index(ctx))
    with observability.log_context(run_id=run.run_id, dt=run.day, stage=stage, shard=name, map_index=_map_index(ctx)):
        out: dict = {}
        yield run, out
        if "result" in out:
            from airflow.sdk.observability.stats import Stats

            out["result"]["peak_rss_mb"] = observability.peak_rss_mb()

            m = observability.emit(Stats, stage, out["result"], tags={"dag_id": ctx["dag"].dag_id})
            log.info("stage metrics: %s", m)


def _settle_drift(run) -> list[dict]:
    """drift.settle for the day just published, each day's tokenizer from the model that scored it."""
    import functools
    import time

    from nlp_tasks import drift as D
    from nlp_tasks.sentiment import registry

    t0 = time.perf_counter()
    tokenizer_for = functools.lru_cache(maxsize=None)(lambda version: str(registry.fetch(run.lake, version)))
    settled = D.settle(run.lake, run.day, tokenizer_for)
    updated = [s["dt"] for s in settled if s["changed"]]
    log.info(
        "drift settled for %s in %.2fs; updated: %s",
        ",".join(s["dt"] for s in settled),
        time.perf_counter() - t0,
        ",".join(updated) or "none",
    )
    return settled


def _map_index(ctx) -> int | None:
    i = getattr(ctx.get("ti"), "map_index", -1)
    return None if i is None or i < 0 else i


def _materialise(seq) -> list:
    """A mapped task's outputs as a list; indexing up to len() avoids probing past the end."""
    return [seq[i] for i in range(len(seq))]


@dag(
    dag_id="review_sentiment_nightly",
    # The run for day D starts once D is over (data interval [D, D+1) UTC), so its logical
    # date, ds, is the partition it processes: `airflow backfill create --from-date D1
    # --to-date D2` reprocesses exactly D1..D2.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=30), "execution_timeout": dt.timedelta(hours=2)},
    tags=["nlp", "reviews", "sentiment"],
    doc_md=__doc__,
    # The trigger form: every Param has a title and a section, dates get a date picker and are
    # checked as dates, enums are typed (the form then refuses an emptied dropdown) and the
    # e-mail list must look like one. One rule JSON Schema cannot say (neutral_low <
    # neutral_high) is check_params's, the first task: it fails the run at once, saying why.
    params={
        "data_root": Param(
            DEFAULT_DATA_ROOT,
            type="string",
            minLength=1,
            title="Data root",
            description="s3://bucket/prefix or file:///path of the data lake: the default root, or one under an entry of $NLP_TASKS_ALLOWED_ROOTS",
            section=S_STORAGE,
        ),
        "aws_conn_id": Param(
            "aws_default",
            type="string",
            title="AWS connection",
            description="Airflow AWS connection; extra endpoint_url for S3-compatible stores",
            section=S_STORAGE,
        ),
        "run_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Day to process",
            description="process this partition (YYYY-MM-DD) instead of the run's logical date",
            section=S_STORAGE,
        ),
        # 20,000: each mapped task costs Airflow ~0.3 s of its own, and a score task's memory is
        # set by its batches, not its shard (678 MB peak for 10,000 rows); smaller shards
        # only pay off when many workers share a night.
        "shard_rows": Param(
            20_000,
            type="integer",
            minimum=10,
            maximum=200_000,
            title="Rows per shard",
            description="target rows per Parquet shard (one redact and one score task each; balanced, at most 10% over)",
            section=S_STORAGE,
        ),
        "model_version": Param(
            "production",
            type="string",
            minLength=1,
            title="Model",
            description="registry alias or version of the sentiment model",
            section=S_MODEL,
        ),
        "challenger_version": Param(
            "challenger",
            type="string",
            minLength=1,
            title="Challenger model",
            description="model scored in shadow beside the model, for reports/model_comparison only: the registry's challenger alias (if set), a version, or none",
            section=S_MODEL,
        ),
        "shadow_fraction": Param(
            1.0,
            type="number",
            minimum=0,
            maximum=1,
            title="Challenger's share of reviews",
            description="share of reviews the challenger scores, chosen by a hash of review_id (the same reviews every run)",
            section=S_MODEL,
        ),
        "score_cache_days": Param(
            30,
            type="integer",
            minimum=0,
            maximum=3650,
            title="Score cache retention (days)",
            description="texts scored on an earlier night by the same model and runtime are not scored again; entries unused this many days are dropped; 0 turns the cache off (see docs/model.md)",
            section=S_MODEL,
        ),
        "provider": Param(
            "auto",
            type="string",
            enum=["auto", "cpu", "cuda"],
            values_display={"auto": "auto: CUDA if present, else CPU", "cpu": "CPU", "cuda": "CUDA (GPU)"},
            title="Execution provider",
            description="ONNX Runtime execution provider",
            section=S_MODEL,
        ),
        "neutral_low": Param(
            0.4,
            type="number",
            minimum=0,
            maximum=1,
            title="Neutral band: low",
            description="binary models only: P(positive) below this is negative; must be below the high end (a 3-class model uses its own calibrated rule and ignores this)",
            section=S_MODEL,
        ),
        "neutral_high": Param(
            0.6,
            type="number",
            minimum=0,
            maximum=1,
            title="Neutral band: high",
            description="binary models only: P(positive) at or above this is positive (ignored, with a log line, for a 3-class model)",
            section=S_MODEL,
        ),
        "max_invalid_fraction": Param(
            0.05,
            type="number",
            minimum=0,
            maximum=1,
            title="Invalid records allowed (share)",
            description="fail the run (after publishing the quarantine) above this share of invalid records",
            section=S_VALIDATION,
        ),
        "drift_threshold": Param(
            0.1,
            type="number",
            minimum=0,
            maximum=1,
            title="Drift threshold (effect size)",
            description="KS statistic needed to flag drift",
            section=S_DRIFT,
        ),
        "drift_alpha": Param(
            0.05,
            type="number",
            minimum=0,
            maximum=1,
            title="Drift alpha",
            description="BH-adjusted p-value needed to flag drift",
            section=S_DRIFT,
        ),
        "baseline_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Baseline day",
            description="use this published day as the drift baseline for this run (default: reference/baseline/ set by `python -m nlp_tasks.drift set-baseline`)",
            section=S_DRIFT,
        ),
        "drift_alert": Param(
            "log",
            type="string",
            enum=["none", "log", "email", "slack", "fail"],
            values_display={
                "none": "none",
                "log": "log a warning",
                "email": "e-mail (the recipients below)",
                "slack": "Slack",
                "fail": "fail the run (after publishing)",
            },
            title="Drift alert",
            description="how drift is reported; 'fail' fails publish after the reports are live",
            section=S_DRIFT,
        ),
        "drift_alert_email": Param(
            None,
            type=["null", "string"],
            pattern=EMAIL_LIST,
            title="Drift alert recipients",
            description="comma-separated e-mail addresses, for drift alert = e-mail",
            section=S_DRIFT,
        ),
        "price_per_hour": Param(
            0.10,
            type="number",
            minimum=0,
            title="Price per worker slot-hour",
            description="price of one worker slot per hour (e.g. USD), for the run summary's cost per 1,000 reviews",
            section=S_COST,
        ),
        "inference_price_per_hour": Param(
            None,
            type=["null", "number"],
            minimum=0,
            title="Price per inference slot-hour",
            description="price per hour of the inference (score) slot, e.g. a GPU worker; default: the price per worker slot-hour",
            section=S_COST,
        ),
    },
    render_template_as_native_obj=True,
)
def review_sentiment_nightly():
    # First of all, before anything reads or writes: is data_root allowed? Every other task
    # checks it again when it opens the lake (_run), so compare_models (ALL_DONE) and a task
    # cleared on its own fail the same way instead of touching the root.
    # Before anything else: Params that JSON Schema cannot check (the neutral band).
    @task(retries=0)
    def check_params() -> None:
        from nlp_tasks import observability

        ctx = get_current_context()
        params = ctx["params"]
        problems = params_problems(params)
        if problems:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException("invalid Params: " + "; ".join(problems))
        # No lake is opened here (data_root is checked next), but the line names the run as every
        # other line of the pipeline does.
        with observability.log_context(run_id=ctx["run_id"], dt=_day(ctx), stage="check_params"):
            log.info("Params checked: the neutral band is [%s, %s)", params["neutral_low"], params["neutral_high"])

    @task(retries=0)
    def check_data_root() -> str:
        root = get_current_context()["params"]["data_root"]
        _allowed_root(root)
        with _stage("check_data_root"):  # opens no connection to the root: nothing is read
            log.info("data_root %s is allowed", root)
        return root

    @task
    def discover() -> list[str]:
        from nlp_tasks import pipeline

        with _stage("discover") as (run, _):
            return pipeline.discover(run)

    @task
    def resolve_model() -> str:
        from nlp_tasks.sentiment import registry

        with _stage("resolve_model") as (run, _):
            version = registry.resolve(run.lake, get_current_context()["params"]["model_version"])
            log.info("model for this run: %s", version)
            return version

    @task
    def resolve_challenger(champion: str) -> dict:
        from nlp_tasks import shadow

        with _stage("resolve_challenger") as (run, _):
            challenger = shadow.resolve_challenger(
                run.lake, get_current_context()["params"]["challenger_version"], champion
            )
            log.info("challenger for this run: %s", challenger["version"] or challenger["error"] or "none")
            return challenger

    @task(max_active_tis_per_dagrun=MAPPED_PARALLELISM)
    def ingest(uri: str) -> dict:
        from nlp_tasks import pipeline

        ctx = get_current_context()
        with _stage("ingest", uri) as (run, out):
            out["result"] = pipeline.ingest(run, uri, ctx["ti"].map_index, ctx["params"]["shard_rows"])
            return out["result"]

    # A day with no input maps ingest/validate_batch/redact/score over nothing (they are
    # skipped); the downstream stages still run, so the day gets its empty report and says so.
    # Validate scales out (nlp_tasks.validate_day): the day's shards are planned into batches of
    # ~100,000 rows (400 mapped tasks at 10 GB a night, under max_map_length's 1024), each
    # validated by a validate_batch task; then validate checks review_id uniqueness across the
    # day a hash range at a time and writes the balanced validated shards (at most 1,000).
    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def validate_plan(ingested: list[dict]) -> list[dict]:
        from nlp_tasks import validate_day

        with _stage("validate_plan"):
            return validate_day.plan_batches(_materialise(ingested))

    @task(max_active_tis_per_dagrun=MAPPED_PARALLELISM)
    def validate_batch(batch: dict) -> dict:
        from nlp_tasks import validate_day

        with _stage("validate_batch", f"batch-{batch['index']:05d}") as (run, out):
            out["result"] = validate_day.validate_batch(run, batch)
            return out["result"]

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def validate(ingested: list[dict], batches: list[dict]) -> dict:
        from nlp_tasks import validate_day

        with _stage("validate") as (run, out):
            done = _materialise(batches)
            out["result"] = validate_day.finish_validate(
                run, _materialise(ingested), done, get_current_context()["params"]["shard_rows"]
            )
        # The stage's peak for the run summary: the largest of its tasks', batches included.
        out["result"]["peak_rss_mb"] = max([out["result"]["peak_rss_mb"], *(b.get("peak_rss_mb") or 0 for b in done)])
        return out["result"]

    @task
    def shards_of(validated: dict) -> list[str]:
        return validated["shards"]

    @task(max_active_tis_per_dagrun=MAPPED_PARALLELISM)
    def redact(shard: str) -> dict:
        from nlp_tasks import pipeline

        with _stage("redact", shard) as (run, out):
            out["result"] = pipeline.redact(run, shard)
            return out["result"]

    # Scoring maps over a plain list, not over redact's mapped output: Airflow 3.3 can mark a
    # mapped-over-mapped task "removed" when a backfill re-runs a day, publishing no scores.
    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def redacted_shards(redacted: list[dict]) -> list[str]:
        return [r["shard"] for r in _materialise(redacted)]

    @task(queue=INFERENCE_QUEUE, pool=INFERENCE_POOL, max_active_tis_per_dagrun=INFERENCE_PARALLELISM)
    def score(shard: str, model_version: str) -> dict:
        from nlp_tasks import pipeline
        from nlp_tasks.sentiment import registry

        params = get_current_context()["params"]
        with _stage("score", shard) as (run, out):
            model_dir = registry.fetch(run.lake, model_version)
            out["result"] = pipeline.score(
                run,
                shard,
                str(model_dir),
                params["provider"],
                (params["neutral_low"], params["neutral_high"]),
                cache_days=int(params.get("score_cache_days", 0)),
            )
            return out["result"]

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def shadow_shards(shards: list[str], challenger: dict) -> list[str]:
        """The shards the challenger scores: none (so shadow_score is skipped) without one."""
        fraction = get_current_context()["params"]["shadow_fraction"]
        return list(shards) if challenger["version"] and fraction > 0 else []

    # Same queue and pool as score: the challenger competes for the same inference slots.
    @task(queue=INFERENCE_QUEUE, pool=INFERENCE_POOL, max_active_tis_per_dagrun=INFERENCE_PARALLELISM)
    def shadow_score(shard: str, challenger: dict) -> dict:
        from nlp_tasks import shadow

        params = get_current_context()["params"]
        with _stage("shadow_score", shard) as (run, out):
            out["result"] = shadow.shadow_score(
                run,
                shard,
                challenger["version"],
                params["provider"],
                (params["neutral_low"], params["neutral_high"]),
                params["shadow_fraction"],
            )
            return out["result"]

    # ALL_DONE: runs whatever became of the challenger's shards; it never raises.
    @task(trigger_rule=TriggerRule.ALL_DONE)
    def compare_models(scored: list[dict], shadowed: list[dict], champion: str, challenger: dict) -> dict:
        from nlp_tasks import shadow

        with _stage("compare_models") as (run, _):
            try:
                got, done = _materialise(scored), _materialise(shadowed)
            except Exception as e:  # an upstream that failed left no XCom to read
                log.warning("model comparison inputs unavailable (%s)", type(e).__name__)
                got, done = [], []
            return shadow.compare(
                run, champion, challenger, got, done, get_current_context()["params"]["shadow_fraction"]
            )

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def drift(scored: list[dict], model_version: str) -> dict:
        from nlp_tasks import pipeline
        from nlp_tasks.sentiment import registry

        params = get_current_context()["params"]
        with _stage("drift") as (run, out):
            out["result"] = pipeline.drift(
                run,
                [s["shard"] for s in _materialise(scored)],
                params["drift_threshold"],
                params["drift_alpha"],
                tokenizer=str(registry.fetch(run.lake, model_version)),
                baseline_date=params.get("baseline_date"),
            )
            return out["result"]

    # publish runs one instance at a time across all runs of this DAG (max_active_tis_per_dag=1)
    # and, once the day is committed, settles drift: it recomputes the drift of its own day and
    # of every published day in the 7 days after it, from the published partitions
    # (nlp_tasks.drift.settle). For any day X, the last publish among X and its 7 window days
    # runs after all the others (publishes never overlap) and settles X with every one of them
    # final, so X's drift ends up the same whatever the order or parallelism of a backfill.
    # Deadlock-free by construction: nothing waits for another run; a publish only queues for
    # the one slot, which the running publish frees when it ends.
    @task(
        trigger_rule=TriggerRule.NONE_FAILED,
        outlets=[REVIEW_REPORTS],
        max_active_tis_per_dag=1,
        on_success_callback=DriftNotifier(
            channel="{{ params.drift_alert }}",
            email_to="{{ params.drift_alert_email }}",
            drift_task_id="publish",
            drift_key="drift",
        ),
    )
    def publish(
        ingested: list[dict],
        validated: dict,
        redacted: list[dict],
        scored: list[dict],
        drift_result: dict,
        comparison: dict,
    ) -> dict:
        from airflow.sdk.observability.stats import Stats

        from nlp_tasks import observability
        from nlp_tasks import publish as publishing

        ctx = get_current_context()
        params = ctx["params"]
        with _stage("publish") as (run, out):
            summary = publishing.publish(
                run,
                _materialise(ingested),
                validated,
                _materialise(redacted),
                _materialise(scored),
                drift_result,
                params["max_invalid_fraction"],
                price_per_hour=params.get("price_per_hour") or 0.0,
                inference_price_per_hour=params.get("inference_price_per_hour"),
                comparison=comparison,
            )
            settled = _settle_drift(run)
            own = next((s["result"] for s in settled if s["dt"] == run.day), drift_result)
            summary["drift_verdict"] = own["verdict"]
            out["result"] = summary
            observability.emit_run(Stats, summary, tags={"dag_id": ctx["dag"].dag_id})
            log.info("published: %s", summary)
        # The day's settled drift, for the alert callback (DriftNotifier) and drift_alert=fail.
        ctx["ti"].xcom_push(key="drift", value=own)
        ctx["outlet_events"][REVIEW_REPORTS].extra = {"dt": summary["dt"], "data_root": ctx["params"]["data_root"]}
        if ctx["params"]["drift_alert"] == "fail":
            from airflow.sdk.exceptions import AirflowFailException

            from nlp_tasks import alerts

            try:
                alerts.dispatch(own, "fail", day=summary["dt"], run_id=ctx["run_id"])
            except alerts.DriftDetected as e:
                raise AirflowFailException(str(e)) from None  # no retries: the reports are already published
        return summary

    checked = check_data_root()
    check_params() >> checked
    files = discover()
    model = resolve_model()
    checked >> [files, model]
    challenger = resolve_challenger(model)
    ingested = ingest.expand(uri=files)
    validated = validate(ingested, validate_batch.expand(batch=validate_plan(ingested)))
    redacted = redact.expand(shard=shards_of(validated))
    shards = redacted_shards(redacted)
    scored = score.partial(model_version=model).expand(shard=shards)
    shadowed = shadow_score.partial(challenger=challenger).expand(shard=shadow_shards(shards, challenger))
    compared = compare_models(scored, shadowed, model, challenger)
    drifted = drift(scored, model)
    publish(ingested, validated, redacted, scored, drifted, compared)


review_sentiment_nightly()
