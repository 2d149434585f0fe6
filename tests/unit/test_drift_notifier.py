"""DriftNotifier, publish's success callback: it words the day's drift verdict and sends it on
the Param's channel, e-mail and Slack through the providers' notifiers, to a real SMTP server
and a real HTTP webhook on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import logging
import socket
import threading

import pytest

from nlp_tasks.airflow.notifier import DriftNotifier
from tests.helpers import DRIFT_RESULT


class TI:
    """The task instance as a callback sees it: publish's XCom."""

    def __init__(self, value, key="drift"):
        self.value, self.key, self.pulled = value, key, []

    def xcom_pull(self, task_ids, key="return_value"):
        self.pulled.append((task_ids, key))
        return self.value if key == self.key else None


def _ctx(value, **params):
    return {"ti": TI(value), "params": {"run_date": "2026-11-03", **params}, "run_id": "run-1"}


@pytest.fixture(autouse=True)
def airflow_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))


def test_the_log_channel_renders_the_param_and_warns(caplog, capsys):
    from airflow.sdk.bases.notifier import BaseNotifier

    notifier = DriftNotifier(channel="{{ params.drift_alert }}", drift_task_id="publish", drift_key="drift")
    assert isinstance(notifier, BaseNotifier)
    ctx = _ctx(DRIFT_RESULT, drift_alert="log")
    with caplog.at_level(logging.WARNING):
        notifier(ctx)  # the way Airflow calls a callback: renders templates, then notify()
    logged = caplog.text + capsys.readouterr().out  # Airflow may route logs through structlog
    assert notifier.channel == "log" and "drift on 2026-11-03" in logged and "text_length" in logged
    assert ctx["ti"].pulled == [("publish", "drift")]  # the settled drift publish pushed


@pytest.mark.parametrize("channel", ["log", "email", "slack", "none"])
def test_a_day_without_drift_sends_nothing(channel, caplog, capsys):
    with caplog.at_level(logging.INFO):
        DriftNotifier(channel=channel, drift_key="drift")(_ctx({"verdict": "ok"}))
    assert "drift on" not in caplog.text + capsys.readouterr().out


def test_an_unknown_channel_is_refused():
    with pytest.raises(ValueError, match="pager"):
        DriftNotifier(channel="pager", drift_key="drift")(_ctx(DRIFT_RESULT))


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    from aiosmtpd.controller import Controller

    got = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
            got.append(envelope)
            return "250 OK"

    with socket.socket() as probe:  # a free port (the controller checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, got
    finally:
        controller.stop()


def test_the_email_channel_sends_through_the_smtp_provider(smtp_server, monkeypatch):
    port, got = smtp_server
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "drift@example.com"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
    notifier = DriftNotifier(channel="email", email_to="{{ params.drift_alert_email }}", drift_key="drift")
    notifier(_ctx(DRIFT_RESULT, drift_alert_email="a@example.com, b@example.com"))
    assert len(got) == 1
    mail = got[0]
    assert sorted(mail.rcpt_tos) == ["a@example.com", "b@example.com"] and mail.mail_from == "drift@example.com"
    msg = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert msg["Subject"] == "[review_sentiment_nightly] drift on 2026-11-03: text_length"
    body = msg.get_body(("html",)).get_content()
    assert "<pre>" in body and "against rolling_7d (2026-11-01, 2026-11-02):" in body


def test_the_email_channel_without_recipients_says_so(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({"conn_type": "smtp", "host": "127.0.0.1"}))
    with pytest.raises(ValueError, match="no e-mail recipients"):
        DriftNotifier(channel="email", drift_key="drift")(_ctx(DRIFT_RESULT))


def test_the_slack_channel_posts_through_the_webhook_provider(monkeypatch):
    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's hook name)
            got.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}/hook/secret"
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_DRIFT", json.dumps({"conn_type": "slackwebhook", "password": url}))
        DriftNotifier(channel="slack", drift_key="drift")(_ctx(DRIFT_RESULT))
    finally:
        srv.shutdown()
        srv.server_close()
    assert len(got) == 1
    path, body = got[0]
    assert path == "/hook/secret" and "drift on 2026-11-03" in body["text"] and "text_length" in body["text"]
