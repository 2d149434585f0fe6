"""A self-contained HTML report per day: ``reports/html/dt=YYYY-MM-DD/report.html``.

One file, no external assets: charts are PNGs (matplotlib, Agg, no display needed) at twice
their display size, embedded as base64 data URIs, so the page can be mailed, opened from S3 or
served by the Airflow plugin. It is built from the *published* partitions only (summary, drift,
sentiment scores), so call
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

HTML_TABLE = layout.HTML
COLORS = {"negative": "#d62728", "neutral": "#9e9e9e", "positive": "#2ca02c"}


def html_report(day: str) -> str:
    """Lake-relative path of a day's HTML report."""
    return layout.html_report(day)


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

    layout.check_date(day)
    end = dt.date.fromisoformat(day)
    start = end - dt.timedelta(days=history_days - 1)
    history = []
    for d in partitions.published_days(lake, lake.uri(layout.report_table(layout.SUMMARY))):
        if start <= dt.date.fromisoformat(d) <= end:
            t = _read_partition(lake, layout.SUMMARY, d)
            if t is None:
                continue
            for r in t.to_pylist():
                if r["scope"] == "overall":
                    history.append({"dt": d, **r})
    summary = _read_partition(lake, layout.SUMMARY, day)
    summary_rows = summary.to_pylist() if summary is not None else []
    drift_t = _read_partition(lake, layout.DRIFT, day)
    drift_rows = drift_t.to_pylist() if drift_t is not None else []

    dists = {"today": score_sample(lake, D.report_day_files(lake, day) or [], max_scores)}
    ref_days = D.window_days(lake, day, window)  # the reported days drift compared this day with
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
    comparison = _read_partition(lake, layout.MODEL_COMPARISON, day)
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
# Charts are PNGs drawn at twice their display size (sharp on high-density screens), with
# labels of at least 9 pt (12 CSS px once shown at half their pixel size).
DPI = 200
FONT = 9
VERDICT_WORDS = {
    "drift": "drift",
    "ok": "no drift",
    "no_reference": "no reference yet",
    "insufficient_data": "too little data",
}
# Per-feature drift rows: what the verdict says, in words and colour.
DRIFT_CLASSES = {
    "significant": ("#d62728", "drift: effect ≥ threshold and adjusted p < alpha"),
    "large": ("#ff9f1c", "effect ≥ threshold, not significant"),
    "small": ("#1f77b4", "effect below threshold"),
}


def verdict_words(verdict) -> str:
    """A drift verdict code in plain words (``no_reference`` -> ``no reference yet``)."""
    if verdict is None:
        return "–"
    return VERDICT_WORDS.get(verdict, str(verdict).replace("_", " "))


def _png(fig) -> tuple[str, int, int]:
    """(base64 PNG, display width, display height in CSS px: half the pixels)."""
    import struct

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    raw = buf.getvalue()
    w, h = struct.unpack(">II", raw[16:24])  # the IHDR chunk
    return base64.b64encode(raw).decode("ascii"), (w + 1) // 2, (h + 1) // 2


def _figure(w: float = 8, h: float = 3.2):
    from matplotlib.figure import Figure  # the Agg canvas; no pyplot state, no display

    fig = Figure(figsize=(w, h))
    return fig


