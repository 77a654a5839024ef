"""Reads the canonical monitoring files of deploy/k8s/monitoring for the tests.

The PrometheusRule's `spec` is exactly a Prometheus rule file, so promtool and a real
Prometheus get it extracted rather than from a second copy. The dashboard's PromQL
(panel targets, annotation queries, template variable queries) is listed with Grafana's
variables replaced by values a plain Prometheus understands.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

MONITORING_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "monitoring"
RULE_FILE = MONITORING_DIR / "prometheus-rule.yaml"
DASHBOARD_FILE = MONITORING_DIR / "dashboards" / "metrics-analyzer.json"

# What Grafana would substitute, for a scrape interval of 1 s: $__rate_interval is at
# least four scrape intervals.
GRAFANA_VARIABLES = {
    "$__rate_interval": "10s",
    "$__interval": "5s",
    "$job": "metrics-analyzer",
    "$instance": ".*",
}

PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2",
}


@dataclass(frozen=True)
class Query:
    where: str  # e.g. 'panel "z-scores" target B' or 'rule MetricsAnalyzerDown'
    expr: str
    panel: str | None = None  # dashboard panel title, for "every panel returns data"


def rule_groups() -> dict:
    """The PrometheusRule's spec: a Prometheus rule file's content ({"groups": [...]})."""
    doc = yaml.safe_load(RULE_FILE.read_text())
    assert doc["kind"] == "PrometheusRule", RULE_FILE
    return doc["spec"]


def write_rule_file(path: Path) -> Path:
    path.write_text(yaml.safe_dump(rule_groups(), sort_keys=False))
    return path


def alert_names() -> list[str]:
    return [r["alert"] for g in rule_groups()["groups"] for r in g["rules"] if "alert" in r]


def rule_queries() -> list[Query]:
    out = []
    for group in rule_groups()["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            out.append(Query(f"rule {name}", rule["expr"].strip()))
    return out


def substitute(expr: str) -> str:
    # Longest names first: $__rate_interval before $__interval.
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text())


def dashboard_queries() -> list[Query]:
    d = dashboard()
    out = []
    for panel in d["panels"]:
        for target in panel.get("targets", []):
            out.append(Query(f'panel "{panel["title"]}" target {target["refId"]}',
                             substitute(target["expr"]), panel["title"]))
    for ann in d.get("annotations", {}).get("list", []):
        if "expr" in ann:
            out.append(Query(f'annotation "{ann["name"]}"', substitute(ann["expr"])))
    for var in d.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        text = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", text.strip())
        assert m, f"unsupported variable query {text}"
        out.append(Query(f'variable "{var["name"]}"', substitute(m.group(1))))
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and labels excluded)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    # Label lists of aggregations and vector matching.
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names
