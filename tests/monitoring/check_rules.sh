#!/usr/bin/env bash
# Checks the monitoring rules offline: extracts the PrometheusRule's spec from
# deploy/k8s/monitoring/prometheus-rule.yaml (the only copy), runs `promtool check rules`
# on it and `promtool test rules` on tests/monitoring/rules_test.yaml, and fails when an
# alert has no unit test there. Also checks that the dashboard JSON parses and that the
# monitoring kustomization renders.
#
# Usage: tests/monitoring/check_rules.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

PYTHONPATH="$here" /usr/bin/python3 - "$work" <<'PY'
import sys
from pathlib import Path
import monitoring_files as m
work = Path(sys.argv[1])
m.write_rule_file(work / "rules.yml")
tests = (Path(m.__file__).parent / "rules_test.yaml").read_text()
(work / "rules_test.yaml").write_text(tests)
untested = [a for a in m.alert_names() if f"alertname: {a}\n" not in tests]
if untested:
    sys.exit(f"alerts without a promtool unit test in rules_test.yaml: {untested}")
print(f"{len(m.alert_names())} alerts, each with a unit test")
m.dashboard()  # parses
PY

promtool check rules "$work/rules.yml"
(cd "$work" && promtool test rules rules_test.yaml)
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize "$repo/deploy/k8s/monitoring" >/dev/null
  echo "kubectl kustomize deploy/k8s/monitoring: renders"
fi
