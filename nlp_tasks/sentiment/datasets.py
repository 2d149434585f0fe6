"""Labelled data for training and evaluation: binary sentence sets and star-rated reviews.

Two formats, told apart by the file name:
- ``.tsv`` (SST-2, UCI): ``sentence<TAB>label`` with a header line, 0 negative / 1 positive.
- ``.jsonl`` (reviews_rated): one ``{id, source, rating 1-5, title, text}`` per line. The
  model reads ``title + ". " + text`` (the text alone when there is no title), the way the
  nightly DAG scores a review; stars map 1-2 negative, 3 neutral, 4-5 positive.

Labels are indices into ``LABELS`` (negative, neutral, positive); a binary set's labels are
0 or 2, so one 3-class model trains and evaluates on both kinds.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field

import numpy as np

from . import LABELS

NEG, NEU, POS = (LABELS.index(x) for x in ("negative", "neutral", "positive"))


def review_input(title: str | None, text: str) -> str:
    """What the model reads for one review: its title and its text (the DAG does the same)."""
    title = (title or "").strip()
    return f"{title}. {text}" if title else text


def stars_to_label(rating: int) -> int:
    return NEG if rating <= 2 else NEU if rating == 3 else POS


@dataclass
class Labelled:
    texts: list[str]
    labels: np.ndarray  # indices into LABELS
    binary: bool  # True: only negative / positive (sentence sets)
    ids: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    ratings: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx) -> Labelled:
        idx = np.asarray(idx, dtype=np.int64)
        return Labelled(
            [self.texts[i] for i in idx],
            self.labels[idx],
            self.binary,
            [self.ids[i] for i in idx] if self.ids else [],
            [self.sources[i] for i in idx] if self.sources else [],
            None if self.ratings is None else self.ratings[idx],
        )


def read_tsv(path: str) -> tuple[list[str], np.ndarray]:
    """A binary sentence set as (texts, 0/1 labels)."""
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            if len(row) < 2:
                continue
            texts.append(row[0])
            labels.append(int(row[-1]))
    return texts, np.asarray(labels)


def read_reviews(path: str) -> Labelled:
    texts, ids, sources, ratings = [], [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            o = json.loads(line)
            texts.append(review_input(o.get("title"), o["text"]))
            ids.append(str(o["id"]))
            sources.append(str(o.get("source", "")))
            ratings.append(int(o["rating"]))
    r = np.asarray(ratings, dtype=np.int64)
    return Labelled(texts, np.asarray([stars_to_label(x) for x in r], dtype=np.int64), False, ids, sources, r)


def read_labelled(path: str) -> Labelled:
    if path.endswith(".jsonl"):
        return read_reviews(path)
    texts, y = read_tsv(path)
    return Labelled(texts, np.where(y == 1, POS, NEG).astype(np.int64), True)


# Licences of the public training sets, recorded with any model trained on them (see the data
# README that ships beside them). Some are non-commercial: a model trained on them inherits that.
DATA_LICENCES = {
    "sst2": "SST: research use (GLUE SST-2 copy, repository MIT)",
    "uci_": "CC BY 4.0 (UCI Sentiment Labelled Sentences, Kotzias et al. 2015)",
    "womens_clothing": "CC0 (Women's E-Commerce Clothing Reviews, Kaggle nicapotato)",
    "amazon_products": "CC BY-NC-SA 4.0 (Datafiniti Consumer Reviews of Amazon Products): non-commercial",
    "yelp": "Yelp Dataset terms: non-commercial, academic use",
    "amazon_alexa": "as published on Kaggle (Amazon Alexa reviews)",
}


def licence_for(path: str) -> str:
    from pathlib import Path

    p = Path(path)
    name = p.name if p.name not in ("train.tsv", "dev.tsv") else p.parent.name + "_" + p.name
    for prefix, licence in DATA_LICENCES.items():
        if name.startswith(prefix):
            return licence
    return "unknown: record it before publishing a model trained on it"
