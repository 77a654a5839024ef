#!/usr/bin/env bash
# Deploys metrics-analyzer to the Kubernetes cluster of the current kubectl context:
# loads the locally built image into the cluster (Minikube: `minikube image load`, Kind:
# `kind load docker-image`), runs `kubectl apply -k deploy/k8s` (plus deploy/k8s/ingress
# with --ingress), waits for Redis and the service to roll out, and prints how to reach
# the service with kubectl port-forward.
#
# Usage: scripts/deploy.sh [--help] [--minikube | --kind | --no-load] [--profile NAME]
#                          [--cluster NAME] [--namespace NS] [--image IMAGE]
#                          [--ingress] [--timeout DURATION]
# The cluster type comes from the flag, else from the current context's name
# (minikube / kind-NAME). Build the image first: scripts/build.sh.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh [options]

Loads the metrics-analyzer image into the cluster, applies deploy/k8s with
kubectl apply -k, waits for the rollout and prints how to port-forward.

Cluster (default: from the current kubectl context: "minikube" or a minikube
profile -> Minikube, "kind-NAME" -> Kind cluster NAME, anything else -> --no-load):
  --minikube         load the image with `minikube image load` (profile: --profile,
                     default the context name)
  --kind             load the image with `kind load docker-image` (cluster: --cluster,
                     default the context name without "kind-")
  --no-load          do not load: the cluster pulls the image itself (a registry;
                     then set the image with kustomize `images:` in an overlay)
  --profile NAME     Minikube profile
  --cluster NAME     Kind cluster name
Deployment:
  --namespace NS     namespace to deploy into (created if missing); default: the
                     context's namespace
  --image IMAGE      local image to load, default metrics-analyzer:VERSION where
                     VERSION is the project version (CMakeLists.txt), the tag that
                     deploy/k8s/kustomization.yaml pins
  --ingress          also apply deploy/k8s/ingress (needs an ingress controller)
  --timeout DUR      rollout wait, default 180s
  -h, --help         this text

Environment: KUBECTL (default kubectl), MINIKUBE (default minikube), KIND (default
kind), DOCKER (default docker).
Typical:
  scripts/build.sh && minikube start && scripts/deploy.sh
  scripts/build.sh && kind create cluster && scripts/deploy.sh
EOF
}

die() { echo "deploy: $*" >&2; exit 1; }
usage_error() { echo "deploy: $*" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kubectl_cmd="${KUBECTL:-kubectl}"
minikube_cmd="${MINIKUBE:-minikube}"
kind_cmd="${KIND:-kind}"
docker_cmd="${DOCKER:-docker}"
cluster_type=""
profile=""
kind_name=""
namespace=""
image=""
with_ingress=0
timeout=180s

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --minikube) cluster_type=minikube; shift ;;
    --kind) cluster_type=kind; shift ;;
    --no-load) cluster_type=none; shift ;;
    --profile) [ $# -ge 2 ] || usage_error "--profile needs a name"; profile="$2"; shift 2 ;;
    --cluster) [ $# -ge 2 ] || usage_error "--cluster needs a name"; kind_name="$2"; shift 2 ;;
    --namespace|-n) [ $# -ge 2 ] || usage_error "--namespace needs a name"; namespace="$2"; shift 2 ;;
    --image) [ $# -ge 2 ] || usage_error "--image needs a reference"; image="$2"; shift 2 ;;
    --ingress) with_ingress=1; shift ;;
    --timeout) [ $# -ge 2 ] || usage_error "--timeout needs a duration"; timeout="$2"; shift 2 ;;
    *) usage_error "unknown argument $1 (see --help)" ;;
  esac
done

command -v "$kubectl_cmd" >/dev/null 2>&1 || die "$kubectl_cmd not found"
context="$("$kubectl_cmd" config current-context 2>/dev/null)" || die "no current kubectl context (start a cluster: minikube start / kind create cluster)"

if [ -z "$cluster_type" ]; then
  case "$context" in
    kind-*) cluster_type=kind ;;
    *)
      # Minikube names the context after the profile ("minikube" by default).
      if [ "$context" = minikube ] || { command -v "$minikube_cmd" >/dev/null 2>&1 \
           && "$minikube_cmd" profile list -o json 2>/dev/null | grep -q "\"Name\":\"$context\""; }; then
        cluster_type=minikube
      else
        cluster_type=none
      fi ;;
  esac
fi
[ -n "$profile" ] || profile="$context"
[ -n "$kind_name" ] || kind_name="${context#kind-}"

