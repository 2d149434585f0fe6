"""Champion vs challenger: the statistics against hand-worked cases, the day's counts, pooling
over days (by counts, not p-values), the verdict, and the registry's alias history."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from nlp_tasks import layout, partitions
from nlp_tasks import model_comparison as mc
from nlp_tasks.schema import MODEL_COMPARISON
from nlp_tasks.sentiment import registry, stats


# -- statistics, each checked against a case worked by hand ------------------------------
def test_mcnemar_exact_by_hand():
    # b=1, c=5: 2 * P(X <= 1 | n=6, 1/2) = 2 * (1 + 6) / 64
    assert stats.mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert stats.mcnemar_exact(5, 1) == pytest.approx(14 / 64)  # symmetric
    assert stats.mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert stats.mcnemar_exact(3, 3) == 1.0  # 2 * 42/64 > 1 is capped
    assert stats.mcnemar_exact(0, 0) == 1.0  # no discordant row: no evidence


def test_cohens_kappa_by_hand():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> po 0.7, pe 0.5*0.6 + 0.5*0.4 = 0.5
    assert stats.cohens_kappa(35, 50, [25, 0, 25], [20, 0, 30]) == pytest.approx(0.4)
    assert stats.cohens_kappa(10, 10, [0, 0, 10], [0, 0, 10]) is None  # one label for all: undefined
    assert stats.cohens_kappa(10, 10, [5, 0, 5], [5, 0, 5]) == pytest.approx(1.0)
    assert stats.cohens_kappa(0, 0, [0, 0, 0], [0, 0, 0]) is None


def test_rows_for_power_by_hand():
    # 0.9 vs 0.8: (1.95996 * sqrt(2 * .85 * .15) + 0.84162 * sqrt(.09 + .16))^2 / 0.01 = 198.97
    assert stats.rows_for_power(0.9, 0.8) == 199
    assert stats.rows_for_power(0.8, 0.9) == 199
    # 0.5 vs 0.6: (1.95996 * sqrt(2 * .55 * .45) + 0.84162 * sqrt(.25 + .24))^2 / 0.01 = 387.3
    assert stats.rows_for_power(0.5, 0.6) == 388
    assert stats.rows_for_power(0.7, 0.7) is None


def test_wilson_interval_by_hand():
    low, high = stats.wilson_interval(8, 10)
    # centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10), half-width 1.96 sqrt(.016 + 1.96^2/400) / (1 + 1.96^2/10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert stats.wilson_interval(0, 0) == (None, None)
    assert stats.wilson_interval(0, 5)[0] == pytest.approx(0.0, abs=1e-12)


# -- the sample ---------------------------------------------------------------------------
def test_sample_is_deterministic_and_near_the_fraction():
    ids = [f"r{i}" for i in range(4000)]
    a, b = mc.sample_mask(ids, 0.25), mc.sample_mask(list(reversed(ids)), 0.25)
    assert (a == b[::-1]).all()  # by id, not by position
    assert 0.22 < a.mean() < 0.28
    assert mc.sample_mask(ids, 1.0).all() and not mc.sample_mask(ids, 0.0).any()
    assert (mc.sample_mask(ids, 0.1) <= mc.sample_mask(ids, 0.5)).all()  # a larger sample contains the smaller


# -- a day's counts -------------------------------------------------------------------------
def _frames():
    """Six rows, worked by hand below. Champion is right on r1 r2 r3 r5; challenger on r1 r4 r5."""
    champ = pd.DataFrame(
        {
            "review_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
            "product_id": ["A", "A", "A", "B", "B", None],
            "rating": [5, 1, 3, 5, 1, None],
            "label": ["positive", "negative", "neutral", "negative", "negative", "positive"],
            "score": [0.9, 0.1, 0.4, 0.2, 0.1, 0.8],
            "p_negative": [0.05, 0.8, 0.3, 0.7, 0.85, 0.1],
        }
    )
    chal = pd.DataFrame(
        {
            "review_id": ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],  # r7: not in the champion's shard
            "label": ["positive", "positive", "positive", "positive", "negative", "positive", "negative"],
            "score": [0.95, 0.7, 0.6, 0.9, 0.2, 0.9, 0.1],
            "p_negative": [0.05, 0.3, 0.4, 0.1, 0.8, 0.1, 0.9],
        }
    )
    return champ, chal


def test_shard_counts_and_table_by_hand():
    champ, chal = _frames()
    counts = mc.shard_counts(champ, chal)
    total = counts.sum()
    assert total["rows"] == 6 and total["agree"] == 3  # r1, r5, r6
    assert total["flips_negative_to_positive"] == 2 and total["flips_neutral_to_positive"] == 1
    assert total["rated_rows"] == 5 and total["rated_rows_binary"] == 4
    assert total["champion_correct_3class"] == 4 and total["challenger_correct_3class"] == 3
    # binary (P(pos) > P(neg) iff 4-5 stars) on r1 r2 r4 r5: champion r1 r2 r5, challenger r1 r4 r5
    assert total["champion_correct_binary"] == 3 and total["challenger_correct_binary"] == 3
    assert total["mcnemar_champion_only"] == 1 and total["mcnemar_challenger_only"] == 1

    table = mc.build_table(
        counts, {"champion": "m1", "challenger": "m2"}, "3-class labels", "ok", 1.0, "run-1"
    ).to_pylist()
    overall = {r["role"]: r for r in table if r["scope"] == "overall"}
    assert set(overall) == {"champion", "challenger"}
    c, h = overall["champion"], overall["challenger"]
    assert c["model_version"] == "m1" and c["other_version"] == "m2" and h["model_version"] == "m2"
    assert c["positive_share"] == pytest.approx(2 / 6) and h["positive_share"] == pytest.approx(5 / 6)
    assert c["mean_p_positive"] == pytest.approx((0.9 + 0.1 + 0.4 + 0.2 + 0.1 + 0.8) / 6)
    assert c["agreement"] == pytest.approx(0.5)
    # po 0.5; champion (neg 3, neu 1, pos 2), challenger (neg 1, neu 0, pos 5): pe = (3 + 0 + 10) / 36
    assert c["kappa"] == pytest.approx((0.5 - 13 / 36) / (1 - 13 / 36))
    assert c["accuracy_3class"] == pytest.approx(0.8) and h["accuracy_3class"] == pytest.approx(0.6)
    assert c["accuracy_3class_low"] < 0.8 < c["accuracy_3class_high"]
    assert c["mcnemar_p"] == pytest.approx(1.0) and c["rows_needed_80_power"] is None
    # fewer than MIN_PRODUCT_ROWS compared rows per product: no product rows
    assert all(r["scope"] == "overall" for r in table)


# -- pooling and the verdict -----------------------------------------------------------------
def _day_rows(day, n, champ_right, chal_right, both_right, champ_v="m1", chal_v="m2", acc3=(0.7, 0.7)):
    """Overall rows of one day with n rated binary rows and the given correctness counts."""
    b, c = champ_right - both_right, chal_right - both_right
    common = {
        "dt": day,
        "scope": "overall",
        "compared_on": "3-class labels",
        "status": "ok",
        "rows": n,
        "agree": n - b - c,
        "rated_rows": n,
        "rated_rows_binary": n,
        "mcnemar_champion_only": b,
        "mcnemar_challenger_only": c,
        **{f"flips_{x}_to_{y}": 0 for x, y in mc.FLIPS},
    }
    out = []
    for role, v, right, a3 in (
        ("champion", champ_v, champ_right, acc3[0]),
        ("challenger", chal_v, chal_right, acc3[1]),
    ):
        out.append(
            {
                **common,
                "role": role,
                "model_version": v,
                "n_negative": n // 2,
                "n_neutral": 0,
                "n_positive": n - n // 2,
                "mean_p_positive": 0.5,
                "correct_binary": right,
                "correct_3class": round(a3 * n),
            }
        )
    return out


def test_pool_adds_counts_and_the_verdicts():
    # Two days, each alone not significant (b=1, c=5: p=0.22); pooled b=2, c=10: p=0.039.
    rows = _day_rows("2026-03-01", 100, 80, 84, 79) + _day_rows("2026-03-02", 100, 80, 84, 79)
    one = mc.pool(rows[:2])
    assert one["roles"]["champion"]["mcnemar_p"] == pytest.approx(14 / 64)
    pooled = mc.pool(rows)
    assert pooled["days"] == ["2026-03-01", "2026-03-02"]
    c = pooled["roles"]["champion"]
    assert c["rated_rows_binary"] == 200 and c["mcnemar_champion_only"] == 2 and c["mcnemar_challenger_only"] == 10
    assert c["mcnemar_p"] == pytest.approx(stats.mcnemar_exact(2, 10)) and c["mcnemar_p"] < 0.05
    assert mc.verdict(pooled)[0] == "promote"
    assert mc.verdict(one)[0] == "not enough data"  # 0.80 vs 0.84 needs ~1,400 rated rows

    worse3 = _day_rows("2026-03-01", 100, 80, 84, 79, acc3=(0.7, 0.65)) + _day_rows(
        "2026-03-02", 100, 80, 84, 79, acc3=(0.7, 0.65)
    )
    assert mc.verdict(mc.pool(worse3))[0] == "keep"  # better binary, 5 points worse 3-class
    worse = _day_rows("2026-03-01", 300, 250, 200, 195)
    assert mc.verdict(mc.pool(worse))[0] == "keep"
    assert mc.verdict(mc.pool([]))[0] == "not enough data"


def test_pool_uses_only_the_newest_model_pair():
    rows = _day_rows("2026-03-01", 100, 50, 90, 45, chal_v="old") + _day_rows("2026-03-02", 100, 80, 84, 79)
    pooled = mc.pool(rows)
    assert pooled["days"] == ["2026-03-02"] and pooled["excluded_days"] == ["2026-03-01"]
    assert pooled["versions"] == {"champion": "m1", "challenger": "m2"}


# -- the registry's alias history and rollback ---------------------------------------------------
@pytest.fixture
def three_versions(model_dir, tmp_path, monkeypatch, local_lake):
    small = tmp_path / "bundled"
    small.mkdir()
    meta = json.loads((model_dir / "metadata.json").read_text())
    shutil.copy(model_dir / "tokenizer.json", small / "tokenizer.json")
    meta["files"] = {"tokenizer.json": meta["files"]["tokenizer.json"]}
    for v in ("v1", "v2", "v3"):
        d = tmp_path / v
        d.mkdir()
        shutil.copy(small / "tokenizer.json", d / "tokenizer.json")
        (d / "metadata.json").write_text(json.dumps({**meta, "version": v}))
        registry.publish(local_lake, d)
    return local_lake


def test_every_alias_move_is_recorded_and_rollback_walks_back(three_versions):
    lake = three_versions
    registry.set_alias(lake, "v1", by="ana", reason="first")
    registry.set_alias(lake, "v2", by="ben")
    registry.set_alias(lake, "v3", by="ana", action="if-better", evidence={"verdict": "promote"})
    registry.set_alias(lake, "v2", registry.CHALLENGER, by="ana")
    moves = registry.history(lake)
    assert [(m["alias"], m["from"], m["to"], m["by"]) for m in moves] == [
        ("production", None, "v1", "ana"),
        ("production", "v1", "v2", "ben"),
        ("production", "v2", "v3", "ana"),
        ("challenger", None, "v2", "ana"),
    ]
    assert moves[2]["evidence"] == {"verdict": "promote"} and moves[0]["at"].endswith("+00:00")
    assert registry.previous(lake) == "v2"
    registry.set_alias(lake, "v2", action="rollback")
    assert registry.previous(lake) == "v1"  # a second rollback goes further back, not to v3
    registry.set_alias(lake, "v1", action="rollback")
    assert registry.aliases(lake)["production"] == "v1" and registry.previous(lake) is None
    registry.set_alias(lake, None, registry.CHALLENGER)
    assert registry.CHALLENGER not in registry.aliases(lake)
    with pytest.raises(ValueError):
        registry.set_alias(lake, None)  # production cannot be cleared


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "nlp_tasks.sentiment", *args], capture_output=True, text=True)


def _write_day(lake, day, rows):
    import pyarrow as pa

    t = pa.Table.from_pylist([{k: r.get(k) for k in MODEL_COMPARISON.names} for r in rows], schema=MODEL_COMPARISON)
    partitions.write(lake, lake.uri(layout.report("model_comparison", day)), t, "r")


def test_promote_if_better_moves_production_only_on_the_evidence(three_versions):
    lake = three_versions
    registry.set_alias(lake, "v1")
    registry.set_alias(lake, "v2", registry.CHALLENGER)
    for day in ("2026-03-01", "2026-03-02"):
        _write_day(lake, day, _day_rows(day, 100, 80, 84, 79, champ_v="v1", chal_v="v2"))

    one_day = _cli("promote", "--data-root", lake.root, "--if-better", "--from", "2026-03-01", "--to", "2026-03-01")
    assert one_day.returncode == 0, one_day.stderr
    assert "verdict: not enough data" in one_day.stdout and registry.aliases(lake)["production"] == "v1"

    dry = _cli(
        "promote", "--data-root", lake.root, "--if-better", "--from", "2026-03-01", "--to", "2026-03-02", "--dry-run"
    )
    assert "verdict: promote" in dry.stdout and "would move production v1 -> v2" in dry.stdout
    assert registry.aliases(lake)["production"] == "v1"

    moved = _cli("promote", "--data-root", lake.root, "--if-better", "--from", "2026-03-01", "--to", "2026-03-02")
    assert moved.returncode == 0, moved.stderr
    assert registry.aliases(lake) == {"production": "v2"}  # the challenger became production
    last = [m for m in registry.history(lake) if m["alias"] == "production"][-1]
    assert (
        last["action"] == "if-better"
        and last["evidence"]["verdict"] == "promote"
        and last["evidence"]["days"] == ["2026-03-01", "2026-03-02"]
    )

    # The window's champion is no longer production: its evidence cannot move anything again.
    again = _cli("promote", "--data-root", lake.root, "--if-better", "--from", "2026-03-01", "--to", "2026-03-02")
    assert "not the current production" in again.stdout and registry.aliases(lake)["production"] == "v2"

    back = _cli("promote", "--data-root", lake.root, "--to-previous")
    assert back.returncode == 0, back.stderr
    assert registry.aliases(lake)["production"] == "v1"
    compare = _cli("compare", "--data-root", lake.root, "--from", "2026-03-01", "--to", "2026-03-02", "--json")
    assert json.loads(compare.stdout)["verdict"] == "promote"
