"""A real Airflow deployment for integration tests: PostgreSQL, Redis, CeleryExecutor.

`local_deployment` starts the api-server, a scheduler with the LocalExecutor and the
dag-processor on PostgreSQL, with a local folder as the data lake (the browser test's).

`celery_deployment` starts `airflow api-server`, `airflow scheduler`, `airflow dag-processor`
and two `airflow celery worker`s (one for the default queue, one for the inference queue,
as a GPU worker would be) as separate processes, against

- its own fresh PostgreSQL database on 127.0.0.1:5432 (user postgres, trust auth), dropped
  at the end;
- a Redis database number of its own on 127.0.0.1:6379 (an empty one), flushed at the end;
- moto's S3 server (the `s3_endpoint` fixture of tests/conftest.py), the test's bucket
  (`s3_bucket`, where `s3_lake` lives) allowed as a data root (NLP_TASKS_ALLOWED_ROOTS);
- a StatsD collector: a UDP socket on 127.0.0.1 that every Airflow process sends its
  metrics to (`[metrics] statsd_on`), so the test sees what a StatsD server would.

Every process is started in its own process group and that group is ended at teardown,
whatever happened; the logs of every process are in the Airflow home and are printed when
something fails.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers import aws_connection

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = {"host": "127.0.0.1", "port": 6379}
DAG_ID = "review_sentiment_nightly"
INFERENCE_POOL = "inference"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "integration: starts a real Airflow (CeleryExecutor, PostgreSQL, Redis) and runs the DAG on it (slow)",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- services -------------------------------------------------------------------------------
@pytest.fixture
def postgres_db():
    """A fresh, uniquely named database on the local PostgreSQL server; dropped afterwards."""
    try:
        import psycopg2
    except ImportError:  # pragma: no cover - the Makefile installs it
        pytest.fail("psycopg2 is not installed: run `make venv` (requirements.txt pins psycopg2-binary)")
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as e:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG['host']}:{PG['port']} as user {PG['user']} (trust auth): {e}".strip()
            + "\nThe integration tests need a running PostgreSQL server there."
        )
    admin.autocommit = True
    name = f"nlp_tasks_it_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            # FORCE ends any session a stray process still holds (PostgreSQL 13+).
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def redis_db():
    """The number of an empty Redis database (1..15) on the local server; flushed afterwards."""
    import redis

    probe = redis.Redis(db=0, socket_connect_timeout=5, **REDIS)
    try:
        probe.ping()
        databases = int(probe.config_get("databases").get("databases", 16))
    except redis.exceptions.ConnectionError as e:
        pytest.fail(
            f"Redis is not reachable at {REDIS['host']}:{REDIS['port']}: {e}\n"
            "The integration tests need a running Redis server there."
        )
    except redis.exceptions.ResponseError:  # CONFIG may be disabled
        databases = 16
    finally:
        probe.close()
    candidates = list(range(1, databases))
    random.shuffle(candidates)
    for n in candidates:
        client = redis.Redis(db=n, **REDIS)
        # Claim the database with a marker key so a concurrent run picks another one.
        if client.dbsize() == 0 and client.set("nlp_tasks_it:claimed", "1", nx=True):
            break
        client.close()
    else:
        pytest.fail(f"no empty Redis database among 1..{databases - 1} on {REDIS['host']}:{REDIS['port']}")
    try:
        yield n
    finally:
        client.flushdb()
        client.close()


class StatsdCollector:
    """What a StatsD server would receive: every datagram's lines, kept in order."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._lines += data.decode("utf-8", "replace").splitlines()

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def statsd_collector():
    collector = StatsdCollector()
    yield collector
    collector.close()


