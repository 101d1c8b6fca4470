"""Every alert and every dashboard panel uses only metrics (and labels) some process exports.

The exported metrics are derived from the code, not listed by hand: the prometheus_client
metrics ``plumbing/metrics.py`` declares *and* some code sets (a declared gauge nobody sets
is never exported), the families its collectors yield (``GaugeMetricFamily(...)``), plus every ``self.metrics.count(...)`` / ``observe(...)`` in the
services, gateway and plumbing, with their labels. Those are then created in a real
prometheus_client registry and scraped, so the names are exactly what /metrics shows
(``_total``, ``_bucket``, ``_count``, ...).
"""
import ast
import functools
import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.k8s_render import K8S, REPO, configmap, of_kind, rendered

MONITORING = K8S / "components" / "monitoring"
CODE = [p for d in ("plumbing", "services", "gateway") for p in (REPO / d).rglob("*.py") if "migrations" not in p.parts]
# Labels Prometheus itself puts on every scraped series (prometheus-operator's ServiceMonitor).
TARGET_LABELS = {"namespace", "pod", "job", "instance", "container", "endpoint", "service"}
# Metrics of other processes the alerts may use, and who exports them.
EXTERNAL = {"up": "Prometheus, for every target", "kube_pod_status_ready": "kube-state-metrics"}
# What the dashboards and alerts would show if it were exported; until then they leave it out.
# When one appears, this test fails: add its panel/alert and take it off this list.
EXPECTED_MISSING = {}
# Ticket metrics exported today; open, overdue (and critical open) ticket gauges are not.
# When the support service exports more, this fails: add their panels and alerts.
TICKET_METRICS_TODAY = {"vowrewards_tickets_created_total"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
                "and", "or", "unless", "inf", "nan"}


# --- what the processes export ------------------------------------------------------------------

