"""Drift: KS / chi-square with an effect-size gate AND BH-adjusted p-values, seeded sampling caps,
text and tokenizer features, two references (rolling window + fixed baseline), alerts."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from nlp_tasks import alerts, layout, partitions, pipeline
from nlp_tasks.drift import (
    CONTINUOUS,
    FEATURES,
    DriftConfig,
    _cap,
    agreement_flags,
    compare,
    day_verdict,
    drift_rows,
    judge,
    label_codes,
    main,
    read_baseline,
    text_features,
    unk_share,
)
from tests.helpers import DRIFT_RESULT, publish_report, report_table


def features(rng, n, shift=0.0):
    return {f: rng.normal(0, 1, n) + (shift if f == "text_length" else 0.0) for f in CONTINUOUS}


def ks_drift(today, reference, cfg, name):
    """Compare with one reference and judge it, as drift does per reference."""
    return judge(compare(today, reference, cfg, name), cfg)


def test_same_distribution_is_quiet_and_a_shift_is_caught():
    rng = np.random.default_rng(1)
    cfg = DriftConfig()
    ref = features(rng, 5000)
    quiet = ks_drift(features(rng, 5000), ref, cfg, "rolling_7d")
    assert day_verdict(quiet) == "ok"
    shifted = ks_drift(features(rng, 5000, shift=0.5), ref, cfg, "rolling_7d")
    assert day_verdict(shifted) == "drift"
    assert [r["feature"] for r in shifted if r["verdict"] == "drift"] == ["text_length"]
    row = [r for r in shifted if r["feature"] == "text_length"][0]
    assert row["statistic"] >= cfg.threshold and row["p_adjusted"] < cfg.alpha and row["p_adjusted"] >= row["p_value"]
    assert row["test"] == "ks" and row["mean_today"] > row["mean_reference"]


def test_significant_but_tiny_effects_do_not_alarm():
    rng = np.random.default_rng(2)
    ref = features(rng, 200_000)
    rows = ks_drift(features(rng, 200_000, shift=0.05), ref, DriftConfig(), "r")
    tl = [r for r in rows if r["feature"] == "text_length"][0]
    assert tl["p_adjusted"] < 0.05 and tl["statistic"] < 0.1 and tl["verdict"] == "ok"
    assert tl["n_today"] == DriftConfig().max_sample  # capped per side


def test_no_reference_is_reported_as_such():
    rows = ks_drift({}, {}, DriftConfig(), "rolling_7d")
    assert day_verdict(rows) == "no_reference" and all(r["verdict"] == "insufficient_data" for r in rows)
    assert [r["feature"] for r in rows] == list(FEATURES)


def test_text_features():
    f = text_features(["Hello hello world!", "", None, "123 456"])
    assert f["word_count"].tolist() == [3, 0, 0, 2]
    assert f["unique_word_ratio"][0] == 2 / 3
    assert f["text_length"].tolist() == [18, 0, 0, 7]
    assert f["non_letter_share"][3] == 1.0


def test_unk_share_with_the_model_tokenizer(model_dir):
    shares = unk_share(["a perfectly ordinary review", "☃ ☃ ☃ 😀", "", None], model_dir)  # a model folder
    assert shares[0] == 0.0 and shares[1] == 1.0 and shares[2] == 0.0 and shares[3] == 0.0
    assert unk_share(["great ☃"], model_dir / "tokenizer.json")[0] == 0.5  # or the file itself
    with pytest.raises(FileNotFoundError):
        unk_share(["x"], model_dir / "nope")


def test_categorical_features_use_chi_square_and_tvd():
    rng = np.random.default_rng(3)
    mix = lambda n, p: rng.choice(3, size=n, p=p)  # noqa: E731
    cfg = DriftConfig()
    ref = {"label_mix": mix(20_000, [0.3, 0.15, 0.55])}
    quiet = ks_drift({"label_mix": mix(20_000, [0.3, 0.15, 0.55])}, ref, cfg, "r")
    moved = ks_drift({"label_mix": mix(20_000, [0.45, 0.15, 0.40])}, ref, cfg, "r")
    q = [r for r in quiet if r["feature"] == "label_mix"][0]
    m = [r for r in moved if r["feature"] == "label_mix"][0]
    assert q["test"] == m["test"] == "chi2" and q["verdict"] == "ok"
    assert m["verdict"] == "drift" and m["statistic"] == pytest.approx(0.15, abs=0.02)  # 15 points moved
    assert m["mean_today"] == pytest.approx(0.45, abs=0.02)  # negative share
    assert label_codes(["negative", "positive", "neutral", "bogus"]).tolist() == [0, 2, 1]
    assert agreement_flags(
        [1, None, 3, 5, 4], ["negative", "positive", "positive", "positive", "neutral"]
    ).tolist() == [1, 0, 1, 0]


# -- the acceptance simulation: 100 days x 1M rows ----------------------------------------
MU, SIGMA = np.log(220.0), 0.8  # review length in characters: lognormal, median 220, long tail
MIX = np.cumsum([0.30, 0.15])  # negative / neutral / positive = 30% / 15% / 55%


def _day(rng, n=1_000_000):
    z = rng.standard_normal(n, dtype=np.float32)
    u = rng.random(n, dtype=np.float32)
    return z, (u > MIX[0]).astype(np.int8) + (u > MIX[1])


def _length(z, log_shift=0.0):
    return np.maximum(1.0, np.rint(np.exp(MU + SIGMA * (z + log_shift))))


def test_simulated_days_at_one_million_rows():
    """No alarm on >= 95/100 days from the reference distribution; a 0.3-SD length shift is
    caught on >= 95/100 days, whether the shift is 0.3 SD of log-length (length x e^(0.3 sigma),
    the harder case: KS D ~ 0.12) or 0.3 SD of length itself added to every review (D ~ 0.26,
    the heavy tail makes the SD large)."""
    cfg = DriftConfig()  # threshold 0.1, alpha 0.05, 50k cap per side
    rng = np.random.default_rng(20261117)
    z_ref, c_ref = _day(rng, 7_000_000)  # the rolling window: 7 days of 1M
    ref_len = _length(z_ref)
    sd = float(ref_len.std())
    reference = {
        "text_length": _cap(ref_len, cfg.max_sample, cfg.seed + 1),
        "label_mix": _cap(c_ref.astype(np.int64), cfg.max_sample, cfg.seed + 1),
    }
    del z_ref, c_ref, ref_len
    alarms = {"null": 0, "log_shift": 0, "additive_shift": 0}
    for day in range(100):
        z, codes = _day(rng)
        codes = codes.astype(np.int64)
        length = _length(z)
        days = {
            "null": length,
            "log_shift": _length(z, 0.3),
            "additive_shift": length + 0.3 * sd,
        }
        for name, today_len in days.items():
            rows = drift_rows({"text_length": today_len, "label_mix": codes}, {"rolling_7d": reference}, cfg)
            alarms[name] += day_verdict(rows) == "drift"
            if day == 0:
                tl = [r for r in rows if r["feature"] == "text_length"][0]
                assert tl["n_today"] == tl["n_reference"] == cfg.max_sample
    assert alarms["null"] <= 5, alarms
    assert alarms["log_shift"] >= 95 and alarms["additive_shift"] >= 95, alarms


# -- two references through pipeline.drift ----------------------------------------------
def _scored(run, table):
    uri = run.work("scored", "part-00000.parquet")
    run.lake.write_parquet(table, uri)
    return [uri]


def test_rolling_window_and_baseline(local_lake, model_dir):
    rng = np.random.default_rng(4)
    for d in ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05", "2026-11-20"):
        publish_report(local_lake, d, report_table(rng, 400, d, long=(d == "2026-11-01")))
    # set-baseline through the CLI (a real subprocess), from the long-text day.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nlp_tasks.drift",
            "set-baseline",
            "--data-root",
            local_lake.root,
            "--date",
            "2026-11-01",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["dt"] == "2026-11-01"
    table, meta = read_baseline(local_lake)
    assert meta["rows"] == 400 and "text_redacted" in table.column_names and "review_id" not in table.column_names
    assert main(["set-baseline", "--data-root", local_lake.root, "--date", "2026-10-01"]) == 1  # not published

    # A backfill of 11-06: the window is the days before it (not 11-20), the baseline is fixed.
    run = pipeline.Run(local_lake, "2026-11-06", "backfill-1")
    res = pipeline.drift(run, _scored(run, report_table(rng, 400, "2026-11-06")), tokenizer=str(model_dir))
    assert res["reference_days"] == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05"]
    assert res["baseline_date"] == "2026-11-01"
    rows = local_lake.read_parquet(res["uri"]).to_pylist()
    assert {r["reference"] for r in rows} == {"rolling_7d", "baseline"} and len(rows) == 2 * len(FEATURES)
    base = {r["feature"]: r for r in rows if r["reference"] == "baseline"}
    assert base["text_length"]["verdict"] == "drift" and base["text_length"]["reference_days"] == "2026-11-01"
    assert base["unk_share"]["verdict"] in ("ok", "drift") and base["unk_share"]["n_today"] == 400
    assert res["verdict"] == "drift" and "text_length" in res["drifted_by_reference"]["baseline"]
    assert "fine words" not in json.dumps(res)  # no text in XCom

    # A Param baseline_date overrides the published baseline; no tokenizer -> unk_share not tested.
    res2 = pipeline.drift(run, _scored(run, report_table(rng, 400, "2026-11-06")), baseline_date="2026-11-02")
    rows2 = local_lake.read_parquet(res2["uri"]).to_pylist()
    b2 = {r["feature"]: r for r in rows2 if r["reference"] == "baseline"}
    assert b2["text_length"]["verdict"] == "ok" and b2["text_length"]["reference_days"] == "2026-11-02"
    assert b2["unk_share"]["verdict"] == "insufficient_data"

    # The first day ever: no window, and the baseline is the day itself -> no reference.
    first = pipeline.Run(local_lake, "2026-11-01", "first")
    res3 = pipeline.drift(first, _scored(first, report_table(rng, 50, "2026-11-01")))
    assert res3["verdict"] == "no_reference" and res3["baseline_date"] is None


# -- hash samples: split-independent, bounded memory ------------------------------------
def test_hash_sample_is_the_bottom_k_by_hash_whatever_the_split():
    from nlp_tasks.drift import HASH_COLUMN, HashSample, id_hashes

    rng = np.random.default_rng(5)
    ids = [f"r{i}" for i in range(3000)] + ["r7", "r8"]  # two ids repeated on another day
    src = [0] * 3000 + [1, 1]
    table = pa.table({"review_id": ids, "score": rng.random(len(ids)), "src": src})
    h = id_hashes(table.column("review_id"), 9)
    assert np.array_equal(h[100:200], id_hashes(table.column("review_id").slice(100, 100), 9))  # the id alone
    # Brute force: the 400 smallest (hash, id, source), then in (source, id) order.
    best = sorted(range(len(ids)), key=lambda i: (int(h[i]), ids[i], src[i]))[:400]
    expect = sorted(best, key=lambda i: (src[i], ids[i]))

    def sampled(pieces):
        s = HashSample(400, 9)
        for piece in pieces:
            for day in (0, 1):
                part = piece.filter(pc.equal(piece.column("src"), day))
                s.add(part.drop_columns(["src"]), source=day)
        return s

    for seed in range(4):
        order = np.random.default_rng(seed).permutation(len(ids))
        cuts = np.sort(np.random.default_rng(seed).choice(len(ids), size=seed * 7, replace=False))
        shuffled = table.take(pa.array(order))
        s = sampled([shuffled.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, len(ids)], strict=True)])
        got = s.table()
        assert got.column("review_id").to_pylist() == [ids[i] for i in expect]
        assert got.column("score").to_pylist() == [table.column("score")[i].as_py() for i in expect]
        assert got.column(HASH_COLUMN).to_pylist() == [int(h[i]) for i in expect]
        assert s.rows == len(ids) and got.num_rows == 400
    # Without review_id (a baseline set before it was kept): keyed by position, in file order.
    plain = table.drop_columns(["review_id", "src"])
    one, two = HashSample(400, 9).add(plain), HashSample(400, 9).add(plain.slice(0, 1000)).add(plain.slice(1000))
    assert one.table().equals(two.table()) and one.table().num_rows == 400 and "_ord" not in one.table().column_names


def _model_version(table, version="m1"):
    i = table.column_names.index("model_version")
    return table.set_column(i, table.schema.field(i), pa.array([version] * table.num_rows, table.schema.field(i).type))


def _split(table, parts: int, seed: int) -> list[pa.Table]:
    """The rows in a shuffled order, cut into ``parts`` pieces of uneven sizes."""
    rng = np.random.default_rng(seed)
    table = table.take(pa.array(rng.permutation(table.num_rows))) if seed else table
    cuts = sorted(rng.choice(np.arange(1, table.num_rows), size=parts - 1, replace=False).tolist())
    return [table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, table.num_rows], strict=True)]


def _publish_split(lake, day, table, parts, seed):
    prefix = lake.uri(layout.report("sentiment", day))
    for i, piece in enumerate(_split(table, parts, seed)):
        lake.write_parquet(piece, f"{prefix}/part-{i:05d}.parquet", row_group_size=97 + 31 * i)
    lake.write_text(prefix + "/_SUCCESS", json.dumps({"run_id": "x", "rows": table.num_rows}) + "\n")


SPLIT_DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")
TODAY = "2026-11-04"


@pytest.fixture(scope="module")
def split_reports():
    rng = np.random.default_rng(6)
    days = {d: _model_version(report_table(rng, 1200, d, long=(d == "2026-11-02"))) for d in SPLIT_DAYS}
    days[TODAY] = _model_version(report_table(rng, 2000, TODAY, text="fine wörds ☃ here"))
    return days


def test_drift_rows_do_not_depend_on_shards_files_or_order(tmp_path, split_reports, model_dir, monkeypatch):
    """The same day and window, split into 1 / 7 / 40 scored shards and 1 / 3 / 5 files per
    published day, rows shuffled: bit-identical drift rows, with sampling on (max_sample 500 of
    2,000 today and 3,600 in the window) and unk_share's subset on (200 of the 500). And the
    settled recompute from the published day (split yet another way) gives the same rows."""
    from nlp_tasks import drift as D

    monkeypatch.setattr(D, "MAX_TOKENIZED", 200)
    layouts = {"one": (1, 1, 0), "some": (7, 3, 1), "many": (40, 5, 2)}  # shards, files per day, shuffle seed
    tables, results = {}, {}
    for name, (shards, files, seed) in layouts.items():
        lake = pipeline.Lake(str(tmp_path / name))
        for d in SPLIT_DAYS:
            _publish_split(lake, d, split_reports[d], files, seed)
        run = pipeline.Run(lake, TODAY, "run-x")
        uris = []
        for i, piece in enumerate(_split(split_reports[TODAY], shards, seed + 10)):
            uris.append(run.work("scored", f"part-{i:05d}.parquet"))
            lake.write_parquet(piece, uris[-1], row_group_size=53)
        uris = uris[::-1] if seed else uris  # the shard list's order too
        res = pipeline.drift(run, uris, tokenizer=str(model_dir), baseline_date="2026-11-01", max_sample=500)
        tables[name] = lake.read_parquet(res["uri"])
        results[name] = {k: v for k, v in res.items() if k not in ("uri", "seconds")}
        if name == "many":
            # Publish the day (3 files, another order), then recompute it as settle does.
            _publish_split(lake, TODAY, split_reports[TODAY], 3, 7)
            prefix = lake.uri(layout.report("drift", TODAY))
            lake.write_parquet(tables[name], prefix + "/part-00000.parquet")
            lake.write_text(prefix + "/_SUCCESS", "{}\n")
            settled, result = D.recompute(lake, TODAY, tokenizer_for=lambda v: str(model_dir), max_sample=500)
            assert settled.equals(tables[name])
            assert result["verdict"] == res["verdict"] and result["rows"] == 2000
            # set-baseline copies the day a batch at a time; the published baseline then gives
            # the same baseline rows as baseline_date for that day.
            D.set_baseline(lake, "2026-11-01")
            via_set = pipeline.drift(run, uris, tokenizer=str(model_dir), max_sample=500)
            assert lake.read_parquet(via_set["uri"]).equals(tables[name])
    rows = tables["one"].to_pylist()
    for name in layouts:
        assert tables[name].equals(tables["one"]), name
        assert results[name] == results["one"], name
    by = {(r["reference"], r["feature"]): r for r in rows}
    assert results["one"]["rows"] == 2000 and by[("rolling_7d", "text_length")]["n_today"] == 500
    assert by[("rolling_7d", "text_length")]["n_reference"] == 500 and by[("baseline", "score")]["n_reference"] == 500
    assert by[("rolling_7d", "unk_share")]["n_today"] == 200 and by[("rolling_7d", "unk_share")]["mean_today"] > 0
    assert by[("rolling_7d", "text_length")]["verdict"] == "drift"  # 11-02's long texts are in the window


def test_drift_reads_a_batch_at_a_time_and_holds_a_sample(tmp_path, monkeypatch):
    """Many small shards and big published files: no object is read whole, nothing larger than
    two samples and one batch is ever concatenated, and the features see max_sample rows."""
    from nlp_tasks import drift as D
    from nlp_tasks.storage import Lake

    rng = np.random.default_rng(8)
    lake = Lake(str(tmp_path / "lake"))
    for d in SPLIT_DAYS:  # each day one object of 4,000 rows in one row group
        prefix = lake.uri(layout.report("sentiment", d))
        lake.write_parquet(report_table(rng, 4000, d), prefix + "/part-00000.parquet", row_group_size=64_000)
        lake.write_text(prefix + "/_SUCCESS", "{}\n")
    run = pipeline.Run(lake, TODAY, "run-x")
    today = report_table(rng, 6000, TODAY)
    uris = []
    for i in range(120):  # 120 shards of 50 rows
        uris.append(run.work("scored", f"part-{i:05d}.parquet"))
        lake.write_parquet(today.slice(50 * i, 50), uris[-1])

    k, batch = 300, 256
    monkeypatch.setattr(D, "READ_BATCH_ROWS", batch)
    samples, concatenated, featured = [], [], []

    class Spy(D.HashSample):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            samples.append(self)

    real_concat, real_features = pa.concat_tables, D.report_features

    def concat(tables, *a, **kw):
        out = real_concat(tables, *a, **kw)
        concatenated.append(out.num_rows)
        return out

    def features(table, *a, **kw):
        featured.append(table.num_rows)
        return real_features(table, *a, **kw)

    def whole(*a, **kw):
        raise AssertionError("a whole object was read")

    monkeypatch.setattr(D, "HashSample", Spy)
    monkeypatch.setattr(pa, "concat_tables", concat)
    monkeypatch.setattr(D, "report_features", features)
    monkeypatch.setattr(Lake, "read_parquet", whole)
    monkeypatch.setattr(partitions, "read", whole)
    res = pipeline.drift(run, uris, max_sample=k, use_baseline=False)
    monkeypatch.undo()

    assert res["rows"] == 6000 and res["reference_days"] == list(SPLIT_DAYS)
    assert [s.rows for s in samples] == [6000, 12_000]  # today, then the window
    # Two passes (review_ids first, then the rows at or under the k-th smallest hash): a sample
    # never holds more than its k rows of text.
    assert all(s.peak_held <= k for s in samples), [s.peak_held for s in samples]
    assert concatenated and max(concatenated) <= 2 * k + batch
    assert featured == [k, k]
    rows = lake.read_parquet(res["uri"]).to_pylist()
    assert {r["n_today"] for r in rows if r["feature"] == "text_length"} == {k}
    assert {r["n_reference"] for r in rows if r["feature"] == "score"} == {k}


# -- alerts -------------------------------------------------------------------------------
ROWS = [
    {
        "feature": "text_length",
        "reference": "rolling_7d",
        "test": "ks",
        "statistic": 0.21,
        "p_adjusted": 1e-9,
        "threshold": 0.1,
        "alpha": 0.05,
        "n_today": 50000,
        "n_reference": 50000,
        "verdict": "drift",
    }
]


def test_alert_channels(caplog):
    subject, body = alerts.format_alert(DRIFT_RESULT, "2026-11-03", "run-1", rows=ROWS, report_url="http://x/r")
    assert "text_length" in subject and "KS D 0.210" in body and "http://x/r" in body
    with caplog.at_level(logging.WARNING):
        assert alerts.dispatch(DRIFT_RESULT, "log", day="2026-11-03", run_id="run-1", rows=ROWS) == "log"
    assert "drift on 2026-11-03" in caplog.text
    assert alerts.dispatch({"verdict": "ok"}, "log", day="d") is None
    assert alerts.dispatch(DRIFT_RESULT, "none", day="d") is None
    with pytest.raises(alerts.DriftDetected):
        alerts.dispatch(DRIFT_RESULT, "fail", day="d")
    with pytest.raises(ValueError, match="DriftNotifier"):  # e-mail and Slack: the providers' notifiers
        alerts.dispatch(DRIFT_RESULT, "email", day="d")
    with pytest.raises(ValueError):
        alerts.dispatch(DRIFT_RESULT, "pager", day="d")
