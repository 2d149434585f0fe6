"""Airflow UI plugin: the daily HTML review report, one click from a run.

* a FastAPI app mounted on the API server at ``/nlp-reports``:
  ``/nlp-reports/`` (the report days with their headline numbers and drift verdict),
  ``/nlp-reports/day/{YYYY-MM-DD}`` (a day's page) and ``/nlp-reports/run/{dag_id}/{run_id}``
  (the page of the day that run processed); ``/nlp-reports`` redirects to ``/nlp-reports/``.
  Report pages get a bar linking the list, the previous and next day and the Airflow run; errors
  are HTML pages for a browser (JSON for API clients);
* a "Review report" tab on DAG run pages (an external view, destination ``dag_run``, whose
  URL the UI fills with the run's ids; Airflow shows it on every DAG's runs, and it answers 404,
  saying so, for runs of other DAGs) and a "Review reports" entry in the Browse menu;
* a "Review report" extra link on the nightly DAG's ``publish`` task, to that tab (it stays
  inside Airflow).

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
import html
import logging
import re

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.bases.operatorlink import BaseOperatorLink
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

NIGHTLY_DAG_ID = "review_sentiment_nightly"
URL_PREFIX = "/nlp-reports"
TAB_ROUTE = "review-report"  # the external view's url_route: the UI's .../runs/{run_id}/plugin/review-report
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def allowed_root(root: str | None) -> str:
    """The root to read, if the allow-list allows it (the default root, or one under an entry of
    $NLP_TASKS_ALLOWED_ROOTS in the API server's environment); else 403, nothing read."""
    from nlp_tasks import roots

    default = roots.default_root()
    root = root or default
    try:
        return roots.check_root(root, default)
    except roots.RootNotAllowed as e:
        log.warning("refused a report page under a data root that is not allowed")
        raise HTTPException(403, str(e)) from None


def _lake(root: str | None = None):
    from nlp_tasks.storage import lake_for

    return lake_for(allowed_root(root))


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
    from nlp_tasks import layout

    for d in lake.list_dirs(lake.uri(layout.report_table(layout.HTML))):
        name = d.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith("dt=") and _DAY.fullmatch(name[3:]):
            out.append(name[3:])
    return sorted(out, reverse=True)


def run_day(dag_id: str, run_id: str) -> tuple[str, str | None]:
    """(partition date, data_root override) that a nightly run processed, from the metadata DB:
    the ``run_date`` conf if given, else the logical date, else the run-after date (as the DAG)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

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

# -- pages ------------------------------------------------------------------------------------
TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    502: "Report storage not reachable",
}


def _airflow_base(request: Request) -> str:
    """The Airflow UI's path prefix ('' or e.g. '/airflow'), from where this app is mounted."""
    root = request.scope.get("root_path", "") or ""
    return root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else root


def run_url(request: Request, run_id: str, dag_id: str = NIGHTLY_DAG_ID) -> str:
    from urllib.parse import quote

    return f"{_airflow_base(request)}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _page(title: str, body: str) -> str:
    from nlp_tasks.html_report import CSS

    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="color-scheme" content="light dark"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body>{body}</body></html>"
    )


def _nav(request: Request, day: str | None = None, run_id: str | None = None) -> str:
    """The bar on top of a report page: the list, the previous/next day, the Airflow run."""
    root = f"{request.scope.get('root_path', '')}/"
    parts = [f'<a href="{html.escape(root)}">← All review reports</a>']
    if day:
        try:
            days = sorted(report_days())
        except HTTPException:
            days = []
        earlier = [d for d in days if d < day]
        later = [d for d in days if d > day]
        if earlier:
            parts.append(f'<a rel="prev" href="{html.escape(root)}day/{earlier[-1]}">‹ {earlier[-1]}</a>')
        if later:
            parts.append(f'<a rel="next" href="{html.escape(root)}day/{later[0]}">{later[0]} ›</a>')
    if run_id:
        # target=_top: from inside the run's tab (an iframe) the whole Airflow page moves.
        href = html.escape(run_url(request, run_id))
        parts.append(f'<a class=right target="_top" href="{href}">Airflow run {html.escape(run_id)} ↗</a>')
    return f'<nav class=reports aria-label="review reports">{"".join(parts)}</nav>'


def _with_nav(page: str, nav: str) -> str:
    from nlp_tasks.html_report import NAV_MARKER

    if NAV_MARKER in page:
        return page.replace(NAV_MARKER, nav, 1)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, page, count=1)  # pages written before the marker


