"""Shared fixtures: the built model, a real moto S3 server on 127.0.0.1, an Airflow home."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import S3_KEYS, aws_connection

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def model_dir() -> Path:
    path = Path(os.environ.get("NLP_TASKS_MODEL_DIR", REPO / "build" / "model"))
    if not (path / "metadata.json").exists():
        pytest.fail(f"no built model at {path}: run `make model` (make test does it for you)")
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, model_dir):
    """A small randomly initialised DistilBERT sequence classifier (2 labels) saved as a Hugging
    Face checkpoint folder: a real, different, and much worse model than the bundled one."""
    import shutil

    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(0)
    cfg = DistilBertConfig(
        vocab_size=30522, dim=64, n_layers=2, n_heads=4, hidden_dim=128, num_labels=2, max_position_embeddings=512
    )
    model = DistilBertForSequenceClassification(cfg).eval()
    out = tmp_path_factory.mktemp("tiny-distilbert")
    model.save_pretrained(out)
    # The BERT uncased WordPiece vocabulary is DistilBERT's too.
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(model_dir / name, out / name)
    return out, model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """moto's S3 server as a separate process speaking real HTTP on 127.0.0.1."""
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture
def s3_bucket(s3_endpoint):
    import uuid

    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_lake(s3_endpoint, s3_bucket):
    from nlp_tasks.storage import Lake, S3Options

    return Lake(f"s3://{s3_bucket}/lake", S3Options(endpoint_url=s3_endpoint, **S3_KEYS))


@pytest.fixture
def local_lake(tmp_path):
    from nlp_tasks.storage import Lake

    return Lake(str(tmp_path / "lake"))


@pytest.fixture(scope="session")
def airflow_home_env(tmp_path_factory, s3_endpoint, model_dir):
    """A fresh Airflow home with its own SQLite metadata DB, the repo's dags/ and an
    `aws_default` connection pointing at the moto server (no data root allowed but the default)."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "NLP_TASKS_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "GX_ANALYTICS_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
            "NLP_TASKS_MODEL_DIR": str(model_dir),
            "NLP_TASKS_CACHE": str(home / "cache"),
            "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(s3_endpoint),
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        }
    )
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


@pytest.fixture
def airflow_env(airflow_home_env, s3_bucket):
    """`airflow_home_env` for one test, with the test's bucket (where `s3_lake` lives) allowed as
    a data root, as a deployment allows its own bucket: NLP_TASKS_ALLOWED_ROOTS."""
    return {**airflow_home_env, "NLP_TASKS_ALLOWED_ROOTS": f"s3://{s3_bucket}"}


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The UI plugin module (plugins/nlp_reports_plugin.py), loaded fresh with its own AIRFLOW_HOME."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "af"))
    spec = importlib.util.spec_from_file_location("nlp_reports_plugin", REPO / "plugins" / "nlp_reports_plugin.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
