"""The dashboards and alert rules query only what the collector and the filter really write.

LogQL (dashboards, Loki rules, the datasource's derived fields): stream labels are the ones the
Loki sink sets itself plus the labels configured in base/collector.example.toml; label filters,
groupings, `json` fields and paths, `unwrap` and `line_format` fields are stream labels,
structured metadata or fields of the stored lines. What the collector writes is what
`observatory-collector fields` prints (the binary `make test` built), derived from its line
types; README.md's record table must name exactly the record's fields it lists.

PromQL (dashboards, Prometheus rules): every dashboard query parses (promtool, as recording
rules); every metric name is one the collector serves on /metrics (the binary `make test`
built, started here with every sink and exporter configured), one the filter exports through
Envoy (Envoy 1.40 from .venv running the built module, /stats/prometheus), or one of Istio's
certificate gauges; every grouping label exists on those series or is a scrape label.
"""

import json
import re
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from meshcheck import ISTIO, REPO, VENV, config_map_data, free_port, run, tail

COLLECTOR_BIN = REPO / "target" / "debug" / "observatory-collector"
WASM = REPO / "target" / "wasm32-wasip1" / "release" / "observatory_filter.wasm"
# Istio's certificate gauges (istiod: security/pkg/server/ca/monitoring.go; pilot-agent:
# security/pkg/nodeagent/cache/monitoring.go, served with the istio_agent_ prefix).
ISTIO_METRICS = {
    "citadel_server_root_cert_expiry_timestamp": set(),
    "citadel_server_cert_chain_expiry_timestamp": set(),
    "istio_agent_cert_expiry_seconds": {"resource_name"},
}
# Added by Prometheus' Kubernetes service discovery / relabelling, or by a rule.
SCRAPE_LABELS = {"namespace", "pod", "instance", "job", "le", "cert"}
LOGQL_STAGES = {"json", "logfmt", "unwrap", "line_format", "label_format", "pattern", "regexp", "unpack", "drop", "keep", "decolorize"}
INTERNAL_LABELS = {"__error__", "__error_details__"}
# A parameter of the `json` stage: name="path", the path a string that may hold \".
JSON_PARAM = r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"'


class Names:
    """A set of names in which `*` stands for any key (`headers_*`: every `headers_` name)."""

    def __init__(self, names=()):
        names = list(names)
        self.exact = {n for n in names if "*" not in n}
        self.patterns = {n for n in names if "*" in n}

    def __or__(self, names):
        return Names(self.exact | self.patterns | set(names))

    def __iter__(self):
        return iter(self.exact | self.patterns)

    def __contains__(self, name):
        return name in self.exact or any(
            re.fullmatch(re.escape(p).replace(r"\*", r"\w+"), name) for p in self.patterns)


def tokens(path: str) -> list:
    """A JSON path as keys and `[]` for array elements: `a.b[0].c` -> a, b, [], c."""
    path = re.sub(r'\["([^"]*)"\]', r".\1", path)
    return [t for t in re.split(r"\.|(\[\d*\])", path) if t]


def collector_contract(results):
    """What `observatory-collector fields` says the collector writes, in the shapes the checks use."""
    if not COLLECTOR_BIN.exists():
        results.check("observatory-collector fields", False, f"build {COLLECTOR_BIN.name} first (make check-mesh does)")
        return None
    done = run([COLLECTOR_BIN, "fields"])
    if not results.check("observatory-collector fields", done.returncode == 0, tail(done.stderr)):
        return None
    printed = json.loads(done.stdout)
    paths = [["[]" if t.startswith("[") else t for t in tokens(p)] for kind in printed["lines"].values() for p in kind]
    return {
        "paths": paths,
        # `| json` without parameters: nested keys joined by `_`, arrays left out.
        "flat": Names("_".join(p) for p in paths if "[]" not in p),
        "keys": {t for p in paths for t in p if t not in ("[]", "*")},
        "record": {tokens(p)[0] for p in printed["lines"]["record"]},
        "metadata": set().union(*printed["metadata"].values(), printed["split_metadata"]),
        "labels": printed["labels"],
    }


