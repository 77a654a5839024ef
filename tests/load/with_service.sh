#!/usr/bin/env bash
# Runs a command against a fresh metrics-analyzer on a free loopback port.
#
# Starts BINARY with --bind-addr 127.0.0.1 --port 0 (plus any SERVICE_FLAGs), reads the
# port from its "listening on 127.0.0.1:PORT" log line, polls GET /ready until 200 (with
# a deadline, no fixed sleep), exports SERVICE_URL=http://127.0.0.1:PORT, runs COMMAND,
# then stops the service by its PID with SIGTERM and checks that it exits 0 in time.
#
# Usage: tests/load/with_service.sh BINARY [SERVICE_FLAG...] -- COMMAND [ARG...]
#   e.g. with_service.sh build/release/metrics-analyzer --window-size 10 -- \
#          sh -c 'scripts/load_anomaly_test.sh "$SERVICE_URL"'
#
# Environment: WITH_SERVICE_START_TIMEOUT (s, default 20), WITH_SERVICE_STOP_TIMEOUT
# (s, default 20).
# Exit status: COMMAND's status when it failed; else 0, or 1 when the service did not
# start, become ready, or exit 0 after SIGTERM; 2 on a usage error.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
[ $# -ge 3 ] || { usage >&2; exit 2; }

binary=$1
shift
service_flags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  service_flags+=("$1")
  shift
done
if [ "${1:-}" != "--" ] || [ $# -lt 2 ]; then
  echo "with_service: missing '-- COMMAND'" >&2
  exit 2
fi
shift
[ -x "$binary" ] || { echo "with_service: not an executable: $binary" >&2; exit 2; }

start_timeout=${WITH_SERVICE_START_TIMEOUT:-20}
stop_timeout=${WITH_SERVICE_STOP_TIMEOUT:-20}
log=$(mktemp "${TMPDIR:-/tmp}/with_service.XXXXXX")
pid=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  # Only reached with a live service when something went wrong: do not leave it behind.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "with_service: $*" >&2
  echo "--- service log ---" >&2
  cat "$log" >&2
  exit 1
}

"$binary" --bind-addr 127.0.0.1 --port 0 "${service_flags[@]}" 2>"$log" >/dev/null &
pid=$!

deadline=$((SECONDS + start_timeout))
port=""
while [ -z "$port" ]; do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || fail "service exited before listening"
  [ "$SECONDS" -lt "$deadline" ] || fail "no 'listening on' line within ${start_timeout}s"
  sleep 0.05  # poll interval; the deadline above bounds the wait
done
url="http://127.0.0.1:$port"
until curl -fsS -o /dev/null --max-time 2 "$url/ready" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || fail "service exited before /ready"
  [ "$SECONDS" -lt "$deadline" ] || fail "$url/ready not 200 within ${start_timeout}s"
  sleep 0.05  # poll interval
done
echo "with_service: $binary (pid $pid) ready at $url" >&2

export SERVICE_URL=$url
cmd_rc=0
"$@" || cmd_rc=$?

kill -TERM "$pid"
service_rc=""
stop_deadline=$((SECONDS + stop_timeout))
while kill -0 "$pid" 2>/dev/null; do
  if [ "$SECONDS" -ge "$stop_deadline" ]; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    fail "service still running ${stop_timeout}s after SIGTERM (killed)"
  fi
  sleep 0.05  # poll interval
done
service_rc=0
wait "$pid" || service_rc=$?
pid=""
if [ "$cmd_rc" -ne 0 ]; then
  echo "with_service: command exited with status $cmd_rc" >&2
  exit "$cmd_rc"
fi
[ "$service_rc" -eq 0 ] || fail "service exited with status $service_rc after SIGTERM"
echo "with_service: service exited 0 after SIGTERM" >&2
