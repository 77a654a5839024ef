#!/usr/bin/env bash
# Installs every build, test and benchmark dependency from Debian 12 packages.
# Idempotent: packages already installed are skipped, and when nothing is
# missing the script touches neither the network nor apt's state.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang clang-format clang-tidy
  # libraries
  libboost1.81-dev libhiredis-dev nlohmann-json3-dev prometheus-cpp-dev libspdlog-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # servers and load tools used by tests and benchmarks
  curl procps redis-server nginx-light wrk apache2-utils python3 python3-yaml python3-locust
  # monitoring checks (promtool, a real Prometheus) and libFuzzer's runtime
  prometheus libclang-rt-14-dev
)
# Manifests are rendered with the machine's kubectl when it has one, else with
# Debian's (older) kubectl; schema checks run on the machine's Node.js, else Debian's.
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts redis-server and nginx as system services on install; tests and
# benchmarks run their own instances on free loopback ports, so stop these.
for svc in redis-server nginx prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl stop "$svc" || true
  fi
done
echo "setup: done"