# -- the deployment ---------------------------------------------------------------------------
class Deployment:
    """The processes of one Airflow deployment, its environment and a REST API client."""

    def __init__(self, home: Path, env: dict, api_url: str, queues: dict):
        self.home = home
        self.env = env
        self.api_url = api_url
        self.queues = queues
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}
        self._token: str | None = None

    # processes
    def start(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "w")
        self._logs[name] = log
        self.procs[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: teardown ends its children too
        )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"`airflow {name}` exited with {proc.returncode}\n{self.log_tail(name)}")

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            alive = [p for p in self.procs.values() if p.poll() is None or _group_alive(p.pid)]
            for proc in alive:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + grace
            for proc in alive:
                try:
                    proc.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    pass
            while time.time() < deadline and any(_group_alive(p.pid) for p in alive):
                time.sleep(0.2)
        for log in self._logs.values():
            log.close()

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.home / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {path} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])

    def all_log_tails(self, lines: int = 40) -> str:
        return "\n".join(self.log_tail(name, lines) for name in self.procs)

    def task_log_tails(self, run_id: str, lines: int = 40) -> str:
        out = []
        for path in sorted((self.home / "logs").glob(f"dag_id={DAG_ID}/run_id={run_id}/task_id=*/**/*.log")):
            text = path.read_text(errors="replace").splitlines()
            out.append(f"--- {path.relative_to(self.home)} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    # CLI
    def cli(self, *args: str, timeout: float = 180) -> str:
        proc = subprocess.run(
            [str(BIN / "airflow"), *args], env=self.env, cwd=self.home, capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"`airflow {' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc.stdout

    # REST API (/api/v2), authenticated as the simple auth manager's admin
    def api(self, method: str, path: str, body: dict | None = None, ok=(200, 201)) -> dict:
        if self._token is None:
            self._token = self._login()
        req = urllib.request.Request(
            f"{self.api_url}/api/v2{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        if status not in ok:
            raise AssertionError(f"{method} {path} -> {status}: {payload[:2000]!r}")
        return json.loads(payload) if payload else {}

    def _login(self) -> str:
        passwords = json.loads((self.home / "passwords.json").read_text())
        req = urllib.request.Request(
            f"{self.api_url}/auth/token",
            method="POST",
            data=json.dumps({"username": "admin", "password": passwords["admin"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["access_token"]

    def wait_for(self, what: str, predicate, timeout: float, interval: float = 1.0):
        deadline = time.time() + timeout
        last_error: Exception | None = None
        while time.time() < deadline:
            self.check_alive()
            try:
                result = predicate()
                if result:
                    return result
            except (OSError, AssertionError, ValueError) as e:  # not up yet
                last_error = e
            time.sleep(interval)
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})\n{self.all_log_tails()}"
        )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def deployment_env(home: Path, port: int, db_url: str, executor: str, extra: dict) -> dict:
    """The environment every process of a test deployment shares: its Airflow home, the repo's
    DAGs and plugins, the metadata DB, the api-server on 127.0.0.1:`port` (simple auth manager,
    user admin with a random password in passwords.json), the built model; plus `extra`."""
    api_url = f"http://127.0.0.1:{port}"
    (home / "passwords.json").write_text(json.dumps({"admin": uuid.uuid4().hex}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "NLP_TASKS_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            # Runs are only made by the test (trigger, backfill), never by the timetable:
            # unpausing a catchup=False DAG would otherwise queue a run for the latest interval.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "GX_ANALYTICS_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            **extra,
        }
    )
    return env


@pytest.fixture
def celery_deployment(tmp_path, postgres_db, redis_db, s3_endpoint, s3_bucket, model_dir, statsd_collector):
    home = tmp_path / "airflow"
    home.mkdir()
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}"
    db_url = f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{postgres_db}"
    tag = uuid.uuid4().hex[:8]
    # Queues of their own, so nothing else on this Redis could take (or give) our tasks.
    queues = {"default": f"it-{tag}-default", "inference": f"it-{tag}-gpu"}
    env = deployment_env(
        home,
        port,
        db_url,
        "CeleryExecutor",
        {
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS['host']}:{REDIS['port']}/{redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{postgres_db}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queues["default"],
            # Metrics, as a deployment with a StatsD server (or a StatsD exporter) has them.
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd_collector.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            "NLP_TASKS_MODEL_DIR": str(model_dir),
            "NLP_TASKS_CACHE": str(tmp_path / "model-cache"),
            # The test's bucket (where `s3_lake` lives) is an allowed data root, as a deployment
            # allows its own: workers and the API server (the UI plugin) read the same setting.
            "NLP_TASKS_ALLOWED_ROOTS": f"s3://{s3_bucket}",
            # Scoring goes to the inference queue and pool, served by its own worker.
            "NLP_TASKS_INFERENCE_QUEUE": queues["inference"],
            "NLP_TASKS_INFERENCE_POOL": INFERENCE_POOL,
            "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(s3_endpoint),
        },
    )
    deployment = Deployment(home, env, api_url, queues)
    deployment.statsd = statsd_collector
    try:
        deployment.cli("db", "migrate", timeout=300)
        deployment.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
        deployment.start("scheduler", "scheduler")
        deployment.start("dag-processor", "dag-processor")
        common = ("celery", "worker", "--skip-serve-logs", "--without-mingle", "--without-gossip")
        deployment.start("worker-default", *common, "-q", queues["default"], "-c", "3", "-H", f"default-{tag}@%h")
        deployment.start("worker-gpu", *common, "-q", queues["inference"], "-c", "1", "-H", f"gpu-{tag}@%h")
        deployment.wait_for(
            "the api-server",
            lambda: urllib.request.urlopen(f"{api_url}/api/v2/monitor/health", timeout=5).status == 200,
            120,
        )
        deployment.api("POST", "/pools", {"name": INFERENCE_POOL, "slots": 1, "description": "GPU inference slots"})
        deployment.wait_for(
            f"the dag-processor to parse {DAG_ID}", lambda: deployment.api("GET", f"/dags/{DAG_ID}"), 120
        )
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def local_deployment(tmp_path, postgres_db, model_dir, statsd_collector):
    """The smallest real Airflow a person can use: api-server, scheduler (LocalExecutor) and
    dag-processor on the local PostgreSQL, the data lake a local folder (`deployment.lake_root`,
    the default data root). No Redis, no Celery, no S3. StatsD with tags, as the Helm values
    configure it (deploy/helm/values.yaml), to the `statsd_collector`."""
    home = tmp_path / "airflow"
    home.mkdir()
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}"
    lake_root = f"file://{tmp_path / 'lake'}"
    env = deployment_env(
        home,
        port,
        f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{postgres_db}",
        "LocalExecutor",
        {
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd_collector.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
            "NLP_TASKS_DATA_ROOT": lake_root,
            "NLP_TASKS_MODEL_DIR": str(model_dir),
            "NLP_TASKS_CACHE": str(tmp_path / "model-cache"),
        },
    )
    deployment = Deployment(home, env, api_url, {"default": "default"})
    deployment.lake_root = lake_root
    deployment.statsd = statsd_collector
    try:
        deployment.cli("db", "migrate", timeout=300)
        deployment.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
        deployment.start("scheduler", "scheduler")
        deployment.start("dag-processor", "dag-processor")
        deployment.wait_for(
            "the api-server",
            lambda: urllib.request.urlopen(f"{api_url}/api/v2/monitor/health", timeout=5).status == 200,
            120,
        )
        deployment.wait_for(
            f"the dag-processor to parse {DAG_ID}", lambda: deployment.api("GET", f"/dags/{DAG_ID}"), 120
        )
        yield deployment
    finally:
        deployment.stop()
