"""Champion vs challenger: the day's comparison table, pooling over days, and the verdict.

Everything here works from counts (label pairs, correct rows, discordant rows), so a window of
days pools by adding counts and recomputing, never by averaging daily p-values. The table
``reports/model_comparison/dt=D/`` has one row per (model role, scope): the overall scope and
every product with at least ``MIN_PRODUCT_ROWS`` compared rows.

What is compared: the rows both models scored (the challenger's sample). Labels are always one of
negative / neutral / positive, but a binary model's "neutral" is a band on P(positive), not a
class: ``compared_on`` says which kind of labels met. Binary correctness (on 1-2 vs 4-5 star
rows) is P(positive) > P(negative), which every model gives.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from . import layout, partitions
from .schema import FLIPS, LABELS, MODEL_COMPARISON
from .sentiment import stats

if TYPE_CHECKING:  # pandas is imported where a frame is built, not at module import
    import pandas as pd

MIN_PRODUCT_ROWS = 20
ROLES = ("champion", "challenger")
# The counts a day contributes to a pooled window (everything else is derived from them).
COUNT_COLUMNS = [
    "rows",
    "agree",
    "rated_rows",
    "rated_rows_binary",
    "mcnemar_champion_only",
    "mcnemar_challenger_only",
] + [f"flips_{a}_to_{b}" for a, b in FLIPS]


def sample_mask(review_ids: list[str], fraction: float) -> np.ndarray:
    """Deterministic sample: a review is in when a hash of its id falls below ``fraction``.

    The same review is in or out on every run, every worker and every day it reappears, so
    reruns and backfills compare the same rows.
    """
    import hashlib

    if fraction >= 1.0:
        return np.ones(len(review_ids), dtype=bool)
    if fraction <= 0.0:
        return np.zeros(len(review_ids), dtype=bool)
    cut = int(fraction * 2**32)
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(str(r).encode(), digest_size=4).digest(), "big") < cut for r in review_ids),
        dtype=bool,
        count=len(review_ids),
    )


def _label_index(labels) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(LABELS)}
    return np.fromiter((lookup[v] for v in labels), dtype=np.int64, count=len(labels))


def shard_counts(champion: pd.DataFrame, challenger: pd.DataFrame) -> pd.DataFrame:
    """Counts of one shard, per product: join the two models' rows on review_id.

    ``champion`` has review_id, product_id, rating, label, score, p_negative; ``challenger``
    review_id, label, score, p_negative. Returns one row per product_id ('' for none) of
    additive counts.
    """
    import pandas as pd

    m = champion.merge(challenger, on="review_id", suffixes=("_c", "_h"))
    out = pd.DataFrame({"product_id": m["product_id"].fillna("").astype(str)})
    ci, hi = _label_index(m["label_c"].tolist()), _label_index(m["label_h"].tolist())
    out["rows"] = 1
    for role, idx in (("champion", ci), ("challenger", hi)):
        for k, name in enumerate(LABELS):
            out[f"{role}_n_{name}"] = (idx == k).astype(np.int64)
    out["agree"] = (ci == hi).astype(np.int64)
    for a, b in FLIPS:
        out[f"flips_{a}_to_{b}"] = ((ci == LABELS.index(a)) & (hi == LABELS.index(b))).astype(np.int64)
    rating = pd.to_numeric(m["rating"], errors="coerce")
    rated = rating.notna().to_numpy()
    want3 = np.select([rating <= 2, rating == 3, rating >= 4], [0, 1, 2], default=-1)
    binary = (rated & (want3 != 1)).astype(bool)
    want_pos = (rating >= 4).to_numpy()
    out["rated_rows"] = rated.astype(np.int64)
    out["rated_rows_binary"] = binary.astype(np.int64)
    right = {}
    for role, idx, sfx in (("champion", ci, "_c"), ("challenger", hi, "_h")):
        p_pos = m["score" + sfx].to_numpy(dtype=np.float64)
        p_neg = m["p_negative" + sfx].to_numpy(dtype=np.float64)
        out[f"{role}_sum_p_positive"] = p_pos
        out[f"{role}_correct_3class"] = (rated & (idx == want3)).astype(np.int64)
        right[role] = binary & ((p_pos > p_neg) == want_pos)
        out[f"{role}_correct_binary"] = right[role].astype(np.int64)
    out["mcnemar_champion_only"] = (right["champion"] & ~right["challenger"]).astype(np.int64)
    out["mcnemar_challenger_only"] = (right["challenger"] & ~right["champion"]).astype(np.int64)
    return out.groupby("product_id", sort=True).sum()


def add_counts(total: pd.DataFrame | None, part: pd.DataFrame) -> pd.DataFrame:
    return part if total is None else total.add(part, fill_value=0).astype(part.dtypes.to_dict())


def compared_on(champion_classes: tuple, challenger_classes: tuple) -> str:
    if "neutral" in champion_classes and "neutral" in challenger_classes:
        return "3-class labels"
    return "labels; binary model's neutral is its P(positive) band"


def _role_row(c: dict, role: str, versions: dict, scope: str, product: str | None, overall: bool) -> dict:
    """One output row from a scope's counts (a dict of the additive columns)."""
    other = "challenger" if role == "champion" else "champion"
    rows = int(c["rows"])
    n = [int(c[f"{role}_n_{k}"]) for k in LABELS]
    n_other = [int(c[f"{other}_n_{k}"]) for k in LABELS]
    rated, rated_b = int(c["rated_rows"]), int(c["rated_rows_binary"])
    ok3, okb = int(c[f"{role}_correct_3class"]), int(c[f"{role}_correct_binary"])
    lo3, hi3 = stats.wilson_interval(ok3, rated)
    lob, hib = stats.wilson_interval(okb, rated_b)
    row = {
        "role": role,
        "model_version": versions[role],
        "other_version": versions[other],
        "scope": scope,
        "product_id": product,
        "rows": rows,
        **{f"n_{k}": v for k, v in zip(LABELS, n, strict=True)},
        **{f"{k}_share": (v / rows if rows else None) for k, v in zip(LABELS, n, strict=True)},
        "mean_p_positive": float(c[f"{role}_sum_p_positive"]) / rows if rows else None,
        "agree": int(c["agree"]),
        "agreement": int(c["agree"]) / rows if rows else None,
        "kappa": stats.cohens_kappa(int(c["agree"]), rows, n, n_other),
        **{f"flips_{a}_to_{b}": int(c[f"flips_{a}_to_{b}"]) for a, b in FLIPS},
        "rated_rows": rated,
        "correct_3class": ok3,
        "accuracy_3class": ok3 / rated if rated else None,
        "accuracy_3class_low": lo3,
        "accuracy_3class_high": hi3,
        "rated_rows_binary": rated_b,
        "correct_binary": okb,
        "accuracy_binary": okb / rated_b if rated_b else None,
        "accuracy_binary_low": lob,
        "accuracy_binary_high": hib,
    }
    if overall:
        b, cc = int(c["mcnemar_champion_only"]), int(c["mcnemar_challenger_only"])
        acc_c = int(c["champion_correct_binary"]) / rated_b if rated_b else None
        acc_h = int(c["challenger_correct_binary"]) / rated_b if rated_b else None
        row.update(
            mcnemar_champion_only=b,
            mcnemar_challenger_only=cc,
            mcnemar_p=stats.mcnemar_exact(b, cc),
            rows_needed_80_power=stats.rows_for_power(acc_c, acc_h),
        )
    return row


