"""Drift alerts as plain functions (standard library only; no Airflow import).

Drift does not fail a run by default: the day is published and an alert goes out on one of
``CHANNELS``:

* ``none``  - nothing (the drift table and the HTML report still say so);
* ``log``   - a WARNING in the task log (default);
* ``email`` - a plain-text mail over SMTP;
* ``slack`` - a message to a Slack incoming webhook;
* ``fail``  - the task that calls :func:`enforce` fails with :class:`DriftDetected` *after*
  the reports are published (so people can look at what drifted).

An alert names the day, the run, the drifted features per reference with their effect sizes
and sample sizes, and a link to the report. It never contains review text.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from email.message import EmailMessage

log = logging.getLogger(__name__)

CHANNELS = ("none", "log", "email", "slack", "fail")


class DriftDetected(RuntimeError):
    """Raised by :func:`enforce` when the channel is ``fail`` and the day drifted."""


def is_drift(result: dict | None) -> bool:
    return bool(result) and result.get("verdict") == "drift"


def format_alert(
    result: dict,
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
                lines.append(
                    f"  - {f}: {'KS D' if r.get('test') == 'ks' else 'TVD'} {r['statistic']:.3f} >= {r['threshold']:g}, "
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


def send_email(
    to: list[str] | str,
    subject: str,
    body: str,
    *,
    host: str = "localhost",
    port: int = 25,
    sender: str = "airflow@localhost",
    username: str | None = None,
    password: str | None = None,
    starttls: bool = False,
    ssl: bool = False,
    timeout: float = 30,
) -> None:
    recipients = [to] if isinstance(to, str) else list(to)
    recipients = [r.strip() for x in recipients for r in x.split(",") if r.strip()]
    if not recipients:
        raise ValueError("no email recipients for the drift alert")
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, sender, ", ".join(recipients)
    msg.set_content(body)
    cls = smtplib.SMTP_SSL if ssl else smtplib.SMTP
    with cls(host, port, timeout=timeout) as smtp:
        if starttls:
            smtp.starttls()
        if username:
            smtp.login(username, password or "")
        smtp.send_message(msg)


def send_slack(webhook_url: str, text: str, timeout: float = 15) -> None:
    """Post to a Slack incoming webhook. Errors never echo the URL (it is a secret)."""
    if not webhook_url or not webhook_url.startswith(("https://", "http://")):
        raise ValueError("the Slack webhook must be an http(s) URL")
    req = urllib.request.Request(
        webhook_url,
        data=json.dumps({"text": text}).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"Slack webhook answered HTTP {resp.status}")
    except OSError as e:
        raise RuntimeError(f"Slack webhook call failed: {type(e).__name__}") from None


def dispatch(
    result: dict | None,
    channel: str,
    *,
    day: str,
    run_id: str = "",
    dag_id: str = "review_sentiment_nightly",
    report_url: str | None = None,
    rows: list[dict] | None = None,
    email: dict | None = None,
    slack_webhook: str | None = None,
    logger: logging.Logger | None = None,
) -> str | None:
    """Send the alert for a drift result on ``channel``; returns the channel used, or None
    when there was nothing to send. ``email``: kwargs of :func:`send_email` incl. ``to``."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown drift alert channel {channel!r}; one of {CHANNELS}")
    if not is_drift(result) or channel == "none":
        return None
    subject, body = format_alert(result, day, run_id, dag_id, report_url, rows)
    if channel == "log":
        send_log(subject, body, logger)
    elif channel == "email":
        opts = dict(email or {})
        send_email(opts.pop("to", []), subject, body, **opts)
    elif channel == "slack":
        send_slack(slack_webhook or "", f"*{subject}*\n{body}")
    elif channel == "fail":
        send_log(subject, body, logger)
        raise DriftDetected(subject)
    return channel


def enforce(result: dict | None, channel: str) -> None:
    """Raise DriftDetected when the day drifted and the channel is ``fail`` (call it after
    publishing, so the reports are there to look at)."""
    if channel == "fail" and is_drift(result):
        raise DriftDetected(f"drift on {', '.join(result.get('drifted', []))}; reports published")
