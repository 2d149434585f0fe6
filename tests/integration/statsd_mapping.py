"""deploy/statsd-mapping.yaml applied as statsd_exporter applies glob mappings (rules in order,
first match wins, `*` one dot-free segment, `$n` its capture), to check it against real
datagrams and against the Grafana dashboard's queries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MAPPING = REPO / "deploy" / "statsd-mapping.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "nlp-tasks.json"


def mappings() -> list[dict]:
    return yaml.safe_load(MAPPING.read_text())["mappings"]


def _compile(rule: dict):
    parts = [("([^.]+)" if p == "*" else re.escape(p)) for p in rule["match"].split(".")]
    return re.compile(r"\.".join(parts) + r"\Z")


def _fill(template: str, groups: tuple) -> str:
    return re.sub(r"\$(\d+)", lambda m: groups[int(m.group(1)) - 1], template)


def apply(name: str, rules: list[dict] | None = None) -> tuple[str, dict] | None:
    """(Prometheus name, labels) for a StatsD metric name, or None when no rule matches."""
    for rule in rules or mappings():
        m = _compile(rule).match(name)
        if m:
            return _fill(rule["name"], m.groups()), {
                k: _fill(v, m.groups()) for k, v in (rule.get("labels") or {}).items()
            }
    return None


def parse(line: str) -> tuple[str, dict, str]:
    """`name[,tag=v...]:value|type[|@rate]` (InfluxDB-style tags, as Airflow sends them) ->
    (name, tags, type)."""
    head, rest = line.split(":", 1)
    name, *tags = head.split(",")
    return name, dict(t.split("=", 1) for t in tags if "=" in t), rest.split("|")[1]


def series(rules: list[dict] | None = None) -> dict[str, set[str]]:
    """Every series name the mapping can produce (histograms with their suffixes), with label names."""
    out: dict[str, set[str]] = {}
    for rule in rules or mappings():
        names = [rule["name"]]
        if "$" in rule["name"]:
            names = [rule["name"].replace("$1", key) for key in RUN_KEYS]
        for n in names:
            for suffix in ("_bucket", "_sum", "_count") if rule.get("observer_type") == "histogram" else ("",):
                out[n + suffix] = set(rule.get("labels") or {})
    return out


# The run-level gauges nlp_tasks.observability.emit_run sends.
RUN_KEYS = (
    "rows_in",
    "rows_reported",
    "rows_quarantined",
    "pii_entities",
    "task_seconds",
    "cost_per_1000_reviews",
    "drift",
)


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target of the dashboard."""
    dash = json.loads(DASHBOARD.read_text())
    panels = [p for row in dash["panels"] for p in [row, *row.get("panels", [])]]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def check_datagrams(lines: list[str]) -> dict[str, set]:
    """Every nlp_tasks datagram maps to a named, labelled series; returns series -> label sets."""
    got: dict[str, set] = {}
    for line in lines:
        if not line.startswith("airflow.nlp_tasks."):
            continue
        name, tags, kind = parse(line)
        mapped = apply(name)
        assert mapped, f"no mapping for {name} ({line})"
        prom, labels = mapped
        assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", prom), (line, prom)
        got.setdefault(prom, set()).add(tuple(sorted({**tags, **labels}.items())))
    return got
