"""Drift alerts as plain functions (standard library only; no Airflow import).

Drift does not fail a run by default: the day is published and an alert goes out on one of
``CHANNELS``:

* ``none``  - nothing (the drift table and the HTML report still say so);
* ``log``   - a WARNING in the task log (default);
* ``email`` - a mail through the SMTP provider's ``SmtpNotifier`` (``nlp_tasks.airflow.notifier``);
* ``slack`` - a message through the Slack provider's ``SlackWebhookNotifier`` (the same);
* ``fail``  - :func:`dispatch` raises :class:`DriftDetected`; the nightly DAG's publish task
  calls it *after* the reports are published (so people can look at what drifted).

An alert names the day, the run, the drifted features per reference with their effect sizes
and sample sizes, and a link to the report. It never contains review text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

CHANNELS = ("none", "log", "email", "slack", "fail")


class DriftDetected(RuntimeError):
    """Raised by :func:`dispatch` when the channel is ``fail`` and the day drifted."""


def is_drift(result: Mapping[str, Any] | None) -> bool:
    return result is not None and result.get("verdict") == "drift"


def format_alert(
    result: Mapping[str, Any],
    day: str,
    run_id: str = "",
    dag_id: str = "review_sentiment_nightly",
    report_url: str | None = None,
    rows: list[dict] | None = None,
) -> tuple[str, str]:
    """(subject, body) of a drift alert. ``rows``: the day's drift rows, for effect sizes."""
    by_ref = result.get("drifted_by_reference") or {"reference": result.get("drifted", [])}
    subject = (
        f"[{dag_id}] drift on {day}: " + ", ".join(result.get("drifted", []))
        if result.get("drifted")
        else f"[{dag_id}] drift on {day}"
    )
    lines = [f"Drift detected in the review reports for {day} (run {run_id}).", ""]
    stats = {(r["reference"], r["feature"]): r for r in rows or [] if r.get("verdict") == "drift"}
    for ref, feats in by_ref.items():
        if not feats:
            continue
        days = result.get("reference_days") if ref.startswith("rolling") else [result.get("baseline_date")]
        lines.append(f"against {ref} ({', '.join(d for d in days or [] if d) or '-'}):")
        for f in feats:
            r = stats.get((ref, f))
            if r:
                test = "KS D" if r.get("test") == "ks" else "TVD"
                lines.append(
                    f"  - {f}: {test} {r['statistic']:.3f} >= {r['threshold']:g}, "
                    f"BH p {r['p_adjusted']:.2g} < {r['alpha']:g}, n {r['n_today']} vs {r['n_reference']}"
                )
            else:
                lines.append(f"  - {f}")
    lines += ["", "The reports are published; drift does not fail the run unless the alert channel is 'fail'."]
    if report_url:
        lines.append(f"Report: {report_url}")
    return subject, "\n".join(lines) + "\n"


def send_log(subject: str, body: str, logger: logging.Logger | None = None) -> None:
    (logger or log).warning("%s\n%s", subject, body)


def dispatch(
    result: Mapping[str, Any] | None,
    channel: str,
    *,
    day: str,
    run_id: str = "",
    dag_id: str = "review_sentiment_nightly",
    report_url: str | None = None,
    rows: list[dict] | None = None,
    logger: logging.Logger | None = None,
) -> str | None:
    """Send the alert for a drift result on ``channel`` (``log``, ``fail`` or ``none``; e-mail
    and Slack go through the providers' notifiers in ``nlp_tasks.airflow.notifier``); returns
    the channel used, or None when there was nothing to send."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown drift alert channel {channel!r}; one of {CHANNELS}")
    if channel in ("email", "slack"):
        raise ValueError(f"the {channel} channel is sent by nlp_tasks.airflow.notifier.DriftNotifier")
    if result is None or not is_drift(result) or channel == "none":
        return None
    subject, body = format_alert(result, day, run_id, dag_id, report_url, rows)
    if channel == "log":
        send_log(subject, body, logger)
    elif channel == "fail":
        send_log(subject, body, logger)
        raise DriftDetected(subject)
    return channel
