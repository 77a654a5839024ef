#!/usr/bin/env bash
# Constant-throughput load test of a running metrics-analyzer with Locust.
#
# Runs Debian's locust (/usr/bin/locust, python3-locust 2.12) headless with
# scripts/locustfile.py: FastHttpUser users, each at a constant throughput, mixing
# POST /metrics (one JSON sample) : GET /analyze : GET /health = 8 : 1 : 1, for
# SECONDS seconds at a total of RPS requests/s. The user count is computed from RPS
# (ceil(RPS / LOAD_TEST_USER_RPS), each user at RPS / users req/s). Writes an HTML
# report and CSV files into the report dir, then prints the requests/s achieved over
# the last 20 s (runs of >= 25 s; shorter smoke runs: the whole run after its first
# 2 s) and the failures, and judges them.
#
# Usage: scripts/load-test.sh [--help] URL RPS SECONDS
#   URL      base URL of the service, loopback only (127.0.0.0/8, localhost)
#   RPS      total target requests per second, 1..20000
#   SECONDS  run time, 5..3600
#
# Environment:
#   REPORT_DIR          where the reports go (default build/load-test/<UTC timestamp>/)
#   LOAD_TEST_USER_RPS  requests/s per simulated user (default 20)
#   LOAD_TEST_GRACE     seconds beyond SECONDS before the hard timeout kills locust
#                       (default 30)
#   LOAD_TEST_SEED      seed of the sample payloads (default 1)
#
# Exit status: 0 when there were no failures and the achieved rate was >= 95 % of
# RPS; 1 otherwise (or when locust crashed or hit the hard timeout); 2 on a usage
# error. Locust talks only to URL: it runs headless (no web UI), with no master or
# worker sockets, and locust 2.12 has no update check or telemetry.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$script_dir")"
python=/usr/bin/python3   # Debian's interpreter and its locust (architecture.md section 7)
locust=/usr/bin/locust