def build_table(
    counts: pd.DataFrame | None, versions: dict, on: str | None, status: str, fraction: float, run_id: str
) -> pa.Table:
    """The day's comparison rows from per-product counts (None: the challenger gave nothing)."""
    rows = []
    common = {"compared_on": on, "status": status, "shadow_fraction": float(fraction), "run_id": run_id}
    if counts is None or counts.empty:
        for role in ROLES:
            other = "challenger" if role == "champion" else "champion"
            rows.append(
                {
                    **common,
                    "role": role,
                    "model_version": versions[role],
                    "other_version": versions[other],
                    "scope": "overall",
                    "rows": 0,
                }
            )
    else:
        total = counts.sum().to_dict()
        for role in ROLES:
            rows.append({**common, **_role_row(total, role, versions, "overall", None, True)})
        for product, c in counts.iterrows():
            if product and c["rows"] >= MIN_PRODUCT_ROWS:
                for role in ROLES:
                    rows.append({**common, **_role_row(c.to_dict(), role, versions, "product", product, False)})
    cols = {f.name: [r.get(f.name) for r in rows] for f in MODEL_COMPARISON}
    return pa.table(cols, schema=MODEL_COMPARISON)


# -- a window of days ---------------------------------------------------------------------
def read_window(lake, start: str, end: str) -> list[dict]:
    """Overall rows of every committed comparison day in [start, end], oldest first."""
    d0, d1 = dt.date.fromisoformat(layout.check_date(start)), dt.date.fromisoformat(layout.check_date(end))
    out: list[dict] = []
    day = d0
    while day <= d1:
        prefix = layout.report(layout.MODEL_COMPARISON, day.isoformat())
        t = partitions.read(lake, lake.uri(prefix))
        if t is not None:
            out.extend({**r, "dt": day.isoformat()} for r in t.to_pylist() if r["scope"] == "overall")
        day += dt.timedelta(days=1)
    return out


