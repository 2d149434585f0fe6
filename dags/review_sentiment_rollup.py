"""Weekly rollup of the nightly review reports, scheduled on the published-report Asset.

Every time ``review_sentiment_nightly`` publishes a day it updates the ``REVIEW_REPORTS``
Asset (event extra: ``dt``, ``data_root``); this DAG then rebuilds the rollup of that day's
ISO week from the week's published summary partitions:
``{data_root}/reports/rollup/week=YYYY-Www/part-00000.parquet`` (replaced, never appended).
Triggered by hand, it rolls up the week of the ``day`` Param, or of the latest published day.

Only the standard library and Airflow are imported at parse time.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import Param, dag, get_current_context, task

from nlp_tasks import roots
from nlp_tasks.airflow.assets import REVIEW_REPORTS
from nlp_tasks.airflow.stage import lake

log = logging.getLogger(__name__)

DEFAULT_DATA_ROOT = roots.default_root()


def _latest_event_extra(ctx) -> dict:
    """``extra`` of the newest REVIEW_REPORTS event that triggered this run ({} if none)."""
    try:
        events = list(ctx["triggering_asset_events"][REVIEW_REPORTS])
    except (KeyError, TypeError):
        return {}
    if not events:
        return {}
    newest = max(events, key=lambda e: e.timestamp)
    return dict(newest.extra or {})


@dag(
    dag_id="review_sentiment_rollup",
    schedule=[REVIEW_REPORTS],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=30)},
    tags=["nlp", "reviews", "rollup"],
    doc_md=__doc__,
    params={
        "data_root": Param(
            None,
            type=["null", "string"],
            description=(
                "default: the triggering event's data_root, else $NLP_TASKS_DATA_ROOT; "
                "must be allowed by $NLP_TASKS_ALLOWED_ROOTS"
            ),
        ),
        "aws_conn_id": Param("aws_default", type="string", description="Airflow AWS connection for s3:// roots"),
        "day": Param(
            None,
            type=["null", "string"],
            description="roll up the ISO week of this YYYY-MM-DD; default: the triggering event's dt",
        ),
    },
)
def review_sentiment_rollup():
    @task
    def rollup() -> dict:
        from nlp_tasks import rollup as R

        ctx = get_current_context()
        params = ctx["params"]
        extra = _latest_event_extra(ctx)
        # The same allow-list as the nightly DAG: the default root plus $NLP_TASKS_ALLOWED_ROOTS.
        reports = lake(params.get("data_root") or extra.get("data_root") or DEFAULT_DATA_ROOT, params["aws_conn_id"])
        day = params.get("day") or extra.get("dt") or R.latest_summary_day(reports)
        if not day:
            log.warning("no published summary under %s: nothing to roll up", reports.root)
            return {"week": None, "days": [], "uri": None}
        return R.rollup_week(reports, day, ctx["run_id"])

    rollup()


review_sentiment_rollup()
