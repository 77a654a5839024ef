#!/usr/bin/env bash
# Sets up the machine, builds the release binary and starts the service on :8080 with
# the in-memory store. Extra arguments pass through to the binary (see --help), e.g.
#   ./scripts/run.sh --port 9090 --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target metrics-analyzer
exec ./build/release/metrics-analyzer "$@"
