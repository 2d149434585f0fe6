"""One storage API over a local folder and a real S3 endpoint (moto server over HTTP)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from nlp_tasks import storage
from nlp_tasks.storage import Lake, S3Options, normalise_root


def test_roots_normalise():
    assert normalise_root("s3://b/p/") == "s3://b/p"
    assert normalise_root("/tmp/x/") == "file:///tmp/x"
    assert normalise_root("file:///tmp/x") == "file:///tmp/x"


def test_secrets_stay_out_of_repr():
    assert "s3cr3t" not in repr(S3Options(endpoint_url="http://x", access_key="AK", secret_key="s3cr3t"))


@pytest.mark.parametrize("lake_kind", ["local_lake", "s3_lake"])
def test_round_trip_listing_and_deletes(request, lake_kind):
    lake: Lake = request.getfixturevalue(lake_kind)
    lake.write_text(lake.uri("a/dt=1/x.jsonl"), "hello")
    lake.write_bytes(lake.uri("a/dt=1/_SUCCESS"), b"")
    lake.write_parquet(pa.table({"x": [1, 2]}), lake.uri("a/dt=2/part-00000.parquet"))
    assert lake.read_text(lake.uri("a/dt=1/x.jsonl")) == "hello"
    assert lake.read_parquet(lake.uri("a/dt=2/part-00000.parquet")).column("x").to_pylist() == [1, 2]
    # Listings skip markers and hidden files, and only return matching suffixes when asked.
    assert lake.list_files(lake.uri("a")) == [lake.uri("a/dt=1/x.jsonl"), lake.uri("a/dt=2/part-00000.parquet")]
    assert lake.list_files(lake.uri("a"), (".parquet",)) == [lake.uri("a/dt=2/part-00000.parquet")]
    assert [d.rsplit("/", 1)[-1] for d in lake.list_dirs(lake.uri("a"))] == ["dt=1", "dt=2"]
    assert lake.list_files(lake.uri("missing")) == []
    lake.copy(lake.uri("a/dt=1/x.jsonl"), lake.uri("b/y.jsonl"))
    assert lake.read_text(lake.uri("b/y.jsonl")) == "hello"
    lake.write_text(lake.uri("a/dt=1/x.jsonl"), "replaced")
    assert lake.read_text(lake.uri("a/dt=1/x.jsonl")) == "replaced"
    lake.delete_prefix(lake.uri("a/dt=1"))
    assert not lake.exists(lake.uri("a/dt=1/_SUCCESS"))
    assert lake.exists(lake.uri("a/dt=2/part-00000.parquet"))
    lake.delete_prefix(lake.uri("never/was"))


def test_local_writes_leave_no_temp_files(local_lake):
    import os

    local_lake.write_text(local_lake.uri("d/f.txt"), "x")
    assert os.listdir(local_lake.path(local_lake.uri("d"))) == ["f.txt"]


@pytest.mark.parametrize("lake_kind", ["local_lake", "s3_lake"])
def test_bytes_are_stored_as_given_whatever_the_name(request, lake_kind):
    # pyarrow's S3 output streams gzip an object named *.gz unless told not to.
    import gzip

    lake = request.getfixturevalue(lake_kind)
    for name, data in (
        ("plain.jsonl.gz", b'{"a": 1}\n'),
        ("real.jsonl.gz", gzip.compress(b'{"a": 1}\n')),
        ("x.zst", b"abc"),
    ):
        lake.write_bytes(lake.uri(name), data)
        assert lake.read_bytes(lake.uri(name)) == data, name
        with lake.open_input(lake.uri(name)) as f:
            assert f.read() == data, name


def test_s3_options_from_the_environment_and_from_a_connection():
    from nlp_tasks.storage import S3Options, lake_for

    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "eu-west-1",
    }
    assert S3Options.from_env(env) == S3Options("http://127.0.0.1:9000", "k", "s", None, "eu-west-1")
    assert S3Options.from_env({}) == S3Options()
    # An Airflow connection's JSON form (AIRFLOW_CONN_AWS_DEFAULT) and its object form agree,
    # and the endpoint may sit in extra.service_config.s3 as the Amazon provider writes it.
    conn = {
        "conn_type": "aws",
        "login": "k",
        "password": "s",
        "extra": {"service_config": {"s3": {"endpoint_url": "http://minio:9000"}}, "region_name": "us-east-1"},
    }

    class Conn:
        login, password, extra_dejson = "k", "s", conn["extra"]

    want = S3Options("http://minio:9000", "k", "s", None, "us-east-1")
    assert S3Options.from_connection(conn) == S3Options.from_connection(Conn()) == want
    assert S3Options.from_connection({**conn, "extra": '{"endpoint_url": "http://x:1"}'}).endpoint_url == "http://x:1"
    assert "s" not in want.describe().split("at")[0] and "access keys given" in want.describe()
    assert "default AWS credential chain" in S3Options().describe()
    assert lake_for("/tmp/x").s3 == S3Options()


def test_a_missing_airflow_connection_is_a_warning_naming_it(monkeypatch, capsys, caplog):
    from airflow.sdk import BaseHook

    from nlp_tasks.airflow import connections

    def missing(conn_id):
        raise LookupError(conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", staticmethod(missing))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    opts = connections.s3_options("aws_typo")
    assert opts.endpoint_url == "http://127.0.0.1:1"
    # Airflow routes log records through structlog to stdout once airflow.sdk is imported.
    logged = capsys.readouterr().out + caplog.text
    line = next(x for x in logged.splitlines() if "aws_typo" in x)
    assert "warning" in line.lower() and "not found" in line and "default AWS credential chain" in line


class CutOffStore:
    """A filesystem whose first ``cuts`` opens fail as a response cut off half-way does."""

    def __init__(self, fs, cuts: int, error: type[OSError] = OSError):
        self._fs, self.cuts, self.error, self.opens = fs, cuts, error, 0

    def __getattr__(self, name):
        return getattr(self._fs, name)

    def open_input_file(self, path):
        self.opens += 1
        if self.opens <= self.cuts:
            raise self.error("AWS Error INTERNAL_FAILURE during GetObject operation: Failed to flush response stream")
        return self._fs.open_input_file(path)


def test_a_read_cut_off_half_way_is_read_again(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "time", type("NoSleep", (), {"sleep": staticmethod(lambda s: None)}))
    lake = Lake(str(tmp_path))
    lake.write_text(lake.uri("m.json"), "{}")
    lake._fs = CutOffStore(lake.fs, cuts=storage.READ_ATTEMPTS - 1)
    assert lake.read_text(lake.uri("m.json")) == "{}" and lake.fs.opens == storage.READ_ATTEMPTS
    lake._fs = CutOffStore(lake._fs._fs, cuts=storage.READ_ATTEMPTS)  # every attempt cut: the error stands
    with pytest.raises(OSError, match="flush response stream"):
        lake.read_text(lake.uri("m.json"))
    lake._fs = CutOffStore(lake._fs._fs, cuts=1, error=FileNotFoundError)  # no retry changes not-found
    with pytest.raises(FileNotFoundError):
        lake.read_text(lake.uri("m.json"))
    assert lake.fs.opens == 1
