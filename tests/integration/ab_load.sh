#!/usr/bin/env bash
# Starts the service binary on a free loopback port and runs scripts/test-ab.sh against
# it (ab -n 100000 -c 200 POST /metrics): passes only with 0 failed and 0 non-2xx
# requests and a clean exit 0 on SIGTERM afterwards.
# Usage: ab_load.sh PATH/TO/metrics-analyzer
set -euo pipefail
binary=${1:?usage: ab_load.sh PATH/TO/metrics-analyzer}
root=$(cd "$(dirname "$0")/../.." && pwd)
log=$(mktemp)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$log"
}
trap cleanup EXIT

PORT=0 BIND_ADDR=127.0.0.1 THREADS=${THREADS:-2} "$binary" 2>"$log" &
pid=$!

port=""
deadline=$((SECONDS + 30))
while [ -z "$port" ]; do
  port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\) .*/\1/p' "$log" | head -n 1)
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "service did not start:"; cat "$log"; exit 1
  fi
  [ -n "$port" ] || sleep 0.05  # poll interval, bounded by the deadline above
done
until curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { echo "service never became ready"; exit 1; }
  sleep 0.05  # poll interval
done

"$root/scripts/test-ab.sh" "http://127.0.0.1:$port"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
if [ "$status" -ne 0 ]; then
  echo "service exited with $status after SIGTERM"; cat "$log"; exit 1
fi
echo "service exited 0 after SIGTERM"
