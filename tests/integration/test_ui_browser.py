"""The Airflow UI and the report pages as a person uses them, in a real browser.

Debian's Chromium (installed by `make browser`, which `make test` runs), driven by Playwright
(no browser download: /usr/bin/chromium), against `local_deployment`: a real api-server,
scheduler (LocalExecutor) and dag-processor on 127.0.0.1 and PostgreSQL, a local data lake.
Unauthenticated requests get 401; then, logged in: the trigger form with changed Params, the
run's "Review report" tab (title, tiles, every chart loaded, the drift verdict column in view
at 1280 px), Browse > Review reports and the publish task's extra link. Screenshots are saved
under build/test-artifacts/ui/ (README's is one of them). Last, the run's real StatsD datagrams
go through deploy/statsd-mapping.yaml. The fixture stops every process it started.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from nlp_tasks.observability import metric_segment
from nlp_tasks.sample_data import write_day
from nlp_tasks.sentiment.engine import plan
from nlp_tasks.storage import Lake
from tests.helpers import publish_day

from .conftest import DAG_ID
from .statsd_mapping import check_datagrams

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "build" / "test-artifacts" / "ui"
CHROMIUM = os.environ.get("NLP_TASKS_CHROMIUM", "/usr/bin/chromium")
# The flags that work on a machine without a display, GPU or outside network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAY = "2026-11-17"
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `make browser` installs Debian's chromium "
            "(it could not here: no apt-get, or no root/sudo)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `make venv` installs requirements-dev.txt")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)  # headless, a fresh profile
        try:
            yield browser
        finally:
            browser.close()


def _status(url: str, follow: bool = True) -> tuple[int, dict]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(*([] if follow else [NoRedirect()]))
    try:
        with opener.open(urllib.request.Request(url, headers={"Accept": "text/html"}), timeout=30) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def _seed(lake_root: str) -> dict:
    """The day to process (raw input, 6 bad records among 32) and seven published days before
    it, so the report has history, references and a drift chart."""
    lake = Lake(lake_root)
    rng = np.random.default_rng(5)
    day = dt.date.fromisoformat(DAY)
    for i in range(7, 0, -1):
        publish_day(lake, (day - dt.timedelta(days=i)).isoformat(), rng)
    return write_day(lake, DAY, n_reviews=24)


def _shot(page, name: str, **kw) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **kw)
    return path


def _wait_for_run(d, timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        d.check_alive()
        runs = d.api("GET", f"/dags/{DAG_ID}/dagRuns")["dag_runs"]
        if runs and runs[0]["state"] == "success":
            return runs[0]
        if runs and runs[0]["state"] == "failed":
            raise AssertionError(f"the triggered run failed\n{d.task_log_tails(runs[0]['dag_run_id'])}")
        time.sleep(2)
    raise AssertionError(f"no successful run after {timeout:.0f}s\n{d.all_log_tails()}")


def _report_frame(page):
    frame = page.frame_locator("iframe")
    frame.locator("h1").wait_for(timeout=30_000)
    return frame, next(f for f in page.frames if "/nlp-reports/" in f.url)


def test_ui_in_a_real_browser(local_deployment, chromium, model_dir):
    d = local_deployment
    t0 = time.time()
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    seeded = _seed(d.lake_root)
    password = json.loads((d.home / "passwords.json").read_text())["admin"]
    base = d.api_url

    # Not logged in: every plugin route answers 401; /nlp-reports redirects to the list.
    for path in ("/nlp-reports/", f"/nlp-reports/day/{DAY}", f"/nlp-reports/run/{DAG_ID}/x"):
        assert _status(base + path)[0] == 401, path
    status, headers = _status(base + "/nlp-reports", follow=False)
    assert status == 307 and headers["location"] == "/nlp-reports/", (status, headers)

    ctx = chromium.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Log in.
    page.goto(base + "/")
    page.locator("input[name=username]").wait_for(timeout=60_000)
    _shot(page, "01-login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "/auth/" not in u and "login" not in u, timeout=60_000)

    # Trigger from the form, with changed Params: the day to process (a date picker) and the
    # share of invalid records allowed (the day has 6 of 32: the default 5% would fail it).
    page.goto(f"{base}/dags/{DAG_ID}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    for section in ("Data and storage", "Model", "Validation", "Drift and alerts", "Cost"):
        assert dialog.get_by_text(section, exact=True).is_visible(), section
    dialog.get_by_text("Data and storage", exact=True).click()
    page.locator("#element_run_date").fill(DAY)
    dialog.get_by_text("Validation", exact=True).click()
    page.locator("[name=element_max_invalid_fraction]").fill("0.3")
    assert dialog.get_by_text("Invalid records allowed (share)").is_visible()
    _shot(page, "02-trigger-form")
    dialog.get_by_role("button", name="Trigger").click()
    dialog.wait_for(state="hidden", timeout=30_000)

    run = _wait_for_run(d)
    assert run["conf"]["run_date"] == DAY and run["conf"]["max_invalid_fraction"] == 0.3, run["conf"]
    run_id = run["dag_run_id"]
    print(f"run {run_id} succeeded {time.time() - t0:.0f}s into the test")

    # The run's "Review report" tab.
    run_url = f"{base}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"
    page.goto(run_url)
    page.get_by_text("Review report", exact=True).first.click()
    page.wait_for_url("**/plugin/review-report", timeout=30_000)
    frame, report = _report_frame(page)
    assert frame.locator("h1").inner_text().startswith(f"Review sentiment — {DAY}")
    tiles = {t.inner_text().split("\n")[-1]: t.inner_text().split("\n")[0] for t in frame.locator(".kpi").all()}
    assert tiles["rows in"] == str(seeded["records"]) and tiles["quarantined"] == str(seeded["expected_bad"]), tiles
    assert tiles["drift"] in ("drift", "no drift"), tiles
    report.wait_for_load_state("load")
    images = report.evaluate(
        "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0, i.naturalWidth, i.width])"
    )
    assert len(images) == 4 and all(ok for _, ok, _, _ in images), images
    assert all(natural >= 2 * shown - 2 for _, _, natural, shown in images), images  # 2x PNGs
    # The page fits the tab at 1280 px: no sideways scroll of the page, and the drift table's
    # verdict column is in view without scrolling its box.
    fit = report.evaluate(
        """() => {
        const th = [...document.querySelectorAll('table.drift th')].find(t => t.textContent === 'verdict');
        const r = th.getBoundingClientRect(), box = th.closest('.scroll').getBoundingClientRect();
        return {page: document.documentElement.scrollWidth, view: window.innerWidth, right: r.right, box: box.right,
                cells: [...document.querySelectorAll('table.drift td.verdict')].map(c => c.textContent)};
        }"""
    )
    assert fit["page"] <= fit["view"] and fit["right"] <= min(fit["box"], fit["view"]), fit
    assert fit["cells"] and "no_reference" not in " ".join(fit["cells"]), fit
    _shot(page, "03-run-review-report-tab")
    # The bar links the list and the Airflow run (in the whole window, not the frame).
    run_link = frame.locator("nav.reports a[target=_top]")
    assert run_link.get_attribute("href") == f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"
    assert frame.locator("nav.reports a").first.inner_text() == "← All review reports"

    # Browse > Review reports: the styled list, the day with its numbers and verdict.
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Review reports").click()
    page.wait_for_url("**/plugin/review-reports**", timeout=30_000)
    lst = page.frame_locator("iframe")
    lst.locator("table.days").wait_for(timeout=30_000)
    row = lst.locator("table.days tr", has=lst.locator(f'a[href="day/{DAY}"]'))
    assert row.locator("td").nth(2).inner_text() == str(seeded["records"])
    assert "file://" not in lst.locator("body").inner_text()
    _shot(page, "04-browse-review-reports")
    lst.locator(f'a[href="day/{DAY}"]').click()
    lst.locator("h1").filter(has_text=DAY).wait_for(timeout=30_000)

    # The publish task's extra link opens the run's tab, inside Airflow.
    page.goto(f"{run_url}/tasks/publish/details")  # the task instance's Details tab lists its extra links
    link = page.get_by_role("link", name="Review report")
    link.first.wait_for(timeout=30_000)
    href = link.first.get_attribute("href")
    assert href == f"{run_url}/plugin/review-report", href
    _shot(page, "05-publish-extra-link")
    link.first.click()
    page.wait_for_url("**/plugin/review-report", timeout=30_000)
    _report_frame(page)

    # A run tab of another DAG, and a day without a report: HTML pages, not JSON.
    page.goto(f"{base}/nlp-reports/run/other_dag/x")
    assert "review_sentiment_nightly only" in page.locator("body").inner_text()
    page.goto(f"{base}/nlp-reports/day/2026-01-01")
    assert page.locator("h1").inner_text() == "404 · Not found"
    assert not errors, errors
    ctx.close()

    # The run's real StatsD datagrams (with tags, as the Helm values send them) all map to
    # labelled series through deploy/statsd-mapping.yaml; kept as an artefact.
    lines = d.wait_for(
        "publish's run metrics",
        lambda: [x for x in d.statsd.lines() if x.startswith("airflow.nlp_tasks.run.rows_in")] and d.statsd.lines(),
        30,
    )
    (ARTIFACTS / "statsd-datagrams.txt").write_text(
        "\n".join(x for x in lines if x.startswith("airflow.nlp_tasks.")) + "\n"
    )
    got = check_datagrams(lines)
    for name in (
        "nlp_tasks_rows_total",
        "nlp_tasks_stage_seconds",
        "nlp_tasks_pii_entities_total",
        "nlp_tasks_scoring_tasks_total",
        "nlp_tasks_run_cost_per_1000_reviews",
    ):
        assert name in got, (name, sorted(got))
    assert all(dict(labels).get("dag_id") == DAG_ID for labels in got["nlp_tasks_rows_total"]), got[
        "nlp_tasks_rows_total"
    ]
    assert {dict(labels)["stage"] for labels in got["nlp_tasks_rows_total"]} >= {
        "ingest",
        "validate",
        "redact",
        "score",
        "publish",
    }
    (scoring,) = got["nlp_tasks_scoring_tasks_total"]
    provider = metric_segment(plan(model_dir, "auto")[0].provider)  # what the worker picks on this CPU
    assert dict(scoring)["provider"] == provider and dict(scoring)["model_version"], scoring
    print(f"browser test done in {time.time() - t0:.0f}s; screenshots in {ARTIFACTS}")
