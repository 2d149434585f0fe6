"""An Airflow notifier that turns the day's drift verdict into an alert.

Use it as a task callback of publish (it runs in the worker, after the reports are live)::

    from nlp_tasks.airflow.notifier import DriftNotifier

    @task(on_success_callback=DriftNotifier(channel="{{ params.drift_alert }}",
                                            email_to="{{ params.drift_alert_email }}"))
    def publish(...): ...

It pulls the day's drift result from XCom (URIs, verdict, feature names: never text): the
return value of ``drift_task_id`` (default ``drift``), or its XCom ``drift_key`` (the nightly
DAG: publish's ``drift``, the day's drift as settled after publishing), reads the day's drift
rows for effect sizes, and words the alert with ``nlp_tasks.alerts.format_alert``. Channels:

* ``none``, ``log``: nothing, or a WARNING in the task log;
* ``email``: the SMTP provider's ``SmtpNotifier`` over connection ``smtp_conn_id`` (an Airflow
  ``smtp`` connection: host, port, login, password; extra ``from_email``, ``disable_ssl``,
  ``disable_tls``), to ``email_to`` or else the connection's extra ``to``;
* ``slack``: the Slack provider's ``SlackWebhookNotifier`` over connection ``slack_conn_id``
  (a ``slackwebhook`` connection whose password is the incoming-webhook URL or token);
* ``fail``: a success callback cannot fail its task, so publish itself enforces it
  (``nlp_tasks.alerts.dispatch(..., "fail")``); here it is logged.

Airflow at import time only (a DAG file may import it at parse); nlp_tasks and the providers
are imported when an alert is sent.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

log = logging.getLogger(__name__)


class DriftNotifier(BaseNotifier):
    template_fields = ("channel", "email_to", "report_url")

    def __init__(
        self,
        channel: str = "log",
        email_to: str | list[str] | None = None,
        smtp_conn_id: str = "smtp_default",
        slack_conn_id: str = "slack_drift",
        drift_task_id: str = "drift",
        report_url: str | None = None,
        drift_key: str | None = None,
    ):
        super().__init__()
        self.channel = channel
        self.email_to = email_to
        self.smtp_conn_id = smtp_conn_id
        self.slack_conn_id = slack_conn_id
        self.drift_task_id = drift_task_id
        self.drift_key = drift_key  # an XCom key of that task; None: its return value
        self.report_url = report_url

    def notify(self, context: Any) -> None:
        from nlp_tasks import alerts

        result = self._result(context)
        channel = (self.channel or "log").strip()
        if channel not in alerts.CHANNELS:
            raise ValueError(f"unknown drift alert channel {channel!r}; one of {alerts.CHANNELS}")
        if result is None or not alerts.is_drift(result) or channel == "none":
            return
        day = self._day(context, result)
        subject, body = alerts.format_alert(
            result,
            day,
            str(context.get("run_id") or ""),
            getattr(context.get("dag"), "dag_id", None) or "review_sentiment_nightly",
            self.report_url or None,
            self._rows(context, day),
        )
        if channel == "email":
            self._email(subject, body).notify(context)
        elif channel == "slack":
            from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

            SlackWebhookNotifier(slack_webhook_conn_id=self.slack_conn_id, text=f"*{subject}*\n{body}").notify(context)
        else:  # log, and fail (enforced by publish itself: a callback cannot fail its task)
            alerts.send_log(subject, body, log)

    def _result(self, context: Any) -> dict | None:
        ti = context.get("ti") or context.get("task_instance")
        if ti is None:
            return None
        if self.drift_key:
            return ti.xcom_pull(task_ids=self.drift_task_id, key=self.drift_key)
        return ti.xcom_pull(task_ids=self.drift_task_id)

    def _day(self, context: Any, result: dict) -> str:
        params = context.get("params") or {}
        return params.get("run_date") or context.get("ds") or str(result.get("dt") or "")

    def _rows(self, context: Any, day: str) -> list[dict] | None:
        """The published drift rows of the day (numbers only), if they can be read."""
        try:
            from nlp_tasks import layout, partitions
            from nlp_tasks.storage import Lake

            root = (context.get("params") or {}).get("data_root")
            if not root or str(root).startswith("s3://"):
                return None  # S3 credentials live in the DAG's connection; the summary suffices
            lake = Lake(root)
            table = partitions.read(lake, lake.uri(layout.report("drift", day)))
            return None if table is None else table.to_pylist()
        except Exception:  # an alert without effect sizes is better than none
            log.info("drift rows not readable for the alert; sending the summary only")
            return None

    def _email(self, subject: str, body: str):
        """The SMTP provider's notifier for this alert: recipients from ``email_to``, else the
        connection's extra ``to``; the plain-text body kept as preformatted HTML."""
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier
        from airflow.sdk import BaseHook

        # A null Param may render as "None" under a non-native template environment.
        to: Any = self.email_to if self.email_to not in (None, "", "None") else None
        if not to:
            to = (BaseHook.get_connection(self.smtp_conn_id).extra_dejson or {}).get("to")
        recipients = [r.strip() for x in ([to] if isinstance(to, str) else to or []) for r in x.split(",") if r.strip()]
        if not recipients:
            raise ValueError("no e-mail recipients for the drift alert: set drift_alert_email or the connection's 'to'")
        # Braces would be read as Jinja by the notifier; the alert holds none but escape them anyway.
        content = "<pre>" + html.escape(body).replace("{", "&#123;").replace("}", "&#125;") + "</pre>"
        return SmtpNotifier(
            to=recipients,
            subject=subject.replace("{", "(").replace("}", ")"),
            html_content=content,
            smtp_conn_id=self.smtp_conn_id,
        )
