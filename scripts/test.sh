#!/usr/bin/env bash
# Sets up the machine, builds and runs every test: the whole suite in the release
# build and under ASan+UBSan, the concurrency and HTTP tests under ThreadSanitizer, and
# the ab load check. Exits non-zero on any failure.
#
# Env: TEST_PRESETS  presets to run (default "release asan tsan")
#      SKIP_LINT=1   skip clang-format/clang-tidy (scripts/lint.sh)
#      CTEST_JOBS    parallel ctest jobs (default: number of CPUs)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

presets=${TEST_PRESETS:-release asan tsan}
jobs=${CTEST_JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Cache hits across checkouts in other folders (CI clones anew each run).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

for preset in $presets; do
  echo "=== [$preset] configure and build"
  start=$(date +%s)
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "=== [$preset] test"
  ctest --preset "$preset" -j "$jobs"
  echo "=== [$preset] done in $(( $(date +%s) - start )) s"
  if [ "$preset" = release ] && [ "${SKIP_LINT:-0}" != 1 ]; then
    echo "=== lint"
    start=$(date +%s)
    ./scripts/lint.sh
    echo "=== lint done in $(( $(date +%s) - start )) s"
  fi
done
