#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests (CTest: deploy.manifests).
#
# Renders deploy/k8s, deploy/k8s/ingress and, when it exists, deploy/k8s/monitoring with
# `kubectl kustomize`, then runs validate.mjs on the output: every object against the
# Kubernetes / prometheus-operator schemas (npm: kubernetes-models,
# @kubernetes-models/prometheus-operator), no unknown fields, and this deployment's
# invariants, with the variables the binary reads taken from `BINARY --help`. Then the
# validator's self-test (deliberately broken objects must be rejected) and one broken
# copy of deploy/k8s rendered and fed through the same command line (must fail).
#
# Usage: tests/deploy/check-manifests.sh [--help] BINARY [SOURCE_DIR]
#   BINARY      the metrics-analyzer executable (CTest passes $<TARGET_FILE:...>)
#   SOURCE_DIR  repository root, default: two levels above this script
# Environment:
#   KUBECTL         kubectl to render with (default: kubectl on PATH; scripts/setup.sh
#                   installs Debian's kubernetes-client when there is none)
#   KUBECTL_COMPAT  optional second kubectl (e.g. Debian's 1.20, whose kustomize is
#                   older) that must render every folder as well
# npm dependencies are installed with `npm ci` into tests/deploy/node_modules when it is
# missing or older than package-lock.json; otherwise npm is not run (works offline).
# Exit status: 0 valid; 1 a check failed; 2 usage or missing tools.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage >&2; exit 2; fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="$1"
src="$(cd "${2:-$here/../..}" && pwd)"
kubectl="${KUBECTL:-kubectl}"
die() { echo "deploy.manifests: $*" >&2; exit "${2:-1}"; }

[ -x "$binary" ] || die "binary $binary is not executable" 2
command -v "$kubectl" >/dev/null 2>&1 || die "no $kubectl on PATH (scripts/setup.sh installs kubernetes-client)" 2
command -v node >/dev/null 2>&1 || die "no node on PATH (scripts/setup.sh installs nodejs)" 2
[ -f "$src/deploy/k8s/kustomization.yaml" ] || die "$src/deploy/k8s/kustomization.yaml not found" 2

# --- npm dependencies (idempotent; no network when already installed) ------------
deps_current() {
  local stamp="$here/node_modules/.package-lock.json"
  [ -f "$stamp" ] && [ ! "$here/package-lock.json" -nt "$stamp" ] && [ ! "$here/package.json" -nt "$stamp" ] \
    && [ -d "$here/node_modules/kubernetes-models" ] && [ -d "$here/node_modules/@kubernetes-models/prometheus-operator" ] \
    && [ -d "$here/node_modules/typescript" ] && [ -d "$here/node_modules/yaml" ]
}
if ! deps_current; then
  command -v npm >/dev/null 2>&1 || die "no npm on PATH to install $here/node_modules (scripts/setup.sh installs npm)" 2
  # One installer at a time (release and debug presets may run this test at once).
  exec 9>"$here/.npm-ci.lock"
  flock 9
  if ! deps_current; then
    echo "deploy.manifests: npm ci in $here"
    (cd "$here" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) \
      || die "npm ci failed (no registry access and no node_modules?)"
  fi
  flock -u 9
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

render() {  # render KUBECTL DIR OUT
  "$1" kustomize "$2" >"$3" 2>"$tmp/render.err" \
    || { cat "$tmp/render.err" >&2; die "$1 kustomize $2 failed"; }
  # kustomize v5 warns about deprecated fields on stderr; show it, it is worth fixing.
  if [ -s "$tmp/render.err" ]; then sed 's/^/  kustomize: /' "$tmp/render.err" >&2; fi
}

