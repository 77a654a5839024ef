#!/usr/bin/env bash
# Load-tests POST /metrics of a running metrics-analyzer with ApacheBench (ab):
#
#   ab -n 100000 -c 200 -p scripts/payload.json -T application/json URL/metrics
#
# (no keep-alive: every request opens a new connection, as in the original issue),
# then prints a summary (requests/s, failed requests, non-2xx responses, p50/p99
# from ab's percentile table).
#
# Usage: scripts/test-ab.sh [--help] [URL]
#   URL  base URL of the service, default http://127.0.0.1:8080; loopback only
#        (127.0.0.0/8 or localhost). "/metrics" is appended unless the URL already
#        ends in /metrics.
#
# Exit status: 0 when every request completed with a 2xx; 1 when ab failed or timed
# out, any request failed, or any response was not 2xx; 2 on a usage error.
# The script starts no server: it only runs ab (bounded by a request count and by
# AB_TIMEOUT) and one curl probe against the URL. --help also shows how to watch a
# Kubernetes HPA scale while this script drives load through kubectl port-forward.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly script_dir
readonly payload="$script_dir/payload.json"

usage() {
  cat <<'EOF'
Usage: scripts/test-ab.sh [--help] [URL]

Runs ApacheBench against POST URL/metrics with scripts/payload.json:
  ab -n $AB_REQUESTS -c $AB_CONCURRENCY -p scripts/payload.json -T application/json URL/metrics
without keep-alive (each request on a new connection), and prints a summary:
requests/s, failed requests, non-2xx responses, p50 and p99 latency.

URL      base URL of a running service (default http://127.0.0.1:8080). Only
         loopback hosts are accepted (127.0.0.0/8, localhost). "/metrics" is
         appended unless the URL already ends in /metrics.

Environment:
  AB_REQUESTS     total requests (-n), default 100000
  AB_CONCURRENCY  concurrent requests (-c), default 200; at most AB_REQUESTS
  AB_TIMEOUT      wall-clock limit for the whole ab run in seconds, default 300

Exit status: 0 if all requests completed with 2xx; 1 if ab failed or timed out,
any request failed (ab counts a response of unexpected length as failed), or any
response was non-2xx; 2 on a usage error.

Watching the Kubernetes HPA scale while ab drives load:
  Terminal 1: forward the Service to loopback, then drive load in a bounded loop
  (each round is AB_REQUESTS POSTs; Ctrl-C stops it):
    kubectl port-forward svc/metrics-analyzer 8080:80 &
    for round in $(seq 10); do
      AB_REQUESTS=200000 AB_CONCURRENCY=200 scripts/test-ab.sh http://127.0.0.1:8080 || break
    done
    kill %1    # stop the port-forward
  Terminal 2: watch the autoscaler's CPU target and replica count change
  (deploy/k8s/hpa.yaml: 70 % of the CPU request, 2..10 pods; needs metrics-server):
    kubectl get hpa metrics-analyzer -w
  and, if you like, the pods coming and going:
    kubectl get pods -l app.kubernetes.io/name=metrics-analyzer -w
  Note: kubectl port-forward sends all traffic to one pod, so the HPA sees the
  average CPU rise and adds replicas, but the new replicas get none of this load;
  to spread load over replicas, run ab inside the cluster against the Service.
  Scale-down starts 5 minutes after the load stops (the HPA's scale-down
  stabilization window).
EOF
}

die() { echo "test-ab: $*" >&2; exit 2; }

url="http://127.0.0.1:8080"
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  -*) die "unknown option: $1 (see --help)" ;;
  "") ;;
  *) url="$1" ;;
esac
[ $# -le 1 ] || die "too many arguments (see --help)"

requests="${AB_REQUESTS:-100000}"
concurrency="${AB_CONCURRENCY:-200}"
ab_timeout="${AB_TIMEOUT:-300}"
check_count() { # check_count NAME VALUE
  [[ "$2" =~ ^[1-9][0-9]{0,8}$ ]] || die "$1 must be a positive integer, got '$2'"
}
check_count AB_REQUESTS "$requests"
check_count AB_CONCURRENCY "$concurrency"
check_count AB_TIMEOUT "$ab_timeout"
[ "$concurrency" -le "$requests" ] || die "AB_CONCURRENCY ($concurrency) exceeds AB_REQUESTS ($requests)"

# Loopback only: http://HOST[:PORT][/path] with HOST in 127.0.0.0/8 or localhost.
# localhost is rewritten to 127.0.0.1 so that ab never resolves it elsewhere.
url_re='^http://(localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})(:[0-9]{1,5})?(/[^[:space:]]*)?$'
[[ "$url" =~ $url_re ]] || die "refusing URL '$url': only http:// URLs on loopback (127.0.0.0/8, localhost) are allowed"
host="${BASH_REMATCH[1]}"
port_part="${BASH_REMATCH[2]}"
path="${BASH_REMATCH[3]}"
[ "$host" != "localhost" ] || host="127.0.0.1"
path="${path%/}"
case "$path" in
  */metrics) ;;
  *) path="$path/metrics" ;;
