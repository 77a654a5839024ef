#!/usr/bin/env bash
# CTest wrapper for a short soak (test soak.short): scripts/soak.sh for 20 s against the
# binary given as $1, with its own redis-server (restarted three times) and the default
# bounds (RSS growth after the warm-up <= 4 MiB, fd drift <= 3, no failed request, clean
# exit). Extra arguments go to soak.sh.
#
# Usage: tests/integration/soak_short.sh BINARY [soak.sh options]
set -euo pipefail
if (($# < 1)); then
  echo "usage: $0 BINARY [soak.sh options]" >&2
  exit 2
fi
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="$1"
shift
exec "$repo_dir/scripts/soak.sh" "${SOAK_SHORT_SECONDS:-20}" --binary "$binary" "$@"
