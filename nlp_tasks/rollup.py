"""Weekly rollup of the daily summaries: ``reports/rollup/week=YYYY-Www/part-00000.parquet``.

The week is the ISO week (Monday..Sunday) containing the given day; the rollup reads that
week's published summary partitions (at most 7) and replaces the week's partition in one
write, so it can run after every nightly publish and is complete (``complete = true``) once
all seven days are in. Shares and the mean score are weighted by reported rows, rating
agreement by rated rows; counts are sums.
"""

from __future__ import annotations

import datetime as dt
import logging

from . import layout, partitions
from .schema import ROLLUP

log = logging.getLogger(__name__)


def iso_week(day: str) -> str:
    y, w, _ = dt.date.fromisoformat(layout.check_date(day)).isocalendar()
    return f"{y}-W{w:02d}"


def week_days(week: str) -> list[str]:
    y, w = week.split("-W")
    monday = dt.date.fromisocalendar(int(y), int(w), 1)
    return [(monday + dt.timedelta(days=i)).isoformat() for i in range(7)]


def read_summaries(lake, days: list[str]):
    """The published summary partitions among ``days`` as one pandas frame with a dt column."""
    import pandas as pd

    frames = []
    for d in days:
        table = partitions.read(lake, lake.uri(layout.report("summary", d)))
        if table is None:
            continue
        df = table.to_pandas()
        df["dt"] = d
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else None


def aggregate(df, week: str, run_id: str = ""):
    """Roll a frame of daily summary rows up to one row per scope/product."""
    import numpy as np
    import pyarrow as pa

    df = df.copy()
    # Columns that partitions written by earlier versions lack.
    for col in ("rows_rated", "rating_agreement_binary"):
        if col not in df.columns:
            df[col] = np.nan
    # Agreement weights: rated rows where known, else reported rows.
    df["_agree_w"] = df["rows_rated"].where(df["rows_rated"].notna(), df["rows_reported"]).astype(float)
    df["_agree_bin_w"] = df["_agree_w"].where(df["rating_agreement_binary"].notna(), 0.0)
    df.loc[df["rating_agreement"].isna(), "_agree_w"] = 0.0
    all_days = sorted(df["dt"].unique())
    rows = []
    for (scope, product), part in df.groupby(["scope", df["product_id"].fillna("")], sort=True):
        n = part["rows_reported"].fillna(0).astype(float)
        tot = n.sum()

        def wmean(col, w=n, part=part):
            vals = part[col].astype(float)
            ok = vals.notna() & (w > 0)
            return float((vals[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() and w[ok].sum() > 0 else None

        def isum(col, part=part):
            vals = part[col]
            return int(vals.sum()) if vals.notna().any() else None

        days = sorted(part["dt"].unique())
        rows.append(
            {
                "scope": scope,
                "product_id": product or None,
                "days": len(days),
                "first_day": days[0],
                "last_day": days[-1],
                "complete": len(all_days) == 7,
                "rows_in": isum("rows_in"),
                "rows_reported": int(tot),
                "rows_quarantined": isum("rows_quarantined"),
                "rows_rated": isum("rows_rated"),
                "negative_share": wmean("negative_share"),
                "neutral_share": wmean("neutral_share"),
                "positive_share": wmean("positive_share"),
                "mean_score": wmean("mean_score"),
                "rating_agreement": wmean("rating_agreement", part["_agree_w"]),
                "pii_entities": isum("pii_entities"),
                "drift_days": int((part["drift_verdict"] == "drift").sum()),
                "run_id": run_id,
                "rating_agreement_binary": wmean("rating_agreement_binary", part["_agree_bin_w"]),
            }
        )
    rows.sort(key=lambda r: (r["scope"] != "overall", r["product_id"] or ""))
    return pa.Table.from_pylist(rows, schema=ROLLUP)


def rollup_week(lake, day: str, run_id: str = "") -> dict:
    """(Re)build the rollup of the ISO week containing ``day``; returns a small dict for XCom."""
    week = iso_week(day)
    days = week_days(week)
    df = read_summaries(lake, days)
    prefix = lake.uri(layout.rollup(week))
    if df is None:
        log.warning("no published summary in %s: rollup not written", week)
        return {"week": week, "days": [], "uri": None}
    table = aggregate(df, week, run_id)
    present = sorted(df["dt"].unique().tolist())
    partitions.write(lake, prefix, table, run_id, days=present)
    uri = prefix + "/" + partitions.SINGLE
    log.info("rollup %s from %d days (%s): %d rows", week, len(present), ",".join(present), table.num_rows)
    return {"week": week, "days": present, "uri": uri, "rows": table.num_rows}


def latest_summary_day(lake) -> str | None:
    days = partitions.published_days(lake, lake.uri(layout.report_table(layout.SUMMARY)))
    return days[-1] if days else None
