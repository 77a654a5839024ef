#!/usr/bin/env bash
# End-to-end check of the anomaly detector of a running metrics-analyzer.
#
# Warms the service's windows with seeded normal samples (cpu ~ 40 +- 2, rps ~ 1000 +- 30),
# injects a known set of anomalies (cpu and rps spikes and drops, separately and together,
# mild ones, extremes, a burst, sub-threshold controls) with a full window of normal
# samples before each, POSTs everything with ?analysis=true, reads /analyze, and compares
# every z-score and flag with an exact reference of the detector contract
# (docs/architecture.md section 3, scripts/loadtools/reference.py): no misses, no false
# positives, z within the contract's tolerance, /analyze anomaly counters grown by
# exactly the expected numbers. Works against a service that already holds data (it
# fills the window first and compares counter deltas), but not while another client
# feeds it (detected through the commit seq numbers: exit 3).
#
# Usage: scripts/load_anomaly_test.sh [--help] [URL] [--window N] [--threshold X]
#            [--seed N] [--warmup-samples N] [--gap N] [--batch-size N] [--timeout S]
#   URL  base URL of the service (default http://127.0.0.1:8080), loopback only.
#
# Exit status: 0 all checks passed; 1 the detector disagreed with the reference (miss,
# false positive, z-score or counter mismatch); 2 usage error; 3 service unreachable,
# unexpected HTTP status, or other traffic interleaved with the test's samples.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=/usr/bin/python3   # Debian's interpreter (architecture.md section 7)

case "${1:-}" in
  -h|--help)
    cat <<'USAGE'
Usage: scripts/load_anomaly_test.sh [--help] [URL] [options]

Injects known anomalies into a running metrics-analyzer and checks that it flags
exactly those, with the z-scores of an exact reference detector.

URL                 base URL, loopback only (default http://127.0.0.1:8080)
--window N          window size the reference assumes (default 50)
--threshold X       anomaly threshold the reference assumes (default 2.0)
--seed N            seed of the sample generator (default 42; runs are reproducible)
--warmup-samples N  normal samples sent first to fill the window (default: --window)
--gap N             normal samples before each injection (default: --window)
--batch-size N      samples per POST /metrics?analysis=true, 1..1000 (default 500)
--timeout S         per-request timeout in seconds (default 10)

The service must not be fed by anyone else during the run (about 800 samples, a
second or two). It may already hold data: the window is filled first and the
/analyze anomaly counters are compared as deltas.

Exit status: 0 pass; 1 the detector disagreed with the reference (miss, false
positive, z-score, counter or window mismatch); 2 usage error; 3 service
unreachable, unexpected HTTP status, or other traffic interleaved.
USAGE
    exit 0 ;;
esac

[ -x "$python" ] || { echo "load_anomaly_test: $python not found (Debian package python3)" >&2; exit 2; }
export PYTHONPATH="$script_dir${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1   # leave no __pycache__ in the source tree
exec "$python" -m loadtools.anomaly_check "$@"