def pool(rows: list[dict]) -> dict:
    """Pool overall rows of several days for the newest (champion, challenger) pair.

    Days that compared another pair are left out and named, so a window that spans a
    promotion does not mix models.
    """
    by_day: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_day.setdefault(r["dt"], {})[r["role"]] = r
    days = [d for d in sorted(by_day) if set(by_day[d]) == set(ROLES)]
    if not days:
        return {"days": [], "excluded_days": sorted(by_day), "versions": None}
    newest = by_day[days[-1]]
    versions = {role: newest[role]["model_version"] for role in ROLES}
    used = [d for d in days if all(by_day[d][role]["model_version"] == versions[role] for role in ROLES)]
    excluded = sorted(set(by_day) - set(used))
    c: dict = {k: 0 for k in COUNT_COLUMNS}
    for role in ROLES:
        for k in (*(f"n_{x}" for x in LABELS), "correct_3class", "correct_binary", "sum_p_positive"):
            c[f"{role}_{k}"] = 0.0 if k == "sum_p_positive" else 0
    for d in used:
        ch = by_day[d]["champion"]
        for k in COUNT_COLUMNS:
            c[k] += int(ch.get(k) or 0)
        for role in ROLES:
            r = by_day[d][role]
            for k in (*(f"n_{x}" for x in LABELS), "correct_3class", "correct_binary"):
                c[f"{role}_{k}"] += int(r.get(k) or 0)
            c[f"{role}_sum_p_positive"] += (r.get("mean_p_positive") or 0.0) * int(r.get("rows") or 0)
    on = {by_day[d]["champion"]["compared_on"] for d in used}
    statuses = {d: by_day[d]["champion"]["status"] for d in used if by_day[d]["champion"]["status"] != "ok"}
    return {
        "days": used,
        "excluded_days": excluded,
        "versions": versions,
        "compared_on": " / ".join(sorted(x for x in on if x)),
        "day_status": statuses,
        "roles": {role: _role_row(c, role, versions, "overall", None, True) for role in ROLES},
    }


def verdict(pooled: dict, alpha: float = 0.05, max_3class_drop: float = 0.01) -> tuple[str, str]:
    """promote | keep | not enough data, and why in one line.

    promote: the challenger is better on rated-row binary accuracy, McNemar p < alpha, and not
    worse on 3-class accuracy by more than ``max_3class_drop``. not enough data: nothing rated,
    or no significant difference while fewer rated rows than a difference of the observed
    size needs for 80% power.
    """
    if not pooled.get("days"):
        return "not enough data", "no day in the window has a champion/challenger comparison"
    champ, chal = pooled["roles"]["champion"], pooled["roles"]["challenger"]
    n = champ["rated_rows_binary"]
    if not n:
        return "not enough data", "no compared row has a 1-2 or 4-5 star rating"
    a_c, a_h, p = champ["accuracy_binary"], chal["accuracy_binary"], champ["mcnemar_p"]
    need = champ["rows_needed_80_power"]
    d3 = (chal["accuracy_3class"] or 0.0) - (champ["accuracy_3class"] or 0.0)
    facts = f"binary accuracy {a_h:.3f} vs {a_c:.3f} on {n} rated rows, McNemar p={p:.3g}, 3-class accuracy {d3:+.3f}"
    if a_h > a_c and p < alpha:
        if d3 < -max_3class_drop:
            return (
                "keep",
                "challenger better on binary accuracy but worse on 3-class accuracy "
                f"by more than {max_3class_drop:.0%}: {facts}",
            )
        return "promote", f"challenger better: {facts}"
    if p >= alpha and need is not None and n < need:
        return "not enough data", f"{facts}; a difference this size needs {need} rated rows for 80% power"
    return "keep", f"challenger not better: {facts}"


