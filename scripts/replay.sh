#!/usr/bin/env bash
# Replays a timestamp,value CSV series (e.g. the Numenta Anomaly Benchmark files vendored
# in tests/data/nab/) into a running metrics-analyzer and prints what it flags.
#
# Each row becomes one sample: the value goes to cpu or rps (--metric, default from the
# file name: "cpu" -> cpu; request/network/disk/bytes/count -> rps; else cpu), the other
# metric gets a constant so it never flags; rows are POSTed in order in batches with
# ?analysis=true. Prints the flagged rows (ISO 8601 timestamp, value, z-score), a count
# line "anomalies found: N of M samples flagged", and, when the series has labeled
# anomaly windows (NAB combined_windows.json next to the file or one folder up), which
# flagged rows fall inside a window and how many windows got a detection.
#
# Usage: scripts/replay.sh [--help] FILE.csv [URL] [--metric cpu|rps] [--batch-size N]
#            [--labels FILE | --no-labels] [--other-value X] [--limit N]
#            [--verify [--window N] [--threshold X]] [--timeout S]
#   URL  base URL of the service (default http://127.0.0.1:8080), loopback only.
#
# Exit status: 0 replayed (and, with --verify, the service agreed with the exact reference
# detector); 1 --verify found a disagreement; 2 usage error or unreadable/invalid CSV;
# 3 service unreachable or unexpected HTTP status (or, with --verify, other traffic
# interleaved).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=/usr/bin/python3   # Debian's interpreter (architecture.md section 7)

if [ $# -eq 0 ]; then
  echo "usage: scripts/replay.sh FILE.csv [URL] [options]  (see --help)" >&2
  exit 2
fi
case "$1" in
  -h|--help)
    cat <<'USAGE'
Usage: scripts/replay.sh FILE.csv [URL] [options]

Replays a timestamp,value CSV into a running metrics-analyzer (one sample per row,
in order, batched POST /metrics?analysis=true) and prints the anomalies it flags.

FILE.csv            header 'timestamp,value'; timestamps as NAB writes them
                    ('YYYY-MM-DD HH:MM:SS', read as UTC), RFC 3339, or Unix seconds
URL                 base URL, loopback only (default http://127.0.0.1:8080)
--metric cpu|rps    metric the values feed (default from the file name: 'cpu' -> cpu,
                    request/network/disk/bytes/count -> rps, else cpu); cpu values
                    must lie in 0..100
--batch-size N      samples per POST, 1..1000 (the service's MAX_BATCH; default 500)
--labels FILE       NAB combined_windows.json (default: next to the CSV or one up)
--no-labels         do not look for label windows
--other-value X     constant for the other metric (default cpu 50, rps 1000)
--limit N           replay only the first N rows
--verify            compare every z-score and flag with the exact reference detector
                    (from the row after the first --window rows; exit 1 on a mismatch)
--window N, --threshold X   the reference's parameters for --verify (50, 2.0)
--timeout S         per-request timeout in seconds (default 10)

The series' values enter the service's windows: run it against a service you can
spare (e.g. one started for the purpose); the first window's z-scores depend on
whatever the service held before.

Exit status: 0 done (and verified, with --verify); 1 --verify found a disagreement;
2 usage error or bad CSV; 3 service unreachable or unexpected HTTP status.
USAGE
    exit 0 ;;
esac

[ -x "$python" ] || { echo "replay: $python not found (Debian package python3)" >&2; exit 2; }
export PYTHONPATH="$script_dir${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1   # leave no __pycache__ in the source tree
exec "$python" -m loadtools.replay "$@"