usage() {
  cat <<'EOF'
Usage: scripts/load-test.sh [--help] URL RPS SECONDS

Constant-throughput Locust run (headless, FastHttpUser) against a running
metrics-analyzer: POST /metrics : GET /analyze : GET /health = 8 : 1 : 1 at a total
of RPS requests/s for SECONDS seconds, then a summary and a verdict.

  URL      base URL, loopback only (e.g. http://127.0.0.1:8080)
  RPS      total target requests/s (1..20000); users = ceil(RPS / LOAD_TEST_USER_RPS)
  SECONDS  run time (5..3600), passed to --run-time and enforced by a hard timeout

Reports: REPORT_DIR (default build/load-test/<UTC timestamp>/) gets report.html,
locust_stats.csv, locust_stats_history.csv, locust_failures.csv,
locust_exceptions.csv, summary.json, locust.log and locust-console.txt.

Verdict: PASS when failures = 0 and the achieved rate >= 95 % of RPS, the rate being
the average over the last 20 s (SECONDS >= 25) or, for shorter smoke runs, over
the whole run after its first 2 s (the output says which).

Environment:
  REPORT_DIR          report directory (created; must be empty or new)
  LOAD_TEST_USER_RPS  requests/s per user (default 20)
  LOAD_TEST_GRACE     extra seconds before the hard timeout (default 30)
  LOAD_TEST_SEED      seed of the sample payloads (default 1)

Exit status: 0 pass; 1 failures, too low a rate, locust crashed or timed out;
2 usage error.

Example: scripts/load-test.sh http://127.0.0.1:8080 1000 30
EOF
}

die() { echo "load-test: $*" >&2; exit 2; }

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
[ $# -eq 3 ] || { usage >&2; exit 2; }
url=$1 rps=$2 duration=$3

url_re='^http://(localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})(:[0-9]{1,5})?/?$'
[[ "$url" =~ $url_re ]] || die "refusing URL '$url': only http://HOST[:PORT] on loopback (127.0.0.0/8, localhost)"
host=${BASH_REMATCH[1]}
[ "$host" != "localhost" ] || host=127.0.0.1
url="http://$host${BASH_REMATCH[2]}"
if ! [[ "$rps" =~ ^[1-9][0-9]{0,4}$ && "$rps" -le 20000 ]]; then
  die "RPS must be an integer in 1..20000, got '$rps'"
fi
if ! [[ "$duration" =~ ^[1-9][0-9]{0,3}$ && "$duration" -ge 5 && "$duration" -le 3600 ]]; then
  die "SECONDS must be an integer in 5..3600, got '$duration'"
fi
user_rps=${LOAD_TEST_USER_RPS:-20}
[[ "$user_rps" =~ ^[1-9][0-9]{0,3}$ ]] || die "LOAD_TEST_USER_RPS must be a positive integer, got '$user_rps'"
grace=${LOAD_TEST_GRACE:-30}
seed=${LOAD_TEST_SEED:-1}
[[ "$seed" =~ ^[0-9]{1,9}$ ]] || die "LOAD_TEST_SEED must be a non-negative integer, got '$seed'"
[[ "$grace" =~ ^[1-9][0-9]{0,3}$ ]] || die "LOAD_TEST_GRACE must be a positive integer, got '$grace'"
[ -x "$locust" ] || die "$locust not found (Debian package python3-locust; see scripts/setup.sh)"

users=$(( (rps + user_rps - 1) / user_rps ))
per_user=$("$python" -c "import sys; print(int(sys.argv[1]) / int(sys.argv[2]))" "$rps" "$users")

if ! curl -fsS -o /dev/null --max-time 5 "$url/health"; then
  echo "load-test: $url/health is not answering 2xx; is the service running?" >&2
  exit 1
fi

report_dir=${REPORT_DIR:-$root/build/load-test/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$report_dir"
report_dir=$(cd "$report_dir" && pwd)
[ -z "$(ls -A "$report_dir")" ] || die "report dir $report_dir is not empty"
prefix=$report_dir/locust
html=$report_dir/report.html
summary=$report_dir/summary.json
log=$report_dir/locust.log
console=$report_dir/locust-console.txt

echo "load-test: $url target $rps req/s for ${duration}s: $users users x $per_user req/s, report dir $report_dir"
# Locust reads ~/.locust.conf, ./locust.conf and LOCUST_* variables: run it with none
# of them (HOME and the working directory are the report dir), so only the flags below
# apply. --headless: no web UI; no --master/--worker: no other sockets.
locust_env=(env -i PATH=/usr/bin:/bin HOME="$report_dir" LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
  LOAD_TEST_USER_RPS="$per_user" LOAD_TEST_SEED="$seed" LOAD_TEST_SUMMARY="$summary")
hard_limit=$((duration + grace))
locust_rc=0
(
  cd "$report_dir"
  timeout -k 10 "$hard_limit" "${locust_env[@]}" "$locust" \
    -f "$script_dir/locustfile.py" --headless --host "$url" \
    --users "$users" --spawn-rate "$users" --run-time "${duration}s" --stop-timeout 2 \
    --csv "$prefix" --html "$html" --only-summary --loglevel INFO --logfile "$log" \
    >"$console" 2>&1
) || locust_rc=$?
# Locust's own final tables (requests and response-time percentiles per endpoint).
cat "$console"

report_rc=0
PYTHONDONTWRITEBYTECODE=1 "$python" "$script_dir/loadtools/locust_report.py" \
  --prefix "$prefix" --summary "$summary" --html "$html" --target-rps "$rps" --seconds "$duration" --users "$users" --url "$url" \
  || report_rc=$?

if [ "$locust_rc" -eq 124 ] || [ "$locust_rc" -eq 137 ]; then
  echo "load-test: locust did not finish within ${hard_limit}s and was killed (see $log)" >&2
  exit 1
fi
# locust exits 1 when any request failed; the report above already judged that.
if [ "$locust_rc" -ne 0 ] && [ "$locust_rc" -ne 1 ]; then
  echo "load-test: locust exited with status $locust_rc (see $log)" >&2
  exit 1
fi
[ "$report_rc" -eq 0 ] || exit 1
exit 0