t0=$(date +%s.%N)
echo "deploy.manifests: rendering with $($kubectl version --client 2>/dev/null | head -n 1)"
render "$kubectl" "$src/deploy/k8s" "$tmp/base.yaml"
validate_args=(--binary "$binary" --base "$tmp/base.yaml")
if [ -f "$src/deploy/k8s/ingress/kustomization.yaml" ]; then
  render "$kubectl" "$src/deploy/k8s/ingress" "$tmp/ingress.yaml"
  validate_args+=(--ingress "$tmp/ingress.yaml")
fi
monitoring=""
for f in kustomization.yaml kustomization.yml Kustomization; do
  if [ -f "$src/deploy/k8s/monitoring/$f" ]; then monitoring="$src/deploy/k8s/monitoring"; fi
done
if [ -n "$monitoring" ]; then
  render "$kubectl" "$monitoring" "$tmp/monitoring.yaml"
  validate_args+=(--monitoring "$tmp/monitoring.yaml")
elif [ -e "$src/deploy/k8s/monitoring" ]; then
  die "deploy/k8s/monitoring exists but has no kustomization.yaml"
else
  echo "deploy.manifests: deploy/k8s/monitoring does not exist yet: validating the base and ingress only"
fi

fail=0
echo "--- validate"
node "$here/validate.mjs" "${validate_args[@]}" || fail=1

if [ -n "${KUBECTL_COMPAT:-}" ]; then
  echo "--- validate (rendered by $KUBECTL_COMPAT: $("$KUBECTL_COMPAT" version --client --short 2>/dev/null || "$KUBECTL_COMPAT" version --client 2>/dev/null | head -n 1))"
  render "$KUBECTL_COMPAT" "$src/deploy/k8s" "$tmp/base-compat.yaml"
  render "$KUBECTL_COMPAT" "$src/deploy/k8s/ingress" "$tmp/ingress-compat.yaml"
  compat_args=(--binary "$binary" --base "$tmp/base-compat.yaml" --ingress "$tmp/ingress-compat.yaml")
  if [ -n "$monitoring" ]; then
    render "$KUBECTL_COMPAT" "$monitoring" "$tmp/monitoring-compat.yaml"
    compat_args+=(--monitoring "$tmp/monitoring-compat.yaml")
  fi
  node "$here/validate.mjs" "${compat_args[@]}" || fail=1
fi

echo "--- self-test"
self_args=(--binary "$binary" --base "$tmp/base.yaml" --self-test)
[ -z "$monitoring" ] || self_args+=(--monitoring "$tmp/monitoring.yaml")
node "$here/validate.mjs" "${self_args[@]}" || fail=1

# End to end: a broken copy of the base, rendered and validated like the real one,
# must make the command fail.
echo "--- broken copy of deploy/k8s must be rejected"
cp -r "$src/deploy/k8s" "$tmp/broken"
rm -rf "$tmp/broken/monitoring"
sed -i 's/containerPort: 8080/containerPort: eighty/; s#path: /ready#path: /readyz#' "$tmp/broken/deployment.yaml"
grep -q 'containerPort: eighty' "$tmp/broken/deployment.yaml" || die "could not break deployment.yaml (its text changed?)"
render "$kubectl" "$tmp/broken" "$tmp/broken.yaml"
if node "$here/validate.mjs" --binary "$binary" --base "$tmp/broken.yaml" >"$tmp/broken.out" 2>&1; then
  cat "$tmp/broken.out"
  echo "FAIL the validator accepted a broken manifest"
  fail=1
elif grep -q 'containerPort must be integer' "$tmp/broken.out" && grep -q 'path /readyz' "$tmp/broken.out"; then
  echo "ok   rejected: $(grep -c '^  ' "$tmp/broken.out") problem(s), including the schema and the probe path"
else
  cat "$tmp/broken.out"
  echo "FAIL the broken manifest was rejected for other reasons than the breaks"
  fail=1
fi

elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
if [ "$fail" -ne 0 ]; then
  echo "deploy.manifests: FAILED (${elapsed} s)"
  exit 1
fi
echo "deploy.manifests: passed (${elapsed} s)"
