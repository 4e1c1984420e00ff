"""The alert rules load and fire as intended, the Alertmanager example is a valid configuration.

Prometheus rules: `promtool check rules`, then the unit tests of
alerts/prometheus-rules.test.json with `promtool test rules`. Loki rules: every expr parses as
LogQL (@grafana/lezer-logql; their labels and fields are checked by fields.py). Alertmanager:
`amtool check-config`. Each file is the data entry of the ConfigMap it is deployed as.
"""

import shutil
import tempfile
from pathlib import Path

import yaml

from meshcheck import ISTIO, REPO, SHARED, config_map_data, run, tail

ALERTS = ISTIO / "alerts"


def main(results):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rules = tmp / "observatory.rules.yaml"
        rules.write_text(config_map_data(ALERTS / "prometheus-rules.yaml", "observatory.rules.yaml"))
        done = run(["promtool", "check", "rules", rules])
        results.check("promtool check rules (prometheus-rules.yaml)", done.returncode == 0, tail(done.stdout + done.stderr, 3))
        shutil.copy(ALERTS / "prometheus-rules.test.json", tmp)
        done = run(["promtool", "test", "rules", "prometheus-rules.test.json"], cwd=tmp)
        results.check("promtool test rules (prometheus-rules.test.json)", done.returncode == 0, tail(done.stdout + done.stderr, 40))

        loki = yaml.safe_load(config_map_data(ALERTS / "loki-rules.yaml", "observatory.yaml"))
        rules = [r for g in loki["groups"] for r in g["rules"]]
        results.check("Loki rules: every rule has alert, expr, severity and summary",
                      all(r.get("alert") and r.get("expr") and r.get("labels", {}).get("severity") and r.get("annotations", {}).get("summary") for r in rules), "")
        done = run(["node", SHARED / "tools" / "logql-check.mjs", *[r["expr"] for r in rules]], cwd=REPO)
        results.check(f"Loki rules: {len(rules)} LogQL exprs parse", done.returncode == 0, tail(done.stdout + done.stderr, 1 if done.returncode == 0 else 20))

        config = tmp / "alertmanager.yml"
        config.write_text(config_map_data(ALERTS / "alertmanager.yaml", "alertmanager.yml"))
        done = run(["amtool", "check-config", config])
        results.check("amtool check-config (alertmanager.yaml)", done.returncode == 0, tail(done.stdout + done.stderr, 8))
