#!/usr/bin/env bash
# Installs the monitoring stack for metrics-analyzer into the current kubectl context:
# kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana) with Helm
# into namespace `monitoring`, configured to pick up ServiceMonitors, PrometheusRules and
# Grafana dashboard ConfigMaps (label grafana_dashboard: "1") from every namespace, then
# applies deploy/k8s/monitoring (ServiceMonitor, PrometheusRule, dashboard) with
# `kubectl apply -k`.
#
# Usage: scripts/setup-monitoring.sh [--help] [--namespace NS] [--chart-version V]
#                                    [--skip-stack] [--timeout DURATION]
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/setup-monitoring.sh [options]

1. helm upgrade --install kube-prometheus-stack (prometheus-community) into
   namespace monitoring, selecting ServiceMonitors/PrometheusRules of every
   namespace and release, and Grafana dashboards labelled grafana_dashboard="1"
   in every namespace;
2. kubectl apply -k deploy/k8s/monitoring.

  --namespace NS       namespace metrics-analyzer runs in (where the monitoring
                       objects go), default: the context's
  --chart-version V    kube-prometheus-stack chart version (default: latest)
  --skip-stack         only apply deploy/k8s/monitoring (stack already installed)
  --timeout DUR        helm --wait timeout, default 10m
  -h, --help           this text

Environment: KUBECTL (default kubectl), HELM (default helm).
Needs a cluster with ~2 GiB of free memory for the stack (minikube start --memory 4096).
EOF
}

die() { echo "setup-monitoring: $*" >&2; exit 1; }
usage_error() { echo "setup-monitoring: $*" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kubectl_cmd="${KUBECTL:-kubectl}"
helm_cmd="${HELM:-helm}"
namespace=""
chart_version=""
skip_stack=0
timeout=10m
release=kube-prometheus-stack
stack_ns=monitoring

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --namespace|-n) [ $# -ge 2 ] || usage_error "--namespace needs a name"; namespace="$2"; shift 2 ;;
    --chart-version) [ $# -ge 2 ] || usage_error "--chart-version needs a version"; chart_version="$2"; shift 2 ;;
    --skip-stack) skip_stack=1; shift ;;
    --timeout) [ $# -ge 2 ] || usage_error "--timeout needs a duration"; timeout="$2"; shift 2 ;;
    *) usage_error "unknown argument $1 (see --help)" ;;
  esac
done

command -v "$kubectl_cmd" >/dev/null 2>&1 || die "$kubectl_cmd not found"
[ -f "$repo/deploy/k8s/monitoring/kustomization.yaml" ] || die "deploy/k8s/monitoring/kustomization.yaml not found"
context="$("$kubectl_cmd" config current-context 2>/dev/null)" || die "no current kubectl context"
echo "setup-monitoring: context $context"

if [ "$skip_stack" -eq 0 ]; then
  command -v "$helm_cmd" >/dev/null 2>&1 || die "$helm_cmd not found (https://helm.sh/docs/intro/install/)"
  "$helm_cmd" repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
  "$helm_cmd" repo update prometheus-community >/dev/null
  version_args=()
  [ -z "$chart_version" ] || version_args=(--version "$chart_version")
  echo "setup-monitoring: helm upgrade --install $release -n $stack_ns (waits up to $timeout)"
  # *NilUsesHelmValues=false: select monitors and rules without this release's label,
  # so deploy/k8s/monitoring's objects are found in any namespace; the Grafana sidecar
  # loads dashboard ConfigMaps labelled grafana_dashboard="1" from all namespaces.
  "$helm_cmd" upgrade --install "$release" prometheus-community/kube-prometheus-stack \
    "${version_args[@]}" --namespace "$stack_ns" --create-namespace --wait --timeout "$timeout" \
    --set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false \
    --set prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues=false \
    --set prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false \
    --set grafana.sidecar.dashboards.enabled=true \
    --set grafana.sidecar.dashboards.label=grafana_dashboard \
    --set-string grafana.sidecar.dashboards.labelValue=1 \
    --set grafana.sidecar.dashboards.searchNamespace=ALL
fi

# The CRDs must be served before objects of their kinds can be applied.
for crd in servicemonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com; do
  "$kubectl_cmd" wait --for condition=established --timeout 60s "crd/$crd" >/dev/null \
    || die "CRD $crd is not established (is kube-prometheus-stack installed?)"
done

ns_args=()
[ -z "$namespace" ] || ns_args=(--namespace "$namespace")
echo "setup-monitoring: kubectl apply -k deploy/k8s/monitoring"
"$kubectl_cmd" apply "${ns_args[@]}" -k "$repo/deploy/k8s/monitoring"

cat <<EOF

setup-monitoring: done.
  Prometheus:  kubectl -n $stack_ns port-forward svc/$release-prometheus 9090:9090
               then http://localhost:9090/targets (the metrics-analyzer ServiceMonitor's
               targets appear within a minute) and /alerts
  Grafana:     kubectl -n $stack_ns port-forward svc/$release-grafana 3000:80
               then http://localhost:3000, user admin, password:
               kubectl -n $stack_ns get secret $release-grafana -o jsonpath='{.data.admin-password}' | base64 -d
EOF
