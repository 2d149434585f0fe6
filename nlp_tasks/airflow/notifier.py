"""An Airflow notifier that turns the drift task's verdict into an alert.

Use it as a task callback of publish (it runs in the worker, after the reports are live)::

    from drift_notifier import DriftNotifier
    @task(on_success_callback=DriftNotifier(channel="{{ params.drift_alert }}",
                                            email_to="{{ params.drift_alert_email }}"))
    def publish(...): ...

It pulls the day's drift result from XCom (URIs, verdict, feature names: never text): the
return value of ``drift_task_id`` (default ``drift``), or its XCom ``drift_key`` (the nightly
DAG: publish's ``drift``, the day's drift as settled after publishing), reads the day's drift rows for effect sizes, and sends through
``nlp_tasks.alerts``. Channels: none, log, email (SMTP connection ``smtp_conn_id``: host,
port, login, password; extra ``from_email``, ``starttls``, ``ssl``), slack (connection
``slack_conn_id`` whose password - or host - is the incoming-webhook URL). The ``fail``
channel cannot fail a task from a success callback: the task itself calls
``nlp_tasks.alerts.enforce`` for that; here it only logs.

Standard library + Airflow at import time; nlp_tasks is imported when an alert is sent.
"""

from __future__ import annotations

import logging

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

    def _result(self, context) -> dict | None:
        ti = context.get("ti") or context.get("task_instance")
        if ti is None:
            return None
        if self.drift_key:
            return ti.xcom_pull(task_ids=self.drift_task_id, key=self.drift_key)
        return ti.xcom_pull(task_ids=self.drift_task_id)

    def _day(self, context, result: dict) -> str:
        params = context.get("params") or {}
        return params.get("run_date") or context.get("ds") or str(result.get("dt") or "")

    def notify(self, context) -> None:
        from nlp_tasks import alerts

        result = self._result(context)
        channel = (self.channel or "log").strip()
        if not alerts.is_drift(result) or channel == "none":
            return
        kwargs = {
            "day": self._day(context, result),
            "run_id": str(context.get("run_id") or ""),
            "dag_id": getattr(context.get("dag"), "dag_id", None) or "review_sentiment_nightly",
            "report_url": self.report_url or None,
            "rows": self._rows(context, result),
            "logger": log,
        }
        if channel == "fail":  # enforced by the task (alerts.enforce); a callback cannot fail it
            channel = "log"
        if channel == "email":
            kwargs["email"] = self._smtp()
        elif channel == "slack":
            kwargs["slack_webhook"] = self._slack_webhook()
        alerts.dispatch(result, channel, **kwargs)

    def _rows(self, context, result: dict) -> list[dict] | None:
        """The published drift rows of the day (numbers only), if they can be read."""
        try:
            from nlp_tasks import layout, partitions
            from nlp_tasks.storage import Lake

            root = (context.get("params") or {}).get("data_root")
            if not root or str(root).startswith("s3://"):
                return None  # S3 credentials live in the DAG's connection; the summary suffices
            lake = Lake(root)
            table = partitions.read(lake, lake.uri(layout.report("drift", self._day(context, result))))
            return None if table is None else table.to_pylist()
        except Exception:  # an alert without effect sizes is better than none
            log.info("drift rows not readable for the alert; sending the summary only")
            return None

    def _smtp(self) -> dict:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.smtp_conn_id)
        extra = conn.extra_dejson or {}
        return {
            # A null Param may render as "None" under a non-native template environment.
            "to": (self.email_to if self.email_to not in (None, "", "None") else None) or extra.get("to") or [],
            "host": conn.host or "localhost",
            "port": int(conn.port or 25),
            "sender": extra.get("from_email") or "airflow@localhost",
            "username": conn.login or None,
            "password": conn.password or None,
            "starttls": bool(extra.get("starttls", False)),
            "ssl": bool(extra.get("ssl", False)),
        }

    def _slack_webhook(self) -> str:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.slack_conn_id)
        url = conn.password or conn.host or ""
        return url if url.startswith("http") else f"https://hooks.slack.com/services/{url.lstrip('/')}"