def readme_record_fields():
    """The fields README.md's record table documents."""
    section = (REPO / "README.md").read_text().split("## The audit record", 1)[1].split("\n## ", 1)[0]
    fields = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            fields |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return fields


def check_readme(results, contract):
    documented = readme_record_fields()
    missing, extra = contract["record"] - documented, documented - contract["record"]
    results.check("README.md's record table documents exactly the record fields `observatory-collector fields` lists",
                  not missing and not extra,
                  f"not documented: {', '.join(sorted(missing)) or '-'}; documented but not written: {', '.join(sorted(extra)) or '-'}"
                  if missing or extra else "")


def stream_labels(contract):
    """Label name -> the values the collector writes, None where any value may come."""
    config = (ISTIO / "base" / "collector.example.toml").read_text()
    configured = re.search(r"^labels = \{(.*)\}$", config, re.M)
    labels = dict(contract["labels"])
    for name in re.findall(r"(\w+)\s*=", configured.group(1) if configured else ""):
        labels[name] = None
    return labels


# ------------------------------------------------------------------ LogQL
def logql_problems(expr: str, contract, labels) -> list:
    problems = []
    for body in re.findall(r"(?<![{])\{([^{}]*)\}(?!\})", expr):
        for name, op, value in re.findall(r"(\w+)\s*(=~|!~|!=|=)\s*\"([^\"]*)\"", body):
            if name not in labels:
                problems.append(f"stream label {name!r} is not written (labels: {', '.join(sorted(labels))})")
            elif labels[name] and op == "=" and value not in labels[name]:
                problems.append(f"{name}={value!r}: the collector writes {name} as {' or '.join(map(repr, labels[name]))}")
    extracted, whole = set(), False
    for params in re.findall(r"\|\s*json\b([^|]*)", expr):
        # The stage ends where the range of a metric query starts ([5m], [$__auto]).
        params = re.split(r"\[(?:\$\w+|\d+[smhdwy])\]", params)[0].rstrip(") ")
        if not params.strip():
            whole = True
        for name, path in re.findall(JSON_PARAM, params):
            extracted.add(name)
            problems += json_path_problems(path.replace('\\"', '"'), contract)
        for bare in re.findall(r"(?:^|,)\s*(\w+)\s*(?=,|$)", re.sub(JSON_PARAM, "", params).strip()):
            extracted.add(bare)
            problems += json_path_problems(bare, contract)
    known = Names(set(labels) | contract["metadata"] | extracted | INTERNAL_LABELS)
    if whole:
        known = known | contract["flat"]
    for name in re.findall(r"\|\s*(\w+)\s*(?:=~|!~|!=|==|>=|<=|=|>|<)", expr):
        if name not in LOGQL_STAGES and name not in known:
            problems.append(f"label filter on {name!r}: neither a stream label, structured metadata nor an extracted field")
    for name in re.findall(r"\bunwrap\s+(\w+)", expr):
        if name not in known:
            problems.append(f"unwrap {name!r}: not extracted")
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for name in filter(None, (n.strip() for n in group.split(","))):
            if name not in known:
                problems.append(f"grouping by {name!r}: neither a stream label, structured metadata nor an extracted field")
    for name in re.findall(r"\{\{\s*\.(\w+)", expr):
        if name not in known:
            problems.append(f"line_format field {name!r}: not extracted")
    for needle in re.findall(r"(?:\|=|!=|\|~|!~)\s*\"((?:[^\"\\]|\\.)*)\"", expr):
        for key in re.findall(r'\\"(\w+)\\":', needle):
            if key not in contract["keys"]:
                problems.append(f"line filter on key {key!r}: not a key of the stored lines")
    return problems


