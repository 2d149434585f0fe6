"""What real buckets hold, fed through the real DAG (airflow dags test, moto S3 over HTTP).

One day: 300 good reviews beside files with every record-level fault (lone surrogates, deep
nesting, non-object lines, control and zero-width characters, a 30 MB line, wrong Parquet
types), every container the exports use (gzip, zstd, NDJSON, a JSON array), awkward object
names, a file that is not what its name says, and two objects the worker cannot read: one
deleted after it was listed (404) and one it may not read (403), served by a proxy in front
of moto. Per file: records counted right, good records reported, bad ones quarantined with a
reason naming file and line, and the night green.
"""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlp_tasks import layout
from tests.helpers import read, run_dag

from ..s3_faults import FaultyS3Proxy

pytestmark = pytest.mark.e2e

DAY = "2026-06-01"
GOOD = 300


def j(**kw) -> str:
    return json.dumps(kw)


def good_lines(prefix: str, n: int) -> list[str]:
    texts = ["Love it, works great.", "Broke after a week, avoid.", "It is okay for the price."]
    return [j(review_id=f"{prefix}{i}", text=texts[i % 3], rating=(5, 1, 3)[i % 3]) for i in range(n)]


def zst(data: bytes) -> bytes:
    return pa.compress(data, codec="zstd", asbytes=True)


def seed(lake) -> dict[str, dict]:
    """Write the day's objects; per object name: records, reported ids, {line: reason start}."""
    raw = lake.uri(layout.raw_reviews(DAY))
    files: dict[str, dict] = {}

    def put(name: str, data: bytes, records: int, good: list[str], bad: dict[int, str]) -> None:
        lake.write_bytes(f"{raw}/{name}", data)
        files[name] = {"records": records, "good": good, "bad": bad}

    lines = good_lines("g", GOOD)
    put("good reviews.jsonl", ("\n".join(lines) + "\n").encode(), GOOD, [f"g{i}" for i in range(GOOD)], {})

    lines = good_lines("s", 4) + ['{"review_id": "s-bad", "text": "broken emoji \\ud83d here", "rating": 5}']
    put(
        "broken emoji.jsonl",
        ("\n".join(lines) + "\n").encode(),
        5,
        [f"s{i}" for i in range(4)],
        {5: "line 5: lone surrogate escape"},
    )

    deep = "[" * 100_000 + "]" * 100_000
    lines = good_lines("d", 10) + ['{"review_id": "d-deep", "text": "x", "extra": ' + deep + "}"]
    put(
        "deep#1.jsonl",
        ("\n".join(lines) + "\n").encode(),
        11,
        [f"d{i}" for i in range(10)],
        {11: "line 11: JSON nested too deeply"},
    )

    lines = [
        j(review_id="k-ctl", text="nul\u0000 and bell\u0007 are stripped", rating=4),
        "[1, 2]",
        '"str"',
        "42",
        "null",
        j(review_id="k-zw", text="\u200b\u200d\ufeff", rating=4),
        j(review_id="k-ws", text=" \t \u3000 ", rating=4),
        '{"review_id": "k-esc", "text": "invalid escape \\x41 here", "rating": 4}',
    ]
    put(
        "kinds 100%.jsonl",
        ("\n".join(lines) + "\n").encode(),
        8,
        ["k-ctl"],
        {
            2: "line 2: expected a JSON object, got array",
            3: "line 3: expected a JSON object, got string",
            4: "line 4: expected a JSON object, got number",
            5: "line 5: expected a JSON object, got null",
            6: "empty text",
            7: "empty text",
            8: "line 8: malformed JSON (Invalid \\escape",
        },
    )

    put(
        "one huge line.jsonl",
        (j(review_id="h-big", text="word " * 6_000_000) + "\n").encode(),
        1,
        [],
        {1: "text longer than"},
    )

    lines = good_lines("z", 20) + ["{oops"]
    put(
        "export.jsonl.gz",
        gzip.compress(("\n".join(lines) + "\n").encode()),
        21,
        [f"z{i}" for i in range(20)],
        {21: "line 21: malformed JSON"},
    )
    put(
        "export.csv.zst",
        zst(b"review_id,text,rating\nc1,Great value,5\nc2,Terrible,1\nc3,too,many,cells\n"),
        3,
        ["c1", "c2"],
        {4: "line 4: expected 3 columns"},
    )
    put("stream.ndjson", ("\n".join(good_lines("n", 5)) + "\n").encode(), 5, [f"n{i}" for i in range(5)], {})
    put(
        "export.ndjson.zst",
        zst(("\n".join(good_lines("y", 4) + ["[1]"]) + "\n").encode()),
        5,
        [f"y{i}" for i in range(4)],
        {5: "line 5: expected a JSON object, got array"},
    )
    elements = good_lines("a", 3) + [
        '{"review_id": "a-bad", "text": oops}',
        j(review_id="a3", text="Fine kettle.", rating=4),
    ]
    put(
        "dump.json",
        ("[\n" + ",\n".join(elements) + "\n]\n").encode(),
        5,
        ["a0", "a1", "a2", "a3"],
        {4: "element 4: malformed JSON"},
    )
    put(
        "not-gzip.jsonl.gz",
        ("\n".join(good_lines("x", 3)) + "\n").encode(),
        1,
        [],
        {0: "not gzip data although named .gz"},
    )
    put("avis clients é.csv", "review_id,text,rating\né1,Très bon produit,5\n".encode(), 1, ["é1"], {})

    table = pa.table(
        {"review_id": pa.array([101, 102, 103]), "text": ["Solid.", "Meh.", "Awful."], "rating": ["5", "five", "1"]}
    )
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    put("typed.parquet", buf.getvalue().to_pybytes(), 3, ["101", "103"], {2: "rating not an integer in 1..5"})

    put("gone.jsonl", ("\n".join(good_lines("q", 2)) + "\n").encode(), 1, [], {0: "object not found when read"})
    put("locked.jsonl", ("\n".join(good_lines("p", 2)) + "\n").encode(), 1, [], {0: "access denied"})
    return files


