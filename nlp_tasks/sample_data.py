"""Realistic raw input for any date: reviews with PII, a few malformed rows, real PDFs.

    python -m nlp_tasks.sample_data --data-root lake --date 2026-11-18 [--days 3] [--reviews 120]

Deterministic for a (seed, date): rerunning it rewrites the same objects.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random

from . import layout
from .storage import Lake

PRODUCTS = ["P-1001", "P-1002", "P-2040", "P-3300", "P-4712"]
NOUNS = ["headphones", "blender", "backpack", "phone case", "coffee maker", "desk lamp", "running shoes", "keyboard"]
POSITIVE = [
    "Absolutely love this {n}, works perfectly and arrived early.",
    "Great quality {n} for the price. Would buy again!",
    "The {n} exceeded my expectations; setup took two minutes.",
    "Fantastic {n}. Battery life is excellent and it feels sturdy.",
    "Best {n} I have owned in years, highly recommend it to anyone.",
    "Really happy with the {n}. Customer service was friendly and quick.",
]
NEGATIVE = [
    "The {n} broke after three days. Very disappointed.",
    "Terrible {n}, cheap plastic and it stopped working within a week.",
    "Waste of money. The {n} is nothing like the pictures.",
    "Awful experience: the {n} arrived damaged and support never answered.",
    "I regret buying this {n}; it is loud, slow and uncomfortable.",
    "Do not buy this {n}. It overheats and the refund took a month.",
]
# Three-star reviews are mixed, not silent: a bare fact ("it arrived on Tuesday") carries no
# opinion, and no star-rated review set reads it as neutral.
NEUTRAL = [
    "The {n} is okay. It does the job, nothing special.",
    "Average {n}. Some things are good, some are not.",
    "The {n} works, but it feels a bit flimsy for the price.",
]
FILLER = [
    "I ordered it in {m} for my sister.",
    "Order #{o} was shipped with tracking 1Z999AA1{o}.",
    "It cost ${p} which seemed fair at the time.",
    "I compared it with the model WH-{o2} before deciding.",
    "We used it every day for {d} weeks.",
]
PII = [
    "Contact me at {first}.{last}@example.com if you need details.",
    "Call me on (415) 555-{four} any time.",
    "My card 4111 1111 1111 1111 was charged twice!",
    "They asked for my SSN 536-22-{four} which is creepy.",
    "You can reach me at +44 20 7946 0{three}.",
]
FIRST = ["alice", "bob", "carol", "dan", "erin", "frank"]
LAST = ["smith", "jones", "lee", "garcia", "chen", "novak"]
MONTHS = ["January", "March", "May", "July", "September", "November"]


def _review_text(rng: random.Random, long: bool = False) -> tuple[str, int]:
    kind = rng.choices(["pos", "neg", "neu"], weights=[5, 3, 2])[0]
    n = rng.choice(NOUNS)
    bank = {"pos": POSITIVE, "neg": NEGATIVE, "neu": NEUTRAL}[kind]
    parts = [rng.choice(bank).format(n=n)]
    for _ in range(rng.randint(0, 2) + (12 if long else 0)):
        parts.append(
            rng.choice(FILLER).format(
                m=rng.choice(MONTHS),
                o=rng.randint(100000, 999999),
                o2=rng.randint(1000, 9999),
                p=f"{rng.randint(10, 400)}.{rng.randint(0, 99):02d}",
                d=rng.randint(1, 9),
            )
        )
        if long:
            parts.append(rng.choice(bank).format(n=n))
    if rng.random() < 0.2:
        parts.insert(
            rng.randint(1, len(parts)),
            rng.choice(PII).format(
                first=rng.choice(FIRST),
                last=rng.choice(LAST),
                four=f"{rng.randint(1000, 9999)}",
                three=f"{rng.randint(100, 999)}",
            ),
        )
    rating = {"pos": rng.choice([4, 5, 5]), "neg": rng.choice([1, 1, 2]), "neu": 3}[kind]
    return " ".join(parts), rating


def _reviews(rng: random.Random, day: str, n: int, prefix: str) -> list[dict]:
    base = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    out = []
    for i in range(n):
        text, rating = _review_text(rng, long=rng.random() < 0.05)
        rec = {
            "review_id": f"{prefix}-{day.replace('-', '')}-{i:05d}",
            "product_id": rng.choice(PRODUCTS),
            "rating": rating if rng.random() > 0.1 else None,
            "title": rng.choice(["Review", "My thoughts", "Update after a week", None]),
            "text": text,
            "created_at": (base + dt.timedelta(seconds=rng.randint(0, 86_399))).isoformat(),
        }
        out.append(rec)
    return out


def _pdf(text: str, title: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_author("sample_data")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def write_day(lake: Lake, day: str, n_reviews: int = 120, seed: int = 7) -> dict:
    """Write one day of raw input; returns the counts of what was written."""
    layout.check_date(day)
    rng = random.Random(f"{seed}-{day}")
    reviews_dir = lake.uri(layout.raw_reviews(day))
    pdfs_dir = lake.uri(layout.raw_pdfs(day))
    # A regenerated day replaces the old one completely.
    lake.delete_prefix(reviews_dir)
    lake.delete_prefix(pdfs_dir)

    n_json = n_reviews // 2
    n_csv = n_reviews // 4
    n_pq = n_reviews - n_json - n_csv

    web = _reviews(rng, day, n_json, "web")
    lines = [json.dumps(r) for r in web]
    # Malformed input the pipeline must quarantine, not crash on.
    lines.insert(5, '{"review_id": "web-broken", "text": "truncated')
    lines.insert(9, "not json at all")
    web[3]["text"] = "   "
    lines[3] = json.dumps(web[3])
    lines.append(json.dumps({"review_id": web[0]["review_id"], "text": "A duplicate id from a retried export."}))
    lines.append(json.dumps({"review_id": f"web-{day}-stars", "text": "Seven stars!", "rating": 7}))
    lake.write_text(f"{reviews_dir}/reviews-web.jsonl", "\n".join(lines) + "\n")

    app = _reviews(rng, day, n_csv, "app")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["review_id", "product_id", "rating", "title", "text", "created_at"])
    for r in app:
        w.writerow(
            [
                r["review_id"],
                r["product_id"],
                r["rating"] if r["rating"] is not None else "",
                r["title"] or "",
                r["text"],
                r["created_at"],
            ]
        )
    buf.write("app-short-row,P-1001,5\n")
    lake.write_text(f"{reviews_dir}/reviews-app.csv", buf.getvalue())

    import pyarrow as pa

    partner = _reviews(rng, day, n_pq, "partner")
    table = pa.Table.from_pylist([{**r, "rating": r["rating"], "channel": "partner-feed"} for r in partner])
    lake.write_parquet(table, f"{reviews_dir}/reviews-partner.parquet")

    n_pdfs = 3
    for i in range(n_pdfs):
        text, _ = _review_text(rng, long=True)
        lake.write_bytes(f"{pdfs_dir}/letter-{day.replace('-', '')}-{i}.pdf", _pdf(text, f"Customer letter {i}"))
    # Malformed: 2 lines (truncated JSON, not JSON), 1 blank text, 1 duplicate id, 1 bad rating, 1 short CSV row.
    records = len(lines) + (n_csv + 1) + n_pq + n_pdfs
    return {"dt": day, "records": records, "expected_bad": 6, "pdfs": n_pdfs}


def main(argv: list[str] | None = None) -> None:
    import os

    from .storage import lake_for

    ap = argparse.ArgumentParser(prog="python -m nlp_tasks.sample_data")
    ap.add_argument("--data-root", default=os.environ.get("NLP_TASKS_DATA_ROOT", "lake"))
    ap.add_argument("--date", required=True, help="first date, YYYY-MM-DD")
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--reviews", type=int, default=120, help="reviews per day")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    lake = lake_for(args.data_root)
    start = dt.date.fromisoformat(args.date)
    for i in range(args.days):
        print(json.dumps(write_day(lake, (start + dt.timedelta(days=i)).isoformat(), args.reviews, args.seed)))


if __name__ == "__main__":
    main()
