"""A self-contained HTML report per day: ``reports/html/dt=YYYY-MM-DD/report.html``.

One file, no external assets: charts are PNGs (matplotlib, Agg, no display needed) embedded
as base64 data URIs, so the page can be mailed, opened from S3 or served by the Airflow plugin.
It is built from the *published* partitions only (summary, drift, sentiment scores), so call
``write_day`` after publish has committed the day. No review text is read or shown.

Charts: label mix over the last 30 reported days (with rating agreement), the score
distribution today vs each reference, per-feature drift against the threshold, and the top
products by negative share.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import logging

from . import layout, partitions

log = logging.getLogger(__name__)

HTML_TABLE = "html"
COLORS = {"negative": "#d62728", "neutral": "#9e9e9e", "positive": "#2ca02c"}


def html_report(day: str) -> str:
    """Lake-relative path of a day's HTML report."""
    return f"reports/{HTML_TABLE}/{layout.part(day)}/report.html"


# -- data -------------------------------------------------------------------------------
def _read_partition(lake, table: str, day: str, columns: list[str] | None = None):
    """A small published table of the day (summary, drift, comparison), or None."""
    return partitions.read(lake, lake.uri(layout.report(table, day)), columns)


def score_sample(lake, files: list[str], k: int, seed: int = 7):
    """At most ``k`` scores drawn uniformly from the files, read a batch at a time: each score
    gets a seeded random key and the k smallest keys are kept, so memory is k plus one batch
    whatever the size of the days."""
    import numpy as np

    rng = np.random.default_rng(seed)
    kept_keys, kept = np.zeros(0), np.zeros(0)
    for uri in files:
        for batch in partitions.batches(lake, uri, ["score"]):
            if "score" not in batch.schema.names or batch.num_rows == 0:
                continue
            s = batch.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
            kept_keys = np.concatenate([kept_keys, rng.random(len(s))])
            kept = np.concatenate([kept, s])
            if len(kept) > k:
                top = np.argpartition(kept_keys, k)[:k]
                kept_keys, kept = kept_keys[top], kept[top]
    return kept[~np.isnan(kept)]


def gather(lake, day: str, history_days: int = 30, window: int = 7, max_scores: int = 50_000) -> dict:
    """Everything the page shows, as plain Python/numpy values (no text)."""
    from . import drift as D
    from .pipeline import Run, reference_days

    layout.check_date(day)
    end = dt.date.fromisoformat(day)
    start = end - dt.timedelta(days=history_days - 1)
    history = []
    for d in partitions.published_days(lake, lake.uri("reports", "summary")):
        if start <= dt.date.fromisoformat(d) <= end:
            t = _read_partition(lake, "summary", d)
            if t is None:
                continue
            for r in t.to_pylist():
                if r["scope"] == "overall":
                    history.append({"dt": d, **r})
    summary = _read_partition(lake, "summary", day)
    summary_rows = summary.to_pylist() if summary is not None else []
    drift_t = _read_partition(lake, "drift", day)
    drift_rows = drift_t.to_pylist() if drift_t is not None else []

    dists = {"today": score_sample(lake, D.report_day_files(lake, day) or [], max_scores)}
    ref_days = reference_days(Run(lake, day, "html-report"), window)
    ref_files = [f for d in ref_days for f in D.report_day_files(lake, d) or []]
    if ref_files:
        dists[f"rolling_{window}d ({ref_days[0]}..{ref_days[-1]})"] = score_sample(lake, ref_files, max_scores)
    base = D.baseline_files(lake)
    if base is not None and base[1].get("dt") != day:
        dists[f"baseline ({base[1].get('dt')})"] = score_sample(lake, base[0], max_scores)
    manifest = None
    m_uri = lake.uri(layout.manifest(day))
    if lake.exists(m_uri):
        manifest = json.loads(lake.read_text(m_uri))
    comparison = _read_partition(lake, "model_comparison", day)
    comparison_rows = [r for r in comparison.to_pylist() if r["scope"] == "overall"] if comparison is not None else []
    return {
        "day": day,
        "history": history,
        "summary": summary_rows,
        "drift": drift_rows,
        "scores": dists,
        "manifest": manifest,
        "comparison": comparison_rows,
    }