def test_a_day_of_hostile_input_is_counted_reported_and_quarantined_record_by_record(airflow_env, s3_endpoint, s3_lake):
    files = seed(s3_lake)
    with FaultyS3Proxy(s3_endpoint, every=0, deny={"gone.jsonl": 404, "locked.jsonl": 403}) as proxy:
        env = dict(airflow_env)
        conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
        conn["extra"]["endpoint_url"] = proxy.url
        env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(conn)
        out = run_dag(env, DAY, {"data_root": s3_lake.root, "max_invalid_fraction": 0.2})
    assert proxy.denied["gone.jsonl"] >= 1 and proxy.denied["locked.jsonl"] >= 1

    manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(DAY))))
    per_file = {f["file"].rsplit("/", 1)[-1]: f for f in manifest["files"]}
    assert {k: v["records"] for k, v in per_file.items()} == {k: v["records"] for k, v in files.items()}
    for name, f in per_file.items():
        assert f["records"] == f["reported"] + f["quarantined"], name
        assert f["reported"] == len(files[name]["good"]), name

    reported = set(read(s3_lake, layout.report("sentiment", DAY)).column("review_id").to_pylist())
    assert reported == {i for f in files.values() for i in f["good"]}

    q = read(s3_lake, layout.quarantine(DAY)).to_pylist()
    why = {(r["source_file"].rsplit("/", 1)[-1], r["source_row"]): r["reason"] for r in q}
    expected = {(name, line): reason for name, f in files.items() for line, reason in f["bad"].items()}
    assert set(why) == set(expected)
    for key, reason in expected.items():
        assert why[key].startswith(reason), (key, why[key])

    report = {r["review_id"]: r for r in read(s3_lake, layout.report("sentiment", DAY)).to_pylist()}
    assert report["k-ctl"]["text_redacted"] == "nul and bell are stripped"
    # No fault got as far as a task failure (a retry would log the exception).
    assert "UnicodeEncodeError" not in out and "RecursionError" not in out
