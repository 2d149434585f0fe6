"""Airflow UI plugin: the daily HTML review report, one click from a run.

* a FastAPI app mounted on the API server at ``/nlp-reports``:
  ``/nlp-reports/`` (the list of report days), ``/nlp-reports/day/{YYYY-MM-DD}`` (a day's page)
  and ``/nlp-reports/run/{dag_id}/{run_id}`` (the page of the day that run processed);
* a "Review report" tab on every DAG run page (an external view, destination ``dag_run``,
  whose URL the UI fills with the run's ids) and a "Review reports" entry in the Browse menu;
* a "Review report" extra link on the nightly DAG's ``publish`` task.

Pages are read from ``reports/html/dt=.../report.html`` under ``$NLP_TASKS_DATA_ROOT`` (the
API server's environment; s3:// roots use the default AWS credential chain and
``AWS_ENDPOINT_URL``), or under the run's ``data_root`` conf when a run overrode it, if that root is allowed
(nlp_tasks.roots: the default root plus ``$NLP_TASKS_ALLOWED_ROOTS``; any other is a 403
naming the root and the setting, and nothing is read). Every
route needs read access to the DAG (Airflow's own auth: the UI's session cookie or a bearer
token). The pages hold aggregates only, never review text.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.bases.operatorlink import BaseOperatorLink

log = logging.getLogger(__name__)

NIGHTLY_DAG_ID = "review_sentiment_nightly"
URL_PREFIX = "/nlp-reports"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def default_root() -> str:
    return os.environ.get("NLP_TASKS_DATA_ROOT") or "file://" + os.path.join(REPO_ROOT, "lake")


def allowed_root(root: str | None) -> str:
    """The root to read, if the allow-list allows it (the default root, or one under an entry of
    $NLP_TASKS_ALLOWED_ROOTS in the API server's environment); else 403, nothing read."""
    from nlp_tasks import roots

    root = root or default_root()
    try:
        return roots.check_root(root, default_root())
    except roots.RootNotAllowed as e:
        log.warning("refused a report page under a data root that is not allowed")
        raise HTTPException(403, str(e)) from None


def _lake(root: str | None = None):
    from nlp_tasks.storage import Lake, S3Options

    root = allowed_root(root)
    s3 = S3Options(endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), region=os.environ.get("AWS_DEFAULT_REGION"))
    return Lake(root, s3)


def _check_day(day: str) -> str:
    if not _DAY.fullmatch(day or ""):
        raise HTTPException(400, "day must be YYYY-MM-DD")
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        raise HTTPException(400, "day must be a valid date") from None
    return day


def read_page(day: str, root: str | None = None) -> str:
    from nlp_tasks.html_report import html_report

    lake = _lake(root)
    uri = lake.uri(html_report(_check_day(day)))
    try:
        if not lake.exists(uri):
            raise HTTPException(404, f"no HTML report for {day}")
        return lake.read_text(uri)
    except HTTPException:
        raise
    except OSError as e:
        log.warning("could not read the report of %s: %s", day, type(e).__name__)
        raise HTTPException(502, "report storage not reachable") from None


def report_days(root: str | None = None) -> list[str]:
    lake = _lake(root)
    out = []
    for d in lake.list_dirs(lake.uri("reports", "html")):
        name = d.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith("dt=") and _DAY.fullmatch(name[3:]):
            out.append(name[3:])
    return sorted(out, reverse=True)


def run_day(dag_id: str, run_id: str) -> tuple[str, str | None]:
    """(partition date, data_root override) that a nightly run processed, from the metadata DB:
    the ``run_date`` conf if given, else the logical date, else the run-after date (as the DAG)."""
    from sqlalchemy import select

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            raise HTTPException(404, "no such DAG run")
        conf = run.conf or {}
        day = conf.get("run_date") or (run.logical_date or run.run_after).date().isoformat()
        return day, conf.get("data_root")


def _dag_read_dependency(dag_id: str | None):
    """Airflow's own authorization: read access to the DAG (path dag_id, else ``dag_id``)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=dag_id)


can_read_run = _dag_read_dependency(None)
can_read_nightly = _dag_read_dependency(NIGHTLY_DAG_ID)

app = FastAPI(title="NLP review reports", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/", response_class=HTMLResponse, dependencies=[Depends(can_read_nightly)])
def index() -> str:
    import html

    days = report_days()
    items = "".join(f'<li><a href="day/{d}">{d}</a></li>' for d in days) or "<li>no reports yet</li>"
    return f"<!doctype html><html><head><meta charset=utf-8><title>Review reports</title></head><body><h1>Review reports</h1><p>{html.escape(default_root())}</p><ul>{items}</ul></body></html>"


@app.get("/day/{day}", response_class=HTMLResponse, dependencies=[Depends(can_read_nightly)])
def day_page(day: str) -> str:
    return read_page(day)


@app.get("/run/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=[Depends(can_read_run)])
def run_page(dag_id: str, run_id: str) -> str:
    if dag_id != NIGHTLY_DAG_ID:
        return "<!doctype html><p>Review reports exist for runs of review_sentiment_nightly only.</p>"
    day, root = run_day(dag_id, run_id)
    return read_page(day, root)


class ReviewReportLink(BaseOperatorLink):
    """Extra link on the nightly DAG's publish task (empty, hence hidden, elsewhere)."""

    name = "Review report"

    def get_link(self, operator, *, ti_key) -> str:
        if ti_key.dag_id != NIGHTLY_DAG_ID or ti_key.task_id != "publish":
            return ""
        from urllib.parse import quote

        from airflow.configuration import conf

        base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
        return f"{base}{URL_PREFIX}/run/{quote(ti_key.dag_id, safe='')}/{quote(ti_key.run_id, safe='')}"


class NlpReportsPlugin(AirflowPlugin):
    name = "nlp_reports"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "NLP review reports"}]
    external_views = [
        {
            "name": "Review report",
            # Relative to the UI; the UI replaces {DAG_ID} and {RUN_ID} on a run's page.
            "href": "nlp-reports/run/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "review-report",
        },
        {"name": "Review reports", "href": "nlp-reports/", "destination": "nav", "category": "browse", "url_route": "review-reports"},
    ]
    global_operator_extra_links = [ReviewReportLink()]