def json_path_problems(path: str, contract) -> list:
    """A `json` stage's path must lead to a field (or an object or array holding some) of a stored line."""
    wanted = ["[]" if t.startswith("[") else t for t in tokens(path)]
    for written in contract["paths"]:
        if len(wanted) <= len(written) and all(w == t or t == "*" for w, t in zip(wanted, written)):
            return []
    return [f"json path {path!r}: no stored line has it"]


def dashboards():
    return sorted((ISTIO / "grafana" / "dashboards").glob("*.json"))


def targets(dashboard: dict, kind: str):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if target.get("datasource", panel.get("datasource", {})).get("type") == kind:
                yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]


def loki_exprs():
    for path in dashboards():
        for where, expr in targets(json.loads(path.read_text()), "loki"):
            yield f"{path.name} {where}", expr
        for variable in json.loads(path.read_text()).get("templating", {}).get("list", []):
            if variable.get("type") == "query" and variable.get("datasource", {}).get("type") == "loki":
                yield f"{path.name} variable {variable['name']}", variable["query"]["stream"] + f' | {variable["query"]["label"]}!=""'
    rules = yaml.safe_load(config_map_data(ISTIO / "alerts" / "loki-rules.yaml", "observatory.yaml"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield f"loki-rules.yaml {rule['alert']}", rule["expr"]


def check_logql(results, contract):
    labels = stream_labels(contract)
    for where, expr in loki_exprs():
        problems = logql_problems(expr, contract, labels)
        results.check(f"LogQL fields: {where}", not problems, "; ".join(problems))
    datasources = yaml.safe_load((ISTIO / "grafana" / "provisioning" / "datasources.yaml").read_text())
    for ds in datasources["datasources"]:
        for field in ds.get("jsonData", {}).get("derivedFields", []):
            ok = field.get("matcherType") != "label" or field["matcherRegex"] in contract["metadata"]
            results.check(f"derived field {field['name']} reads structured metadata the collector writes", ok, field["matcherRegex"])
            if "url" in field and field.get("datasourceUid"):
                problems = logql_problems(field["url"].replace("${__value.raw}", "x"), contract, labels)
                results.check(f"derived field {field['name']} link query", not problems, "; ".join(problems))


# ------------------------------------------------------------------ PromQL
def prometheus_series(text: str) -> dict:
    """Metric family name -> label names, from Prometheus text exposition."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        labels = set(re.findall(r"([a-zA-Z_]\w*)=\"", line.split("{", 1)[1].split("}", 1)[0])) if "{" in line.split(" ")[0] else set()
        for family in (name, re.sub(r"_(bucket|sum|count)$", "", name)):
            series.setdefault(family, set()).update(labels - {"le"} if family != name else labels)
    return series


def wait_for(url: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def collector_metrics() -> dict:
    """The collector's /metrics with Loki, a webhook and OTLP configured (every family registered)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "collector.toml"
        config.write_text('[[alert.webhooks]]\nkind = "alertmanager"\nurl_env = "OBSERVATORY_TEST_WEBHOOK"\n')
        admin = free_port()
        env = {"OBSERVATORY_TEST_WEBHOOK": "http://127.0.0.1:9/api/v2/alerts", "PATH": "/usr/bin:/bin"}
        process = subprocess.Popen(
            [COLLECTOR_BIN, "serve", "--config", config, "--listen", f"127.0.0.1:{free_port()}",
             "--admin-listen", f"127.0.0.1:{admin}", "--data-dir", Path(tmp) / "data",
             "--loki-url", "http://127.0.0.1:9", "--otlp-endpoint", "http://127.0.0.1:9"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            return prometheus_series(wait_for(f"http://127.0.0.1:{admin}/metrics"))
        finally:
            process.terminate()
            process.wait(timeout=30)


ENVOY_CONFIG = """
admin: {address: {socket_address: {address: 127.0.0.1, port_value: @ADMIN@}}}
static_resources:
  listeners:
  - name: front
    address: {socket_address: {address: 127.0.0.1, port_value: @PORT@}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: front
          route_config: {virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: "/"}, direct_response: {status: 200}}]}]}
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: observatory
                root_id: observatory
                vm_config: {vm_id: observatory, runtime: envoy.wasm.runtime.v8, code: {local: {filename: "@WASM@"}}}
                configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: '{"collector":{"cluster":"collector"}}'}
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: collector
    type: STATIC
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment: {cluster_name: collector, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 9}}}}]}]}
"""


def filter_metrics() -> dict:
    """The filter's counters as Envoy exports them to Prometheus, after one request."""
    admin, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "envoy.yaml"
        config.write_text(ENVOY_CONFIG.replace("@ADMIN@", str(admin)).replace("@PORT@", str(port)).replace("@WASM@", str(WASM)))
        process = subprocess.Popen([VENV / "envoy", "-c", config, "--concurrency", "1", "-l", "error"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(f"http://127.0.0.1:{port}/", seconds=60)
            deadline = time.monotonic() + 10
            while True:
                series = prometheus_series(wait_for(f"http://127.0.0.1:{admin}/stats/prometheus"))
                found = {n: l for n, l in series.items() if n.startswith("observatory_")}
                if found.get("observatory_requests_total") is not None or time.monotonic() > deadline:
                    return found
                time.sleep(0.3)
        finally:
            process.terminate()
            process.wait(timeout=30)


def dashboard_prom_exprs():
    for path in dashboards():
        for where, expr in targets(json.loads(path.read_text()), "prometheus"):
            yield f"{path.name} {where}", expr


def rule_prom_exprs():
    rules = yaml.safe_load(config_map_data(ISTIO / "alerts" / "prometheus-rules.yaml", "observatory.rules.yaml"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield f"prometheus-rules.yaml {rule.get('alert') or rule.get('record')}", rule["expr"]


def check_promql(results):
    panels = list(dashboard_prom_exprs())
    with tempfile.TemporaryDirectory() as tmp:
        # Grafana's interval variables become a duration, as Grafana would substitute them.
        rules = {"groups": [{"name": "dashboards", "rules": [
            {"record": f"dashboard:query_{i}", "expr": re.sub(r"\$__(rate_interval|range|interval)", "5m", expr)}
            for i, (_, expr) in enumerate(panels)]}]}
        path = Path(tmp) / "dashboards.rules.yaml"
        path.write_text(yaml.safe_dump(rules))
        done = run(["promtool", "check", "rules", path])
        results.check(f"every dashboard PromQL query parses (promtool, {len(rules['groups'][0]['rules'])} queries)", done.returncode == 0, tail(done.stdout + done.stderr))
    if not COLLECTOR_BIN.exists() or not WASM.exists():
        results.check("PromQL metric names", False, f"build {COLLECTOR_BIN.name} and the wasm module first (make check-mesh does)")
        return
    known = {**collector_metrics(), **filter_metrics(), **ISTIO_METRICS}
    for name in ("observatory_records_written_total", "observatory_requests_total"):
        results.check(f"the running binaries export {name}", name in known, "")
    for where, expr in panels + list(rule_prom_exprs()):
        problems = []
        names = set(re.findall(r"\b((?:observatory|citadel|istio)_[a-z0-9_]+)\b", expr))
        for name in names:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in known and family not in known:
                problems.append(f"metric {name} is not exported")
        metric_labels = set().union(*(known.get(re.sub(r"_(bucket|sum|count)$", "", n), set()) | known.get(n, set()) for n in names)) if names else set()
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            for label in filter(None, (g.strip() for g in group.split(","))):
                if label not in metric_labels | SCRAPE_LABELS:
                    problems.append(f"grouping by {label!r}: not a label of {', '.join(sorted(names))}")
        results.check(f"PromQL names: {where}", not problems, "; ".join(problems))


def main(results):
    contract = collector_contract(results)
    if contract:
        check_readme(results, contract)
        check_logql(results, contract)
    check_promql(results)