def _page_run_id(page: str) -> str | None:
    m = re.search(r"published by run (?:<span class=id>)?([^<]+)</span>", page)
    return html.unescape(m.group(1)) if m else None


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException):
    """A browser (the run's tab, the Browse entry) gets a page; an API client gets JSON."""
    if not _wants_html(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))
    title = TITLES.get(exc.status_code, "Error")
    hint = {
        401: f'<p>Log in to <a target="_top" href="{html.escape(_airflow_base(request))}/">Airflow</a> first, '
        "then open this page again.</p>",
        404: "<p>A day's report exists once its nightly run has published it. If the run is still going, "
        "or failed before <code>publish</code>, look at the run's tasks in Airflow.</p>",
    }.get(exc.status_code, "")
    root = f"{request.scope.get('root_path', '')}/"
    body = (
        f'<nav class=reports><a href="{html.escape(root)}">← All review reports</a></nav>'
        f"<h1>{exc.status_code} · {html.escape(title)}</h1><p>{html.escape(str(exc.detail))}</p>{hint}"
    )
    return HTMLResponse(
        _page(f"{title} · review reports", body), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


def day_rows(days: list[str], root: str | None = None) -> dict[str, dict]:
    """Each day's overall summary row (headline numbers and drift verdict), where published."""
    from nlp_tasks import layout, partitions

    lake = _lake(root)
    cols = [
        "scope",
        "rows_in",
        "rows_reported",
        "rows_quarantined",
        "negative_share",
        "neutral_share",
        "positive_share",
        "rating_agreement",
        "drift_verdict",
    ]
    out = {}
    for d in days:
        try:
            t = partitions.read(lake, lake.uri(layout.report("summary", d)), cols)
        except Exception as e:  # one unreadable day never hides the others
            log.warning("summary of %s unreadable: %s", d, type(e).__name__)
            continue
        if t is not None:
            out[d] = next((r for r in t.to_pylist() if r["scope"] == "overall"), {})
    return out


LIST_DAYS = 120  # the list shows this many most recent days


@app.get("/", response_class=HTMLResponse, dependencies=[Depends(can_read_nightly)])
def index() -> str:
    from nlp_tasks.html_report import verdict_words

    days = report_days()
    shown = days[:LIST_DAYS]
    rows = day_rows(shown)

    def pct(v):
        return "–" if v is None else f"{v:.0%}"

    body = []
    for d in shown:
        r = rows.get(d, {})
        verdict = r.get("drift_verdict")
        cells = [
            (f'<a href="day/{d}">{d}</a>', "l"),
            (f"{dt.date.fromisoformat(d):%a}", "l"),
            (r.get("rows_in", "–"), ""),
            (r.get("rows_reported", "–"), ""),
            (r.get("rows_quarantined", "–"), ""),
            (pct(r.get("negative_share")), ""),
            (pct(r.get("neutral_share")), ""),
            (pct(r.get("positive_share")), ""),
            (pct(r.get("rating_agreement")), ""),
            (html.escape(verdict_words(verdict)), "l verdict"),
        ]
        cls = "significant" if verdict == "drift" else ""
        body.append(f'<tr class="{cls}">' + "".join(f'<td class="{k}">{v}</td>' for v, k in cells) + "</tr>")
    head = "".join(
        f'<th class="{k}">{h}</th>'
        for h, k in (
            ("day", "l"),
            ("", "l"),
            ("rows in", ""),
            ("reported", ""),
            ("quarantined", ""),
            ("negative", ""),
            ("neutral", ""),
            ("positive", ""),
            ("stars agree", ""),
            ("drift", "l"),
        )
    )
    more = f"<p class=muted>The {LIST_DAYS} most recent of {len(days)} days.</p>" if len(days) > LIST_DAYS else ""
    table = (
        f"<div class=scroll><table class=days><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>{more}"
        if days
        else "<p>No reports yet: a day's report appears here once its nightly run has published it.</p>"
    )
    return _page(
        "Review reports",
        "<h1>Review reports</h1><p class=sub>One page per day of reviews, written by "
        f"<code>review_sentiment_nightly</code>; newest first.</p>{table}",
    )


@app.get("/day/{day}", response_class=HTMLResponse, dependencies=[Depends(can_read_nightly)])
def day_page(day: str, request: Request) -> str:
    page = read_page(day)
    return _with_nav(page, _nav(request, day, _page_run_id(page)))


@app.get("/run/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=[Depends(can_read_run)])
def run_page(dag_id: str, run_id: str, request: Request) -> str:
    if dag_id != NIGHTLY_DAG_ID:
        # The UI shows the tab on every DAG's runs; only the nightly DAG's have reports.
        raise HTTPException(404, f"Review reports exist for runs of {NIGHTLY_DAG_ID} only, not of {dag_id}.")
    day, root = run_day(dag_id, run_id)
    page = read_page(day, root)
    # The run linked is the one that published the page (a later re-run of the day replaces it);
    # prev/next are days of the default root, so a run under another root gets none.
    return _with_nav(page, _nav(request, day if root is None else None, _page_run_id(page) or run_id))


class _SlashRedirect:
    """``/nlp-reports`` (no slash) is the UI's 404 otherwise: redirect it to the list."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") == (scope.get("root_path") or "") + URL_PREFIX:
            qs = scope.get("query_string", b"").decode("latin-1")
            target = (scope.get("root_path") or "") + URL_PREFIX + "/" + (f"?{qs}" if qs else "")
            await RedirectResponse(target, status_code=307)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ReviewReportLink(BaseOperatorLink):
    """Extra link on the nightly DAG's publish task (empty, hence hidden, elsewhere)."""

    name = "Review report"

    def get_link(self, operator, *, ti_key) -> str:
        if ti_key.dag_id != NIGHTLY_DAG_ID or ti_key.task_id != "publish":
            return ""
        from urllib.parse import quote

        from airflow.configuration import conf

        base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
        # The run's "Review report" tab: the page inside Airflow, not the bare plugin route.
        return f"{base}/dags/{quote(ti_key.dag_id, safe='')}/runs/{quote(ti_key.run_id, safe='')}/plugin/{TAB_ROUTE}"


class NlpReportsPlugin(AirflowPlugin):
    name = "nlp_reports"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "NLP review reports"}]
    fastapi_root_middlewares = [
        {"middleware": _SlashRedirect, "args": [], "kwargs": {}, "name": "nlp-reports slash redirect"}
    ]
    external_views = [
        {
            "name": "Review report",
            # Relative to the UI; the UI replaces {DAG_ID} and {RUN_ID} on a run's page.
            "href": "nlp-reports/run/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": TAB_ROUTE,
        },
        {
            "name": "Review reports",
            "href": "nlp-reports/",
            "destination": "nav",
            "category": "browse",
            "url_route": "review-reports",
        },
    ]
    global_operator_extra_links = [ReviewReportLink()]
