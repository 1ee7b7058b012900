"""The Grafana dashboard (docs/grafana/raccoon-dashboard.json) queries only
metrics the server registers, in src/metrics/catalog.cpp or a publisher's
src/publisher/NAME/NAME_metrics.cpp: a renamed or dropped metric would
otherwise leave an empty panel that nobody notices."""

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "raccoon-dashboard.json"
# (registrations, declarations): the shared catalog and each publisher's own.
CATALOGS = [(ROOT / "src" / "metrics" / "catalog.cpp",
             ROOT / "include" / "raccoon" / "metrics" / "catalog.hpp")] + [
    (source, ROOT / "include" / "raccoon" / "publisher" / source.parent.name / f"{source.stem}.hpp")
    for source in sorted((ROOT / "src" / "publisher").glob("*/*_metrics.cpp"))]

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "inf", "nan",
}


def registered_metrics(sources=None):
    """{name: type} of every add_counter/add_gauge/add_histogram in `sources`
    (every catalog's)."""
    found = []
    for source in sources or [source for source, _ in CATALOGS]:
        found += re.findall(r'add_(counter|gauge|histogram)\(\s*"([A-Za-z_:][A-Za-z0-9_:]*)"',
                            source.read_text())
    return {name: kind for kind, name in found}


def metric_names(expr):
    """The metric names an expression selects: the identifiers left once string
    literals, label matchers, ranges, grouping clauses, function calls and
    keywords are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"[A-Za-z_:][A-Za-z0-9_:]*\s*\(", "(", expr)
    expr = re.sub(r"\$\w+", " ", expr)
    return {name for name in re.findall(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr)
            if name.lower() not in PROMQL_KEYWORDS}


def dashboard_queries():
    """(where, PromQL) of every panel target and every variable query; a
    variable's label_values(selector, label) counts as its selector."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            queries.append((f"panel {panel['title']!r}", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) \
            else variable["query"]
        selector = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
        assert selector, f"variable {variable['name']}: {query!r} is not label_values(...)"
        queries.append((f"variable {variable['name']!r}", selector.group(1)))
    return queries


def base_name(name, registered):
    """`name` less a histogram's series suffix, when the base is a histogram."""
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and registered.get(base) == "histogram":
            return base
    return name


def test_metric_names_parser():
    assert metric_names(
        'histogram_quantile(0.99, sum by (le, conn_group) '
        '(rate(x_ms_bucket{conn_group=~"$conn_group",a="b{c}"}[$__rate_interval])))'
    ) == {"x_ms_bucket"}
    assert metric_names("sum without (instance) (a_total) / on (job) group_left b offset 5m") \
        == {"a_total", "b"}
    assert metric_names("rate(process_cpu_seconds_total[1m]) * 100 > bool 0.5") \
        == {"process_cpu_seconds_total"}


def test_every_catalog_is_read_whole():
    # A catalog's members are named after their metrics.
    assert len(CATALOGS) > 1, "no publisher's metrics found"
    for source, header in CATALOGS:
        declared = dict((name, kind) for kind, name in re.findall(
            r"\b(counter|gauge|histogram)_family&\s+(\w+);", header.read_text()))
        assert declared, f"no metric members found in {header}"
        assert registered_metrics([source]) == declared, source


def test_every_dashboard_metric_is_registered():
    registered = registered_metrics()
    queries = dashboard_queries()
    assert queries, f"no queries found in {DASHBOARD}"
    unknown = []
    for where, expr in queries:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        unknown += [f"{where}: {name} in {expr!r}" for name in sorted(names)
                    if base_name(name, registered) not in registered]
    assert not unknown, "metrics the catalog does not register:\n" + "\n".join(unknown)