# -- charts -----------------------------------------------------------------------------
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(w: float = 8, h: float = 3.2):
    from matplotlib.figure import Figure  # the Agg canvas; no pyplot state, no display

    return Figure(figsize=(w, h))


def chart_label_mix(history: list[dict]) -> str | None:
    rows = [r for r in history if r.get("rows_reported")]
    if not rows:
        return None
    fig = _figure(9, 3.4)
    ax = fig.subplots()
    x = list(range(len(rows)))
    bottom = [0.0] * len(rows)
    for label in ("negative", "neutral", "positive"):
        vals = [r.get(f"{label}_share") or 0.0 for r in rows]
        ax.bar(x, vals, bottom=bottom, color=COLORS[label], label=label, width=0.8)
        bottom = [b + v for b, v in zip(bottom, vals)]
    agree = [r.get("rating_agreement") for r in rows]
    if any(a is not None for a in agree):
        ax.plot(x, [float("nan") if a is None else a for a in agree], "k.-", label="rating agreement")
    for i, r in enumerate(rows):
        if r.get("drift_verdict") == "drift":
            ax.annotate("drift", (i, 1.01), ha="center", fontsize=7, color="#d62728")
    ax.set_xticks(x, [r["dt"][5:] for r in rows], rotation=90, fontsize=7)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("share of reviews")
    ax.set_title("Label mix per day (last 30 reported days)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def chart_scores(dists: dict) -> str | None:
    import numpy as np

    if not any(len(v) for v in dists.values()):
        return None
    fig = _figure(7, 3.2)
    ax = fig.subplots()
    bins = np.linspace(0, 1, 41)
    for name, vals in dists.items():
        if len(vals):
            ax.hist(vals, bins=bins, density=True, histtype="step", linewidth=2 if name == "today" else 1.2, label=f"{name} (n={len(vals):,})")
    ax.set_xlabel("P(positive)")
    ax.set_ylabel("density")
    ax.set_title("Score distribution: today vs reference")
    ax.legend(fontsize=7)
    return _png(fig)


def chart_drift(rows: list[dict]) -> str | None:
    tested = [r for r in rows if r.get("statistic") is not None]
    if not tested:
        return None
    refs = sorted({r["reference"] for r in tested})
    feats = [f for f in dict.fromkeys(r["feature"] for r in rows)]
    fig = _figure(7, 0.35 * len(feats) * max(1, len(refs)) + 1.2)
    ax = fig.subplots()
    h = 0.8 / len(refs)
    for j, ref in enumerate(refs):
        by_f = {r["feature"]: r for r in tested if r["reference"] == ref}
        ys = [i + j * h for i in range(len(feats))]
        vals = [by_f[f]["statistic"] if f in by_f else 0.0 for f in feats]
        colors = ["#d62728" if f in by_f and by_f[f]["verdict"] == "drift" else ("#1f77b4" if j == 0 else "#aec7e8") for f in feats]
        ax.barh(ys, vals, height=h, color=colors)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    threshold = tested[0]["threshold"]
    ax.axvline(threshold, color="k", linestyle="--", linewidth=1)
    handles = [Patch(color="#1f77b4" if j == 0 else "#aec7e8", label=ref) for j, ref in enumerate(refs)]
    handles += [Patch(color="#d62728", label="drift"), Line2D([], [], color="k", linestyle="--", label=f"threshold {threshold:g}")]
    ax.set_yticks([i + 0.4 - h / 2 for i in range(len(feats))], feats, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("effect size (KS D; TVD for label mix / rating agreement)")
    ax.set_title("Drift per feature (red: drift = effect >= threshold and BH p < alpha)")
    ax.legend(handles=handles, fontsize=7)
    return _png(fig)


def top_products(summary_rows: list[dict], n: int = 10, min_reviews: int = 5) -> list[dict]:
    prods = [r for r in summary_rows if r["scope"] == "product" and (r.get("rows_reported") or 0) >= min_reviews]
    prods.sort(key=lambda r: (-(r.get("negative_share") or 0.0), -(r.get("rows_reported") or 0), str(r.get("product_id"))))
    return prods[:n]


def chart_products(rows: list[dict]) -> str | None:
    if not rows:
        return None
    fig = _figure(7, 0.35 * len(rows) + 1.2)
    ax = fig.subplots()
    names = [f"{r['product_id']} (n={r['rows_reported']})" for r in rows]
    ax.barh(range(len(rows)), [r["negative_share"] or 0.0 for r in rows], color=COLORS["negative"])
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("negative share")
    ax.set_title("Top products by negative share")
    return _png(fig)


# -- page -------------------------------------------------------------------------------
def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1%}" if pct else f"{v:.4g}"
    return html.escape(str(v))


def _img(b64: str | None, alt: str) -> str:
    if not b64:
        return f"<p class=muted>{html.escape(alt)}: no data yet.</p>"
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def comparison_section(rows: list[dict]) -> str:
    """"Champion vs challenger": the overall rows of the day's model_comparison, if it ran."""
    if not rows:
        return ""
    by_role = {r["role"]: r for r in rows}
    champ = by_role.get("champion", {})
    cols = [
        ("role", "role"), ("model", "model_version"), ("rows", "rows"), ("negative", "negative_share"),
        ("neutral", "neutral_share"), ("positive", "positive_share"), ("mean P(positive)", "mean_p_positive"),
        ("rated rows", "rated_rows"), ("3-class accuracy", "accuracy_3class"), ("binary accuracy", "accuracy_binary"),
    ]

    def cell(r, key):
        v = r.get(key)
        if key.startswith("accuracy_") and v is not None:
            return f"{v:.1%} [{r[key + '_low']:.1%}, {r[key + '_high']:.1%}]"
        return _fmt(v, key.endswith("_share"))

    body = "".join(
        "<tr>" + "".join(f"<td>{cell(by_role[role], k)}</td>" for _, k in cols) + "</tr>" for role in ("champion", "challenger") if role in by_role
    )
    flips = ", ".join(
        f"{k[6:].replace('_to_', ' → ')} {champ[k]}" for k in sorted(champ) if k.startswith("flips_") and champ.get(k)
    )
    kappa = "–" if champ.get("kappa") is None else f"{champ['kappa']:.3f}"
    p = "–" if champ.get("mcnemar_p") is None else f"{champ['mcnemar_p']:.3g}"
    need = champ.get("rows_needed_80_power")
    return f"""<h2>Champion vs challenger</h2>
<p class=muted>status {html.escape(str(champ.get('status') or '–'))} · compared on {html.escape(str(champ.get('compared_on') or '–'))}
· shadow fraction {_fmt(champ.get('shadow_fraction'))}. The challenger's labels never enter this report's other sections.</p>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h, _ in cols)}</tr>{body}</table>
<p>agreement {_fmt(champ.get('agreement'), True)}, Cohen's kappa {kappa}; label flips champion → challenger: {html.escape(flips or 'none')}.
McNemar exact p = {p} on rated rows (only champion right {_fmt(champ.get('mcnemar_champion_only'))}, only challenger right
{_fmt(champ.get('mcnemar_challenger_only'))}); rated rows a difference this size needs for 80% power: {_fmt(need) if need is not None else '–'}.
One night is rarely enough: pool a window with <code>python -m nlp_tasks.sentiment compare --from D1 --to D2</code>.</p>
"""


def render(data: dict, run_id: str = "") -> str:
    day = data["day"]
    overall = next((r for r in data["summary"] if r["scope"] == "overall"), {})
    verdict = overall.get("drift_verdict") or "–"
    drift_rows = data["drift"]
    products = top_products(data["summary"])
    kpis = [
        ("rows in", overall.get("rows_in")),
        ("reported", overall.get("rows_reported")),
        ("quarantined", overall.get("rows_quarantined")),
        ("PII entities redacted", overall.get("pii_entities")),
        ("negative", _fmt(overall.get("negative_share"), True)),
        ("neutral", _fmt(overall.get("neutral_share"), True)),
        ("positive", _fmt(overall.get("positive_share"), True)),
        ("mean P(positive)", _fmt(overall.get("mean_score"))),
        ("rating agreement", _fmt(overall.get("rating_agreement"), True)),
        ("rating agreement (1-2 vs 4-5 stars)", _fmt(overall.get("rating_agreement_binary"), True)),
        ("drift", verdict),
    ]
    kpi_html = "".join(f"<div class=kpi><b>{_fmt(v)}</b><span>{html.escape(k)}</span></div>" for k, v in kpis)
    head = ["feature", "reference", "test", "statistic", "p_adjusted", "threshold", "n_today", "n_reference", "mean_today", "mean_reference", "verdict"]
    body = "".join(
        f"<tr class={html.escape(r['verdict'])}>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in head) + "</tr>" for r in drift_rows
    )
    refs = "; ".join(sorted({f"{r['reference']}: {r.get('reference_days') or '–'}" for r in drift_rows}))
    models = ", ".join((data.get("manifest") or {}).get("model_versions") or []) or "–"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Review sentiment {html.escape(day)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 1100px; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
.kpis {{ display: flex; flex-wrap: wrap; gap: .6rem; }}
.kpi {{ border: 1px solid #ddd; border-radius: 6px; padding: .4rem .7rem; min-width: 7rem; }}
.kpi b {{ display: block; font-size: 1.15rem; }} .kpi span {{ color: #666; font-size: .8rem; }}
table {{ border-collapse: collapse; font-size: .8rem; }} td, th {{ border: 1px solid #ddd; padding: .2rem .5rem; text-align: right; }}
td:first-child, td:nth-child(2), td:nth-child(3) {{ text-align: left; }}
tr.drift {{ background: #fde0e0; }} tr.insufficient_data {{ color: #999; }}
img {{ max-width: 100%; }} .muted {{ color: #888; }}
</style></head><body>
<h1>Review sentiment — {html.escape(day)}</h1>
<p class=muted>run {html.escape(run_id or str(overall.get('run_id') or ''))} · model {html.escape(models)} · drift references: {html.escape(refs or '–')}</p>
<div class=kpis>{kpi_html}</div>
<h2>Label mix, last 30 days</h2>
{_img(chart_label_mix(data["history"]), "label mix over the last 30 days")}
<h2>Score distribution</h2>
{_img(chart_scores(data["scores"]), "score distribution")}
<h2>Drift per feature</h2>
{_img(chart_drift(drift_rows), "per-feature drift")}
<table><tr>{"".join(f"<th>{c}</th>" for c in head)}</tr>{body}</table>
<p class=muted>A feature drifts only when its effect size (KS D, or total variation distance for the
label mix and rating agreement) is at least the threshold AND its Benjamini-Hochberg adjusted p-value
is below alpha. mean_* of label_mix is the negative share; of rating_agreement the agreement share.</p>
<h2>Top products by negative share</h2>
{_img(chart_products(products), "top products by negative share")}
{comparison_section(data.get("comparison") or [])}</body></html>
"""


def write_day(lake, day: str, run_id: str = "", history_days: int = 30, window: int = 7) -> str:
    """Build and store the day's report next to the Parquet; returns its URI.

    Call after the day's partitions are committed. Replaces the page in one write.
    """
    data = gather(lake, day, history_days=history_days, window=window)
    page = render(data, run_id)
    uri = lake.uri(html_report(day))
    lake.write_text(uri, page)
    log.info("html report for %s: %s (%d bytes)", day, uri, len(page))
    return uri