def _style(ax) -> None:
    ax.tick_params(labelsize=FONT)
    ax.title.set_fontsize(FONT + 2)
    ax.xaxis.label.set_fontsize(FONT + 1)
    ax.yaxis.label.set_fontsize(FONT + 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def chart_label_mix(history: list[dict]):
    rows = [r for r in history if r.get("rows_reported")]
    if not rows:
        return None
    fig = _figure(8, 3.4)
    ax = fig.subplots()
    x = list(range(len(rows)))
    bottom = [0.0] * len(rows)
    for label in ("negative", "neutral", "positive"):
        vals = [r.get(f"{label}_share") or 0.0 for r in rows]
        ax.bar(x, vals, bottom=bottom, color=COLORS[label], label=label, width=0.8)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    agree = [r.get("rating_agreement") for r in rows]
    if any(a is not None for a in agree):
        ax.plot(x, [float("nan") if a is None else a for a in agree], "k.-", label="rating agreement")
    for i, r in enumerate(rows):
        if r.get("drift_verdict") == "drift":
            ax.annotate("drift", (i, 1.01), ha="center", fontsize=FONT, color="#d62728")
    step = max(1, len(rows) // 15)  # at most ~15 date labels, never overlapping
    ax.set_xticks(x[::step], [r["dt"][5:] for r in rows][::step], rotation=45, ha="right")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of reviews")
    ax.set_title("Label mix per day (last 30 reported days)")
    _style(ax)
    ax.legend(fontsize=FONT, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)


def chart_scores(dists: dict):
    import numpy as np

    if not any(len(v) for v in dists.values()):
        return None
    fig = _figure(7, 3.2)
    ax = fig.subplots()
    bins = np.linspace(0, 1, 41)
    for name, vals in dists.items():
        if len(vals):
            ax.hist(
                vals,
                bins=bins,
                density=True,
                histtype="step",
                linewidth=2 if name == "today" else 1.2,
                label=f"{name} (n={len(vals):,})",
            )
    ax.set_xlabel("P(positive)")
    ax.set_ylabel("density")
    ax.set_title("Score distribution: today vs reference")
    _style(ax)
    ax.legend(fontsize=FONT, frameon=False)
    return _png(fig)


def drift_class(row: dict) -> str | None:
    """significant (the row's verdict is drift), large (effect at or above the threshold but
    not significant), small (below the threshold); None when nothing was tested."""
    if row.get("statistic") is None:
        return None
    if row.get("verdict") == "drift":
        return "significant"
    return "large" if row["statistic"] >= row["threshold"] else "small"


def chart_drift(rows: list[dict]):
    tested = [r for r in rows if r.get("statistic") is not None]
    if not tested:
        return None
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    refs = sorted({r["reference"] for r in tested})
    feats = [f for f in dict.fromkeys(r["feature"] for r in rows)]
    fig = _figure(7, 0.32 * len(feats) * max(1, len(refs)) + 1.4)
    ax = fig.subplots()
    h = 0.8 / len(refs)
    hatches = ["", "//", "..", "xx"]
    used: set[str] = set()
    for j, ref in enumerate(refs):
        by_f = {r["feature"]: r for r in tested if r["reference"] == ref}
        ys = [i + j * h for i in range(len(feats))]
        vals = [by_f[f]["statistic"] if f in by_f else 0.0 for f in feats]
        classes = [(drift_class(by_f[f]) or "small") if f in by_f else "small" for f in feats]
        used.update(c for f, c in zip(feats, classes, strict=True) if f in by_f)
        ax.barh(
            ys,
            vals,
            height=h * 0.95,
            color=[DRIFT_CLASSES[c][0] for c in classes],
            hatch=hatches[j % len(hatches)],
            edgecolor="white",
            linewidth=0.5,
        )
    threshold = tested[0]["threshold"]
    ax.axvline(threshold, color="k", linestyle="--", linewidth=1)
    # The legend names only what the chart shows: each class present, each reference's pattern.
    handles: list[Patch | Line2D] = [
        Patch(facecolor=DRIFT_CLASSES[c][0], label=DRIFT_CLASSES[c][1]) for c in DRIFT_CLASSES if c in used
    ]
    if len(refs) > 1:
        handles += [
            Patch(facecolor="#cccccc", hatch=hatches[j % len(hatches)], edgecolor="white", label=f"vs {ref}")
            for j, ref in enumerate(refs)
        ]
    handles.append(Line2D([], [], color="k", linestyle="--", label=f"threshold {threshold:g}"))
    ax.set_yticks([i + 0.4 - h / 2 for i in range(len(feats))], feats)
    ax.invert_yaxis()
    ax.set_xlabel("effect size (KS D; TVD for label mix / rating agreement)")
    ax.set_title(f"Drift per feature vs {', '.join(refs)}" if len(refs) == 1 else "Drift per feature")
    _style(ax)
    ax.legend(handles=handles, fontsize=FONT, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)


def top_products(summary_rows: list[dict], n: int = 10, min_reviews: int = 5) -> list[dict]:
    prods = [r for r in summary_rows if r["scope"] == "product" and (r.get("rows_reported") or 0) >= min_reviews]
    prods.sort(
        key=lambda r: (-(r.get("negative_share") or 0.0), -(r.get("rows_reported") or 0), str(r.get("product_id")))
    )
    return prods[:n]


def chart_products(rows: list[dict]):
    if not rows:
        return None
    fig = _figure(7, 0.32 * len(rows) + 1.2)
    ax = fig.subplots()
    names = [f"{r['product_id']} (n={r['rows_reported']})" for r in rows]
    ax.barh(range(len(rows)), [r["negative_share"] or 0.0 for r in rows], color=COLORS["negative"])
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("negative share")
    ax.set_title("Top products by negative share")
    _style(ax)
    return _png(fig)


# -- page -------------------------------------------------------------------------------
def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1%}" if pct else f"{v:.4g}"
    return html.escape(str(v))


def _p(v) -> str:
    """An adjusted p-value as people read it: '< 0.001', '0.042', '1.00' (BH caps at 1)."""
    if v is None:
        return "–"
    return "< 0.001" if v < 0.001 else (f"{v:.3f}" if v < 0.995 else "1.00")


def _img(chart, alt: str) -> str:
    if not chart:
        return f"<p class=muted>{html.escape(alt)}: no data yet.</p>"
    b64, w, h = chart
    img = f'<img alt="{html.escape(alt)}" width="{w}" height="{h}" src="data:image/png;base64,{b64}">'
    return f"<figure class=chart>{img}</figure>"


def comparison_section(rows: list[dict]) -> str:
    """ "Champion vs challenger": the overall rows of the day's model_comparison, if it ran."""
    if not rows:
        return ""
    by_role = {r["role"]: r for r in rows}
    champ = by_role.get("champion", {})
    cols = [
        ("role", "role"),
        ("model", "model_version"),
        ("rows", "rows"),
        ("negative", "negative_share"),
        ("neutral", "neutral_share"),
        ("positive", "positive_share"),
        ("mean P(positive)", "mean_p_positive"),
        ("rated rows", "rated_rows"),
        ("3-class accuracy", "accuracy_3class"),
        ("binary accuracy", "accuracy_binary"),
    ]

    def cell(r, key):
        v = r.get(key)
        if key.startswith("accuracy_") and v is not None:
            return f"{v:.1%} [{r[key + '_low']:.1%}, {r[key + '_high']:.1%}]"
        return _fmt(v, key.endswith("_share"))

    body = "".join(
        "<tr>" + "".join(f"<td>{cell(by_role[role], k)}</td>" for _, k in cols) + "</tr>"
        for role in ("champion", "challenger")
        if role in by_role
    )
    flips = ", ".join(
        f"{k[6:].replace('_to_', ' → ')} {champ[k]}" for k in sorted(champ) if k.startswith("flips_") and champ.get(k)
    )
    kappa = "–" if champ.get("kappa") is None else f"{champ['kappa']:.3f}"
    p = "–" if champ.get("mcnemar_p") is None else f"{champ['mcnemar_p']:.3g}"
    need = champ.get("rows_needed_80_power")
    return f"""<h2>Champion vs challenger</h2>
<p class=muted>status {html.escape(str(champ.get("status") or "–"))} · compared on
{html.escape(str(champ.get("compared_on") or "–"))}
· shadow fraction {_fmt(champ.get("shadow_fraction"))}. The challenger's labels never enter this report's other
sections.</p>
<div class=scroll><table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h, _ in cols)}</tr>{body}</table></div>
<p>agreement {_fmt(champ.get("agreement"), True)}, Cohen's kappa {kappa}; label flips champion → challenger:
{html.escape(flips or "none")}.
McNemar exact p = {p} on rated rows (only champion right {_fmt(champ.get("mcnemar_champion_only"))},
only challenger right {_fmt(champ.get("mcnemar_challenger_only"))});
rated rows a difference this size needs for 80% power:
{_fmt(need) if need is not None else "–"}.
One night is rarely enough: pool a window with <code>python -m nlp_tasks.sentiment compare --from D1 --to D2</code>.</p>
"""


# The page's look, shared with the Airflow plugin's list and error pages: fits a 1280 px
# laptop (wide tables scroll inside their own box), follows the reader's dark mode.
CSS = """
:root { color-scheme: light dark; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --card: #f6f8fa;
  --link: #0969da; --drift: #fde0e0; --drift-fg: #82071e; --ok-fg: #116329; --large: #fff1d6; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --bg: #0d1117; --card: #151b23; --link: #4493f8;
    --drift: #4a1d22; --drift-fg: #ffa198; --ok-fg: #56d364; --large: #3d2e12; }
  /* Charts are drawn on white: shown inverted, hues kept, so no white block in dark mode. */
  figure.chart img { filter: invert(0.9) hue-rotate(180deg); }
}
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  margin: 0; padding: 1rem 1.25rem 2rem;
  color: var(--fg); background: var(--bg); line-height: 1.45; max-width: 1200px; }
a { color: var(--link); }
h1 { font-size: 1.4rem; margin: .25rem 0; } h2 { font-size: 1.1rem; margin-top: 1.75rem; }
.sub { color: var(--muted); font-size: .9rem; margin: 0 0 1rem; }
.sub span { white-space: nowrap; } .sub span.wrap { white-space: normal; } .sub .id, .sub time { white-space: nowrap; }
.sub span + span::before { content: " · "; }
nav.reports { display: flex; flex-wrap: wrap; gap: .4rem 1rem; font-size: .9rem; padding: .5rem 0;
  border-bottom: 1px solid var(--line); margin-bottom: .75rem; }
nav.reports .right { margin-left: auto; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: .6rem; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: .45rem .7rem; background: var(--card); }
.kpi b { display: block; font-size: 1.15rem; } .kpi span { color: var(--muted); font-size: .8rem; }
.kpi.drift { background: var(--drift); } .kpi.drift b { color: var(--drift-fg); }
.scroll { max-width: 100%; overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; font-size: .82rem; width: 100%; }
td, th { border-bottom: 1px solid var(--line); padding: .3rem .55rem; text-align: right; white-space: nowrap; }
th { background: var(--card); font-weight: 600; position: sticky; top: 0; }
td.l, th.l { text-align: left; }
tr.significant { background: var(--drift); } tr.significant td.verdict { color: var(--drift-fg); font-weight: 600; }
tr.large { background: var(--large); } tr.untested { color: var(--muted); }
figure.chart { margin: .5rem 0; } figure.chart img { max-width: 100%; height: auto; }
.muted { color: var(--muted); }
"""


def drift_table(drift_rows: list[dict]) -> str:
    """Per-feature drift: the verdict in words right after the feature, so it is in view
    without scrolling; the numbers after it (the box scrolls sideways on a narrow screen)."""
    cols = [
        ("feature", "l"),
        ("verdict", "l"),
        ("reference", "l"),
        ("effect", ""),
        ("adjusted p", ""),
        ("threshold", ""),
        ("alpha", ""),
        ("test", "l"),
        ("n today", ""),
        ("n reference", ""),
        ("mean today", ""),
        ("mean reference", ""),
    ]
    words = {
        "significant": "drift",
        "large": "large effect, not significant",
        "small": "small effect",
        None: "not tested (too little data)",
    }
    body = []
    for r in drift_rows:
        c = drift_class(r)
        cells = [
            (html.escape(str(r.get("feature"))), "l"),
            (words[c], "l verdict"),
            (html.escape(str(r.get("reference"))), "l"),
            (_fmt(r.get("statistic")), ""),
            (_p(r.get("p_adjusted")), ""),
            (_fmt(r.get("threshold")), ""),
            (_fmt(r.get("alpha")), ""),
            (_fmt(r.get("test")), "l"),
            (_fmt(r.get("n_today")), ""),
            (_fmt(r.get("n_reference")), ""),
            (_fmt(r.get("mean_today")), ""),
            (_fmt(r.get("mean_reference")), ""),
        ]
        body.append(f"<tr class={c or 'untested'}>" + "".join(f'<td class="{k}">{v}</td>' for v, k in cells) + "</tr>")
    head = "".join(f'<th class="{k}">{h}</th>' for h, k in cols)
    table = f"<table class=drift><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class=scroll>{table}</div>"


NAV_MARKER = "<!-- nlp-reports:nav -->"


def _long_day(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return f"{d:%A} {d.day} {d:%B}"


def _days_span(days) -> str:
    """'2026-11-03,...,2026-11-09' as '2026-11-03 to 2026-11-09, 7 days'."""
    got = [d for d in str(days or "").split(",") if d]
    if not got:
        return "no days"
    return got[0] if len(got) == 1 else f"{got[0]} to {got[-1]}, {len(got)} days"


def render(data: dict, run_id: str = "") -> str:
    day = data["day"]
    overall: dict = next((r for r in data["summary"] if r["scope"] == "overall"), {})
    verdict = overall.get("drift_verdict")
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
        ("drift", verdict_words(verdict)),
    ]
    kpi_html = "".join(
        f'<div class="kpi{" drift" if k == "drift" and verdict == "drift" else ""}">'
        f"<b>{_fmt(v)}</b><span>{html.escape(k)}</span></div>"
        for k, v in kpis
    )
    refs = "; ".join(sorted({f"{r['reference']} ({_days_span(r.get('reference_days'))})" for r in drift_rows}))
    models = ", ".join((data.get("manifest") or {}).get("model_versions") or []) or "–"
    run = run_id or str(overall.get("run_id") or "")
    sub = [f"reviews of {html.escape(day)} (UTC)", f"model {html.escape(models)}"]
    if run:
        sub.append(f"published by run <span class=id>{html.escape(run)}</span>")
    if refs:
        sub.append(f"drift references: {html.escape(refs)}")
    alpha = next((r.get("alpha") for r in drift_rows if r.get("alpha") is not None), None)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Review sentiment {html.escape(day)}</title>
<style>{CSS}</style></head><body data-day="{html.escape(day)}">
{NAV_MARKER}
<h1>Review sentiment — {html.escape(day)} <span class=muted>{html.escape(_long_day(day))}</span></h1>
<p class=sub>{"".join(f"<span{' class=wrap' if i > 1 else ''}>{x}</span>" for i, x in enumerate(sub))}</p>
<div class=kpis>{kpi_html}</div>
<h2>Label mix, last 30 days</h2>
{_img(chart_label_mix(data["history"]), "label mix over the last 30 days")}
<h2>Score distribution</h2>
{_img(chart_scores(data["scores"]), "score distribution")}
<h2>Drift per feature</h2>
{_img(chart_drift(drift_rows), "per-feature drift")}
{drift_table(drift_rows) if drift_rows else "<p class=muted>No drift tests: no reference days yet.</p>"}
<p class=muted>A feature drifts only when its effect size (KS D, or total variation distance for the
label mix and rating agreement) is at least the threshold AND its Benjamini-Hochberg adjusted p-value
is below alpha{f" ({alpha:g})" if alpha is not None else ""}. A large effect on a small day is often not significant:
its adjusted p can be 1.00, which is the correction working, not an error. mean of label_mix is the negative share; of
rating_agreement the agreement share.</p>
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