esac
base="http://$host$port_part"
target="$base$path"

command -v ab >/dev/null 2>&1 || die "ab not found (Debian package apache2-utils; see scripts/setup.sh)"
[ -r "$payload" ] || die "payload not readable: $payload"

tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/test-ab.XXXXXX")"
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() { rm -rf -- "$tmp_dir"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One probe first, so that an unreachable service fails fast with a clear message.
if ! curl -fsS -o /dev/null --max-time 5 "$base/health"; then
  echo "test-ab: $base/health is not answering 2xx; is the service running?" >&2
  exit 1
fi

echo "test-ab: ab -n $requests -c $concurrency -p $payload -T application/json $target (limit ${ab_timeout}s)"
ab_rc=0
# --foreground: ab stays in the terminal's process group, so Ctrl-C reaches it.
timeout --foreground "$ab_timeout" \
  ab -n "$requests" -c "$concurrency" -p "$payload" -T application/json "$target" \
  >"$tmp_dir/ab.out" 2>"$tmp_dir/ab.err" || ab_rc=$?
cat "$tmp_dir/ab.out"
if [ -s "$tmp_dir/ab.err" ]; then
  # ab writes progress ("Completed 10000 requests") and errors to stderr.
  grep -v -e '^Completed [0-9]* requests$' -e '^Finished [0-9]* requests$' \
    -e '^Benchmarking ' "$tmp_dir/ab.err" >&2 || true
fi

field() { # field LABEL -> the first number after "LABEL:" in ab's report, or empty
  awk -v label="$1" 'index($0, label ":") == 1 { sub(/^[^:]*:[ \t]*/, ""); print $1; exit }' \
    "$tmp_dir/ab.out"
}
percentile() { # percentile 50 -> ms from ab's "Percentage of the requests served" table
  awk -v p="$1%" '/^Percentage of the requests/ { table = 1; next }
                  table && $1 == p { print $2; exit }' "$tmp_dir/ab.out"
}

complete="$(field 'Complete requests')"
failed="$(field 'Failed requests')"
non2xx="$(field 'Non-2xx responses')"   # ab prints this line only when it is non-zero
rps="$(field 'Requests per second')"
p50="$(percentile 50)"
p99="$(percentile 99)"
failed_detail="$(awk '/^Failed requests:/ { getline; if ($0 ~ /Connect:/) { gsub(/^[ \t]+/, ""); print } exit }' "$tmp_dir/ab.out")"
: "${non2xx:=0}"

problems=()
if [ "$ab_rc" -eq 124 ]; then
  problems+=("ab did not finish within AB_TIMEOUT=${ab_timeout}s")
elif [ "$ab_rc" -ne 0 ]; then
  problems+=("ab exited with status $ab_rc")
fi
if [ -z "$complete" ]; then
  problems+=("ab printed no report")
elif [ "$complete" != "$requests" ]; then
  problems+=("only $complete of $requests requests completed")
fi
if [ -n "$failed" ] && [ "$failed" != "0" ]; then
  problems+=("$failed failed requests${failed_detail:+ ($failed_detail)}")
fi
if [ "$non2xx" != "0" ]; then
  problems+=("$non2xx non-2xx responses")
fi

echo
echo "test-ab summary: POST $target, n=$requests, c=$concurrency, no keep-alive"
printf '  %-18s %s\n' \
  "complete requests" "${complete:-?}" \
  "requests/s" "${rps:-?}" \
  "failed requests" "${failed:-?}${failed_detail:+ ($failed_detail)}" \
  "non-2xx responses" "$non2xx" \
  "p50 latency" "${p50:-?} ms" \
  "p99 latency" "${p99:-?} ms"
if [ ${#problems[@]} -eq 0 ]; then
  echo "  result             PASS"
  exit 0
fi
echo "  result             FAIL"
for problem in "${problems[@]}"; do
  echo "  - $problem"
done
exit 1
