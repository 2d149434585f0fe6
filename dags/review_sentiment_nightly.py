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

import datetime as dt
import logging
import os

from airflow.sdk import Param, TriggerRule, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from nlp_tasks import roots
from nlp_tasks.airflow.assets import REVIEW_REPORTS
from nlp_tasks.airflow.notifier import DriftNotifier
from nlp_tasks.airflow.stage import allowed_root, day_of, materialise, stage

log = logging.getLogger("nlp_tasks.dags.review_sentiment_nightly")

DEFAULT_DATA_ROOT = roots.default_root()
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
            description=(
                "s3://bucket/prefix or file:///path of the data lake: the default root, or one under an entry of "
                "$NLP_TASKS_ALLOWED_ROOTS"
            ),
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
            description=(
                "target rows per Parquet shard (one redact and one score task each; balanced, at most 10% over)"
            ),
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
            description=(
                "model scored in shadow beside the model, for reports/model_comparison only: the registry's "
                "challenger alias (if set), a version, or none"
            ),
            section=S_MODEL,
        ),
        "shadow_fraction": Param(
            1.0,
            type="number",
            minimum=0,
            maximum=1,
            title="Challenger's share of reviews",
            description=(
                "share of reviews the challenger scores, chosen by a hash of review_id (the same reviews every run)"
            ),
            section=S_MODEL,
        ),
        "score_cache_days": Param(
            30,
            type="integer",
            minimum=0,
            maximum=3650,
            title="Score cache retention (days)",
            description=(
                "texts scored on an earlier night by the same model and runtime are not scored again; entries unused "
                "this many days are dropped; 0 turns the cache off (see docs/model.md)"
            ),
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
            description=(
                "binary models only: P(positive) below this is negative; must be below the high end (a 3-class model "
                "uses its own calibrated rule and ignores this)"
            ),
            section=S_MODEL,
        ),
        "neutral_high": Param(
            0.6,
            type="number",
            minimum=0,
            maximum=1,
            title="Neutral band: high",
            description=(
                "binary models only: P(positive) at or above this is positive (ignored, with a log line, for a "
                "3-class model)"
            ),
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
            description=(
                "use this published day as the drift baseline for this run (default: reference/baseline/ set by "
                "`python -m nlp_tasks.drift set-baseline`)"
            ),
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
            description=(
                "price per hour of the inference (score) slot, e.g. a GPU worker; default: the price per worker "
                "slot-hour"
            ),
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
        with observability.log_context(run_id=ctx["run_id"], dt=day_of(ctx), stage="check_params"):
            log.info("Params checked: the neutral band is [%s, %s)", params["neutral_low"], params["neutral_high"])

    @task(retries=0)
    def check_data_root() -> str:
        root = allowed_root(get_current_context()["params"]["data_root"])
        _root_allowed(root)
        return root

    @stage("check_data_root")  # opens no connection to the root: nothing is read
    def _root_allowed(run, root: str) -> None:
        log.info("data_root %s is allowed", root)

    @task
    @stage("discover")
    def discover(run) -> list[str]:
        from nlp_tasks import pipeline

        return pipeline.discover(run)

    @task
    @stage("resolve_model")
    def resolve_model(run) -> str:
        from nlp_tasks.sentiment import registry

        version = registry.resolve(run.lake, get_current_context()["params"]["model_version"])
        log.info("model for this run: %s", version)
        return version

    @task
    @stage("resolve_challenger")
    def resolve_challenger(run, champion: str) -> dict:
        from nlp_tasks import shadow

        challenger = shadow.resolve_challenger(
            run.lake, get_current_context()["params"]["challenger_version"], champion
        )
        log.info("challenger for this run: %s", challenger["version"] or challenger["error"] or "none")
        return challenger

    @task(max_active_tis_per_dagrun=MAPPED_PARALLELISM)
    @stage("ingest", shard=lambda uri: uri)
    def ingest(run, uri: str) -> dict:
        from nlp_tasks import pipeline

        ctx = get_current_context()
        return pipeline.ingest(run, uri, ctx["ti"].map_index, ctx["params"]["shard_rows"])

    # A day with no input maps ingest/validate_batch/redact/score over nothing (they are
    # skipped); the downstream stages still run, so the day gets its empty report and says so.
    # Validate scales out (nlp_tasks.validate_day): the day's shards are planned into batches of
    # ~100,000 rows (400 mapped tasks at 10 GB a night, under max_map_length's 1024), each
    # validated by a validate_batch task; then validate checks review_id uniqueness across the
    # day a hash range at a time and writes the balanced validated shards (at most 1,000).
    @task(trigger_rule=TriggerRule.NONE_FAILED)
    @stage("validate_plan")
    def validate_plan(run, ingested: list[dict]) -> list[dict]:
        from nlp_tasks import validate_day

        return validate_day.plan_batches(materialise(ingested))

    @task(max_active_tis_per_dagrun=MAPPED_PARALLELISM)
    @stage("validate_batch", shard=lambda batch: f"batch-{batch['index']:05d}")
    def validate_batch(run, batch: dict) -> dict:
        from nlp_tasks import validate_day

        return validate_day.validate_batch(run, batch)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    @stage("validate")
    def validate(run, ingested: list[dict], batches: list[dict]) -> dict:
        from nlp_tasks import validate_day

        shard_rows = get_current_context()["params"]["shard_rows"]
        return validate_day.finish_validate(run, materialise(ingested), materialise(batches), shard_rows)

    @task
    def shards_of(validated: dict) -> list[str]:
        return validated["shards"]

    @task(max_active_tis_per_dagrun=MAPPED_PARALLELISM)
    @stage("redact", shard=lambda shard: shard)
    def redact(run, shard: str) -> dict:
        from nlp_tasks import pipeline

        return pipeline.redact(run, shard)

    # Scoring maps over a plain list, not over redact's mapped output: Airflow 3.3 can mark a
    # mapped-over-mapped task "removed" when a backfill re-runs a day, publishing no scores.
    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def redacted_shards(redacted: list[dict]) -> list[str]:
        return [r["shard"] for r in materialise(redacted)]

    @task(queue=INFERENCE_QUEUE, pool=INFERENCE_POOL, max_active_tis_per_dagrun=INFERENCE_PARALLELISM)
    @stage("score", shard=lambda shard, model_version: shard)
    def score(run, shard: str, model_version: str) -> dict:
        from nlp_tasks import pipeline
        from nlp_tasks.sentiment import registry

        params = get_current_context()["params"]
        return pipeline.score(
            run,
            shard,
            str(registry.fetch(run.lake, model_version)),
            params["provider"],
            (params["neutral_low"], params["neutral_high"]),
            cache_days=int(params.get("score_cache_days", 0)),
        )

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def shadow_shards(shards: list[str], challenger: dict) -> list[str]:
        """The shards the challenger scores: none (so shadow_score is skipped) without one."""
        fraction = get_current_context()["params"]["shadow_fraction"]
        return list(shards) if challenger["version"] and fraction > 0 else []

    # Same queue and pool as score: the challenger competes for the same inference slots.
    @task(queue=INFERENCE_QUEUE, pool=INFERENCE_POOL, max_active_tis_per_dagrun=INFERENCE_PARALLELISM)
    @stage("shadow_score", shard=lambda shard, challenger: shard)
    def shadow_score(run, shard: str, challenger: dict) -> dict:
        from nlp_tasks import shadow

        params = get_current_context()["params"]
        return shadow.shadow_score(
            run,
            shard,
            challenger["version"],
            params["provider"],
            (params["neutral_low"], params["neutral_high"]),
            params["shadow_fraction"],
        )

    # ALL_DONE: runs whatever became of the challenger's shards; it never raises.
    @task(trigger_rule=TriggerRule.ALL_DONE)
    @stage("compare_models", metrics=False)
    def compare_models(run, scored: list[dict], shadowed: list[dict], champion: str, challenger: dict) -> dict:
        from nlp_tasks import shadow

        try:
            got, done = materialise(scored), materialise(shadowed)
        except Exception as e:  # an upstream that failed left no XCom to read
            log.warning("model comparison inputs unavailable (%s)", type(e).__name__)
            got, done = [], []
        return shadow.compare(run, champion, challenger, got, done, get_current_context()["params"]["shadow_fraction"])

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    @stage("drift")
    def drift(run, scored: list[dict], model_version: str) -> dict:
        from nlp_tasks import pipeline
        from nlp_tasks.sentiment import registry

        params = get_current_context()["params"]
        return pipeline.drift(
            run,
            [s["shard"] for s in materialise(scored)],
            params["drift_threshold"],
            params["drift_alpha"],
            tokenizer=str(registry.fetch_tokenizer(run.lake, model_version)),
            baseline_date=params.get("baseline_date"),
        )

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
        ctx = get_current_context()
        summary = _publish_day(ingested, validated, redacted, scored, drift_result, comparison)
        own = summary.pop("settled_drift")
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

    @stage("publish")
    def _publish_day(run, ingested, validated, redacted, scored, drift_result, comparison) -> dict:
        """Publish the day and settle drift; the summary carries the day's settled drift."""
        from airflow.sdk.observability.stats import Stats

        from nlp_tasks import observability
        from nlp_tasks import publish as publishing

        ctx = get_current_context()
        params = ctx["params"]
        summary = publishing.publish(
            run,
            materialise(ingested),
            validated,
            materialise(redacted),
            materialise(scored),
            drift_result,
            params["max_invalid_fraction"],
            price_per_hour=params.get("price_per_hour") or 0.0,
            inference_price_per_hour=params.get("inference_price_per_hour"),
            comparison=comparison,
            settle_drift=True,
        )
        observability.emit_run(Stats, summary, tags={"dag_id": ctx["dag"].dag_id})
        log.info("published: %s", {k: v for k, v in summary.items() if k != "settled_drift"})
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