def render(pooled: dict, start: str, end: str) -> str:
    """The `compare` CLI's text: one line per model, the agreement, the test, the window."""
    if not pooled.get("days"):
        return f"model comparison {start} .. {end}: no comparison days" + (
            f" (days with an incomplete comparison: {', '.join(pooled['excluded_days'])})"
            if pooled.get("excluded_days")
            else ""
        )
    lines = [f"model comparison {start} .. {end}: {len(pooled['days'])} day(s), compared on {pooled['compared_on']}"]
    if pooled["excluded_days"]:
        lines.append(f"left out (another model pair or no challenger rows): {', '.join(pooled['excluded_days'])}")
    for d, s in pooled["day_status"].items():
        lines.append(f"{d}: challenger {s}")
    lines.append(
        f"{'role':<11} {'model_version':<30} {'rows':>7} {'rated':>6} "
        f"{'3-class acc [95% CI]':>24} {'binary acc [95% CI]':>24}  neg/neu/pos"
    )
    for role in ROLES:
        r = pooled["roles"][role]

        def acc(k, r=r):
            if r[f"accuracy_{k}"] is None:
                return "n/a"
            return f"{r[f'accuracy_{k}']:.3f} [{r[f'accuracy_{k}_low']:.3f}, {r[f'accuracy_{k}_high']:.3f}]"

        shares = "/".join("n/a" if r[f"{k}_share"] is None else f"{r[f'{k}_share']:.0%}" for k in LABELS)
        lines.append(
            f"{role:<11} {r['model_version']:<30} {r['rows']:>7} {r['rated_rows']:>6} "
            f"{acc('3class'):>24} {acc('binary'):>24}  {shares}"
        )
    c = pooled["roles"]["champion"]
    kappa = "n/a" if c["kappa"] is None else f"{c['kappa']:.3f}"
    agreement = "n/a" if c["agreement"] is None else f"{c['agreement']:.3f}"
    flips = ", ".join(f"{a}->{b} {c[f'flips_{a}_to_{b}']}" for a, b in FLIPS if c[f"flips_{a}_to_{b}"])
    lines.append(f"agreement {agreement}, kappa {kappa}; label flips champion->challenger: {flips or 'none'}")
    need = c["rows_needed_80_power"]
    lines.append(
        f"McNemar exact p = {c['mcnemar_p']:.3g} (only champion right {c['mcnemar_champion_only']}, "
        f"only challenger right {c['mcnemar_challenger_only']}); "
        f"rated rows needed for 80% power: {'n/a (no difference)' if need is None else need}"
    )
    v, why = verdict(pooled)
    lines.append(f"verdict: {v} ({why})")
    return "\n".join(lines)


def evidence(pooled: dict, start: str, end: str) -> dict:
    """What an alias move records: the window, the pair, the pooled figures and the verdict."""
    v, why = verdict(pooled)
    keep = (
        "rows",
        "rated_rows",
        "rated_rows_binary",
        "accuracy_3class",
        "accuracy_binary",
        "mcnemar_p",
        "rows_needed_80_power",
        "kappa",
        "agreement",
    )
    return {
        "from": start,
        "to": end,
        "days": pooled.get("days", []),
        "versions": pooled.get("versions"),
        "verdict": v,
        "why": why,
        "figures": {role: {k: pooled["roles"][role].get(k) for k in keep} for role in ROLES}
        if pooled.get("days")
        else None,
    }


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
