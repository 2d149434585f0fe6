"""The real DAG refuses a data_root outside the allow-list at once, and touches nothing there.

The Airflow environment (tests/conftest.py `airflow_env`) allows the default root and the
test's own bucket (NLP_TASKS_ALLOWED_ROOTS=s3://<s3_bucket>), as a deployment would. Two
roots outside it, each holding a day of raw input the DAG would otherwise read and report:

* a second bucket whose name only extends the allowed one (``<s3_bucket>-evil``);
* a local folder reached with ``..`` segments from the default ``file://<clone>/lake``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlp_tasks.sample_data import write_day
from nlp_tasks.storage import Lake
from tests.helpers import S3_KEYS, run_dag

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-03-05"


def all_objects(lake: Lake) -> dict[str, int]:
    from pyarrow.fs import FileSelector, FileType

    base = lake.path(lake.root).split("/", 1)[0] if lake.is_s3 else lake.path(lake.root)
    infos = lake.fs.get_file_info(FileSelector(base, recursive=True, allow_not_found=True))
    return {i.path: i.size for i in infos if i.type == FileType.File}


def test_a_root_outside_the_allow_list_fails_at_once_and_touches_nothing(airflow_env, s3_endpoint, s3_bucket, tmp_path):
    import boto3

    evil_bucket = f"{s3_bucket}-evil"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=evil_bucket)
    from nlp_tasks.storage import S3Options

    evil = Lake(f"s3://{evil_bucket}/lake", S3Options(endpoint_url=s3_endpoint, **S3_KEYS))
    outside = Lake(str(tmp_path / "outside"))
    dotdot_root = f"file://{REPO}/lake/" + "../" * len(REPO.parts) + str(tmp_path / "outside").lstrip("/")
    assert os.path.realpath(dotdot_root[len("file://") :]) == os.path.realpath(tmp_path / "outside")

    for lake, root in ((evil, evil.root), (outside, dotdot_root)):
        write_day(lake, DAY, n_reviews=30)
        before = all_objects(lake)
        assert before, "nothing seeded"
        out = run_dag(airflow_env, DAY, {"data_root": root}, succeed=False)

        # The first task failed, naming the root and the setting that allows it, and was not retried.
        assert f"data_root {root!r}" in out and "is not an allowed data root" in out, out[-3000:]
        assert "NLP_TASKS_ALLOWED_ROOTS" in out and f"s3://{s3_bucket}" in out
        assert "up_for_retry" not in out.lower()
        # Nothing under the root was read into a report or written: not one object changed.
        assert all_objects(lake) == before
        # No task past the check ran the pipeline.
        assert "stage=discover" not in out and "stage=ingest" not in out