version="$(sed -n 's/^project([^)]*VERSION \([0-9][0-9.]*\).*/\1/p' "$repo/CMakeLists.txt" | head -n 1)"
pinned="$(awk '/^images:/{f=1} f && /name: metrics-analyzer$/{m=1} m && /newTag:/{print $2; exit}' "$repo/deploy/k8s/kustomization.yaml")"
[ -n "$image" ] || image="metrics-analyzer:${pinned:-$version}"
if [ -n "$pinned" ] && [ "$image" != "metrics-analyzer:$pinned" ]; then
  echo "deploy: note: deploy/k8s pins metrics-analyzer:$pinned, loading $image (set the tag in an overlay's images: to use it)" >&2
fi
if [ -n "$pinned" ] && [ "$pinned" != "$version" ]; then
  echo "deploy: note: deploy/k8s pins $pinned but CMakeLists.txt says $version" >&2
fi

echo "deploy: context $context ($cluster_type), image $image${namespace:+, namespace $namespace}"

# ---------------------------------------------------------------- load image
case "$cluster_type" in
  minikube|kind)
    if ! command -v "$docker_cmd" >/dev/null 2>&1 || ! "$docker_cmd" image inspect "$image" >/dev/null 2>&1; then
      die "image $image is not in the local Docker daemon: run scripts/build.sh first"
    fi
    ;;
esac
case "$cluster_type" in
  minikube)
    command -v "$minikube_cmd" >/dev/null 2>&1 || die "$minikube_cmd not found"
    echo "deploy: minikube -p $profile image load $image"
    "$minikube_cmd" -p "$profile" image load "$image"
    ;;
  kind)
    command -v "$kind_cmd" >/dev/null 2>&1 || die "$kind_cmd not found"
    echo "deploy: kind load docker-image $image --name $kind_name"
    "$kind_cmd" load docker-image "$image" --name "$kind_name"
    ;;
  none)
    echo "deploy: not loading the image: the cluster must be able to pull $image"
    ;;
esac

# ------------------------------------------------------------------- apply
ns_args=()
if [ -n "$namespace" ]; then
  ns_args=(--namespace "$namespace")
  "$kubectl_cmd" get namespace "$namespace" >/dev/null 2>&1 || "$kubectl_cmd" create namespace "$namespace"
fi
echo "deploy: kubectl apply -k deploy/k8s"
"$kubectl_cmd" apply "${ns_args[@]}" -k "$repo/deploy/k8s"
if [ "$with_ingress" -eq 1 ]; then
  echo "deploy: kubectl apply -k deploy/k8s/ingress"
  "$kubectl_cmd" apply "${ns_args[@]}" -k "$repo/deploy/k8s/ingress"
fi

echo "deploy: waiting for the rollout (timeout $timeout)"
for d in redis metrics-analyzer; do
  if ! "$kubectl_cmd" rollout status "${ns_args[@]}" "deployment/$d" --timeout "$timeout"; then
    "$kubectl_cmd" get pods "${ns_args[@]}" -l app.kubernetes.io/part-of=metrics-analyzer -o wide >&2 || true
    die "deployment/$d did not become ready within $timeout (kubectl describe deployment/$d, kubectl logs deployment/$d)"
  fi
done
"$kubectl_cmd" get "${ns_args[@]}" deployments,pods,services,hpa -l app.kubernetes.io/part-of=metrics-analyzer

# The HPA needs the resource metrics API.
if ! "$kubectl_cmd" get apiservice v1beta1.metrics.k8s.io >/dev/null 2>&1; then
  echo
  echo "deploy: note: no metrics-server: the HPA cannot read CPU usage until one runs:"
  if [ "$cluster_type" = minikube ]; then
    echo "  minikube -p $profile addons enable metrics-server"
  else
    echo "  kubectl apply -f https://github.com/kubernetes-sigs/metrics-server/releases/latest/download/components.yaml"
    echo "  (kind: add --kubelet-insecure-tls to its args)"
  fi
fi

ns_flag="${namespace:+ -n $namespace}"
cat <<EOF

deploy: done. Reach the service from this machine:
  kubectl$ns_flag port-forward svc/metrics-analyzer 8080:80
  curl -s localhost:8080/health
  curl -s -X POST localhost:8080/metrics -H 'Content-Type: application/json' -d '{"cpu": 42.5, "rps": 1200}'
  curl -s localhost:8080/analyze
Load it and watch the autoscaler (two terminals):
  AB_REQUESTS=3000000 AB_TIMEOUT=1200 scripts/test-ab.sh http://127.0.0.1:8080
  kubectl$ns_flag get hpa metrics-analyzer -w
Remove it: scripts/undeploy.sh${namespace:+ --namespace $namespace}
EOF