def _declared_in_plumbing():
    """(attribute, kind, name, labels) of each metric MetricsRegistry.setup declares."""
    tree = ast.parse((REPO / "plumbing" / "metrics.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                getattr(node.value.func, "id", None) in ("Counter", "Gauge", "Histogram") and \
                isinstance(node.value.args[0], ast.Constant):
            (target,) = node.targets
            name = node.value.args[0].value
            labels = [e.value for e in node.value.args[2].elts] if len(node.value.args) > 2 else []
            found.append((target.attr, node.value.func.id, name, labels))
    return found


def _collected_in_plumbing():
    """(kind, name, labels) of each ``<Kind>MetricFamily("name", ..., labels=[...])`` a collector yields."""
    found = []
    for node in ast.walk(ast.parse((REPO / "plumbing" / "metrics.py").read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "").endswith("MetricFamily"):
            labels = [k.value for k in node.keywords if k.arg == "labels"]
            found.append((node.func.id[:-len("MetricFamily")], node.args[0].value,
                          [e.value for e in labels[0].elts] if labels else []))
    return found


def _business_metrics():
    """(kind, name, labels) of every ``<x>.metrics.count/observe("name", ..., label=...)`` call."""
    found = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("count", "observe") and \
                    isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "metrics" and \
                    node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                labels = sorted(k.arg for k in node.keywords if k.arg not in ("documentation", "amount", "value"))
                found.append(("Counter" if node.func.attr == "count" else "Histogram", node.args[0].value,
                              ["service"] + labels))
    return found


def _code_text():
    return "\n".join(p.read_text() for p in CODE)


@functools.lru_cache(maxsize=None)
def exported_metrics():
    """(kind, name, labels) of every metric some process exports (declared and set)."""
    code, metrics = _code_text(), {}
    declared = [(kind, name, labels) for attr, kind, name, labels in _declared_in_plumbing()
                if re.search(r"\.%s\.labels\(" % attr, code)]  # declared and set somewhere
    for kind, name, labels in declared + _collected_in_plumbing() + _business_metrics():
        # counted in several places: the first call fixes its labels at run time
        assert metrics.setdefault(name, (kind, labels)) == (kind, labels), (
            "%s is used with different labels: %s, %s" % (name, metrics[name], (kind, labels)))
    return tuple((kind, name, labels) for name, (kind, labels) in metrics.items())


@functools.lru_cache(maxsize=None)
def exported():
    """{series name: label names} as /metrics would show them, from a real registry."""
    registry = CollectorRegistry()
    for kind, name, labels in exported_metrics():
        cls = {"Counter": Counter, "Gauge": Gauge, "Histogram": Histogram}[kind]
        child = cls(name, name, labels, registry=registry).labels(**{label: "x" for label in labels})
        getattr(child, {"Counter": "inc", "Gauge": "set", "Histogram": "observe"}[kind])(*([] if kind == "Counter" else [1]))
    series = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


@functools.lru_cache(maxsize=None)
def string_literals():
    return {node.value for path in CODE for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_the_derivation_sees_the_plumbing_and_the_services():
    series = exported()
    for name in ("vowrewards_entrypoint_duration_seconds_bucket", "vowrewards_events_handled_total",
                 "vowrewards_outbox_backlog", "vowrewards_redemptions_total", "vowrewards_settlement_exceptions_total",
                 "vowrewards_gc_pause_seconds_bucket", "vowrewards_gc_frozen_objects"):
        assert name in series, name
    assert series["vowrewards_entrypoint_duration_seconds_bucket"] == {"service", "method", "kind", "outcome", "le"}
    assert series["vowrewards_redemptions_total"] == {"service", "channel", "method"}
    assert series["vowrewards_gc_pause_seconds_bucket"] == {"service", "generation", "le"}


def test_metrics_waiting_to_be_exported_are_still_missing():
    names = {name for _, name, _ in exported_metrics()}
    appeared = sorted(set(EXPECTED_MISSING) & names)
    assert not appeared, "now exported: %s. Add their panels and alerts and take them off EXPECTED_MISSING" % appeared
    tickets = {name for name in names if name.startswith("vowrewards_tickets_")}
    assert tickets == TICKET_METRICS_TODAY, (
        "the support service exports new ticket metrics %s: add open/overdue/critical panels and alerts "
        "for them, then update TICKET_METRICS_TODAY" % sorted(tickets - TICKET_METRICS_TODAY))


# --- what the alerts and dashboards use ------------------------------------------------------------

def selectors(expr):
    """(metric, {label: (op, value)}, grouping labels) for each vector selector in a PromQL expression."""
    expr = re.sub(r"\[[^\]]*\]", "", expr)                                   # range vectors, subqueries
    grouping = set()
    for match in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        grouping |= {label.strip() for label in match.group(1).split(",") if label.strip()}
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    found = []
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}|([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*[({])", expr):
        name = match.group(1) or match.group(3)
        if name is None or name.lower() in PROMQL_WORDS or re.fullmatch(r"[0-9.e+-]+|[smhdwy]", name):
            continue
        matchers = {m.group(1): (m.group(2), m.group(3))
                    for m in re.finditer(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"', match.group(2) or "")}
        found.append((name, matchers, grouping))
    return found


def alert_rules():
    (rule,) = yaml.safe_load_all((MONITORING / "prometheusrule.yaml").read_text())
    return [(r["alert"], str(r["expr"])) for g in rule["spec"]["groups"] for r in g["rules"]]


def dashboards():
    return {p.name: json.loads(p.read_text()) for p in sorted((MONITORING / "dashboards").glob("*.json"))}


def panel_queries():
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield "%s: %s" % (name, panel["title"]), target["expr"]
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                yield "%s: $%s" % (name, variable["name"]), re.sub(r"label_values\((.*), \w+\)", r"\1",
                                                                     variable["query"]["query"])


def _check(where, expr, series, literals):
    used = selectors(expr)
    assert used, "%s: no metric in %r" % (where, expr)
    problems, labels = [], set(TARGET_LABELS) | {"le"}
    for name, matchers, _ in used:
        if name in EXTERNAL:
            continue
        if name not in series:
            problems.append("%s is not exported by any process%s" % (
                name, " (%s)" % EXPECTED_MISSING[name] if name in EXPECTED_MISSING else ""))
            continue
        labels |= series[name]
        for label, (op, value) in matchers.items():
            if label not in series[name] | TARGET_LABELS:
                problems.append("%s has no label %s" % (name, label))
            elif label not in TARGET_LABELS and op in ("=", "=~") and "$" not in value:
                for alternative in value.split("|") if op == "=~" else [value]:
                    if alternative not in literals:
                        problems.append('%s{%s="%s"}: no code writes that value' % (name, label, alternative))
    for _, _, grouping in used:
        if not all(name in EXTERNAL for name, _, _ in used):
            problems += ["groups by %s, which no metric here has" % g for g in grouping - labels]
    assert not problems, "%s: %s" % (where, "; ".join(problems))


@pytest.mark.parametrize("alert,expr", alert_rules(), ids=[a for a, _ in alert_rules()])
def test_every_alert_uses_exported_metrics(alert, expr):
    _check(alert, expr, exported(), string_literals())


def test_every_dashboard_panel_uses_exported_metrics():
    series, literals = exported(), string_literals()
    queries = list(panel_queries())
    assert len(queries) > 20
    for where, expr in queries:
        _check(where, expr, series, literals)


def test_the_checker_catches_what_it_should():
    """Guard on the guard: an unexported metric, a missing label, a value no code writes."""
    series, literals = exported(), string_literals()
    for expr in ("vowrewards_not_a_metric > 0", 'sum by (store) (rate(vowrewards_redemptions_total[5m]))',
                 'rate(vowrewards_events_handled_total{outcome="exploded"}[5m])',
                 'rate(vowrewards_redemptions_total{till="3"}[5m])'):
        with pytest.raises(AssertionError):
            _check("guard", expr, series, literals)


def test_the_dashboards_cover_what_operators_watch():
    text = json.dumps(dashboards())
    for needle in ("vowrewards_entrypoint_duration_seconds_count", "vowrewards_entrypoint_duration_seconds_bucket",
                   'outcome=\\"error\\"', "vowrewards_redemptions_total", "vowrewards_event_lag_seconds_bucket",
                   "vowrewards_outbox_backlog", "vowrewards_outbox_oldest_age_seconds", 'outcome=\\"parked\\"',
                   "vowrewards_tickets_created_total", 'priority=\\"critical\\"',
                   "vowrewards_settlement_exceptions_total", "vowrewards_gc_pause_seconds_bucket"):
        assert needle in text, needle
    uids = [board["uid"] for board in dashboards().values()]
    assert len(set(uids)) == len(uids)
    for name, board in dashboards().items():
        assert {v["name"] for v in board["templating"]["list"]} >= {"datasource", "namespace"}, name
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "${datasource}" and panel["description"], panel["title"]


def test_the_monitoring_component_provisions_the_dashboards():
    docs = rendered("production")
    (cm,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == "vowrewards-dashboards"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert {name: json.loads(text) for name, text in cm["data"].items()} == dashboards()
    assert configmap(docs, "vowrewards-dashboards") == cm["data"]
