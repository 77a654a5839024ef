#!/usr/bin/env bash
# Removes what scripts/deploy.sh applied: `kubectl delete -k deploy/k8s` (and
# deploy/k8s/ingress, and with --monitoring deploy/k8s/monitoring), plus the
# ConfigMaps and Secrets earlier applies left behind under older hash suffixes.
# --keep-data keeps Redis' PersistentVolumeClaim (and so the stored state).
#
# Usage: scripts/undeploy.sh [--help] [--namespace NS] [--keep-data] [--monitoring]
#                            [--uninstall-stack]
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/undeploy.sh [options]

Deletes the objects of deploy/k8s (and deploy/k8s/ingress) from the cluster of
the current kubectl context.

  --namespace NS      namespace deployed into (default: the context's)
  --keep-data         keep the redis-data PersistentVolumeClaim (state survives a
                      later scripts/deploy.sh)
  --monitoring        also delete deploy/k8s/monitoring's objects (ServiceMonitor,
                      PrometheusRule, dashboard)
  --uninstall-stack   also `helm uninstall` kube-prometheus-stack from namespace
                      monitoring (what scripts/setup-monitoring.sh installed; its CRDs
                      stay, as Helm leaves CRDs alone)
  -h, --help          this text

Environment: KUBECTL (default kubectl), HELM (default helm).
EOF
}

die() { echo "undeploy: $*" >&2; exit 1; }
usage_error() { echo "undeploy: $*" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kubectl_cmd="${KUBECTL:-kubectl}"
helm_cmd="${HELM:-helm}"
namespace=""
keep_data=0
monitoring=0
uninstall_stack=0

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --namespace|-n) [ $# -ge 2 ] || usage_error "--namespace needs a name"; namespace="$2"; shift 2 ;;
    --keep-data) keep_data=1; shift ;;
    --monitoring) monitoring=1; shift ;;
    --uninstall-stack) uninstall_stack=1; shift ;;
    *) usage_error "unknown argument $1 (see --help)" ;;
  esac
done

command -v "$kubectl_cmd" >/dev/null 2>&1 || die "$kubectl_cmd not found"
context="$("$kubectl_cmd" config current-context 2>/dev/null)" || die "no current kubectl context"
ns_args=()
[ -z "$namespace" ] || ns_args=(--namespace "$namespace")
echo "undeploy: context $context${namespace:+, namespace $namespace}"

if [ "$monitoring" -eq 1 ] && [ -f "$repo/deploy/k8s/monitoring/kustomization.yaml" ]; then
  echo "undeploy: kubectl delete -k deploy/k8s/monitoring"
  "$kubectl_cmd" delete "${ns_args[@]}" -k "$repo/deploy/k8s/monitoring" --ignore-not-found
fi
echo "undeploy: kubectl delete -k deploy/k8s/ingress"
"$kubectl_cmd" delete "${ns_args[@]}" -k "$repo/deploy/k8s/ingress" --ignore-not-found

if [ "$keep_data" -eq 1 ]; then
  # Everything of the base but the PVC, by name as the cluster knows it.
  mapfile -t objects < <("$kubectl_cmd" kustomize "$repo/deploy/k8s" \
    | "$kubectl_cmd" get "${ns_args[@]}" -f - -o name --ignore-not-found 2>/dev/null \
    | grep -v '^persistentvolumeclaim/' || true)
  if [ ${#objects[@]} -gt 0 ]; then
    echo "undeploy: deleting ${objects[*]} (keeping persistentvolumeclaim/redis-data)"
    "$kubectl_cmd" delete "${ns_args[@]}" --ignore-not-found "${objects[@]}"
  fi
else
  echo "undeploy: kubectl delete -k deploy/k8s (including Redis' data volume)"
  "$kubectl_cmd" delete "${ns_args[@]}" -k "$repo/deploy/k8s" --ignore-not-found
fi
# Generated ConfigMaps/Secrets of earlier applies (other hash suffixes).
"$kubectl_cmd" delete "${ns_args[@]}" configmap,secret --ignore-not-found \
  -l app.kubernetes.io/part-of=metrics-analyzer,app.kubernetes.io/component=config

if [ "$uninstall_stack" -eq 1 ]; then
  command -v "$helm_cmd" >/dev/null 2>&1 || die "$helm_cmd not found"
  echo "undeploy: helm uninstall kube-prometheus-stack -n monitoring"
  if "$helm_cmd" status kube-prometheus-stack --namespace monitoring >/dev/null 2>&1; then
    "$helm_cmd" uninstall kube-prometheus-stack --namespace monitoring
  else
    echo "undeploy: kube-prometheus-stack is not installed in namespace monitoring"
  fi
fi
echo "undeploy: done"
