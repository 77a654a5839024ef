#!/usr/bin/env bash
# HTTP benchmark of docs/architecture.md §6: measures, in one run and on the same
# CPUs, nginx `return 200` (the baseline) and then metrics-analyzer with THREADS=1,
# the server pinned to CPU 1 and wrk (1 thread, 64 keep-alive connections) to CPU 0:
#
#   1. nginx (own config in a temp dir, worker_processes 1) on a free loopback port:
#      wrk GET /; then nginx is stopped.
#   2. metrics-analyzer (THREADS=1 LOG_LEVEL=warn BIND_ADDR=127.0.0.1) on a free
#      loopback port: idle RSS once /ready answers, a functional check of each route,
#      wrk POST /metrics (varying valid samples, scripts/bench/post_metrics.lua),
#      wrk GET /analyze, wrk GET /health, peak RSS (VmHWM); then SIGTERM, which must
#      end the service with exit status 0.
#
# Prints a Markdown table (req/s, p50, p99, ratio to nginx, §6 targets with PASS/MISS)
# and the idle and peak RSS, and writes the same report plus the raw wrk output to
# build/bench/bench-<UTC timestamp>.md.
#
# Usage: scripts/bench.sh [--quick] [--help]
#   --quick   2-second wrk runs, to smoke-test the script (numbers are not meaningful)
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (64), ANALYZER_BIN
#   (default build/release/metrics-analyzer, built with the release preset if missing).
#
# Exit status: 0 when every run completed cleanly (whether or not a target was met),
# 1 when a run was invalid (non-2xx responses, socket errors, wrong functional-check
# status, a crash, a non-zero exit after SIGTERM) or a tool failed, 2 on a usage error.
# Traffic goes to 127.0.0.1 only; the script stops only the processes it started.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
readonly script_dir repo_root

usage() {
  cat <<'EOF'
Usage: scripts/bench.sh [--quick] [--help]

Benchmarks nginx `return 200` and then metrics-analyzer (THREADS=1) with wrk, the
server pinned to CPU 1 and wrk to CPU 0 (docs/architecture.md §6), and prints a
Markdown table: req/s, p50 and p99 latency, ratio to nginx and the §6 targets
(POST /metrics, GET /analyze, GET /health each >= 0.75 x nginx req/s with
p99 <= 2 ms; idle RSS <= 12 MiB) marked PASS or MISS. The report, with the raw
wrk output, is also written to build/bench/bench-<UTC timestamp>.md.

Options:
  --quick   2-second runs, for smoke-testing the script (numbers not meaningful)
  --help    this text

Environment:
  BENCH_SECONDS      duration of each wrk run in seconds (default 10; --quick: 2)
  BENCH_CONNECTIONS  wrk connections (default 64)
  ANALYZER_BIN       service binary (default build/release/metrics-analyzer; when
                     that default is missing it is built with
                     `cmake --preset release && cmake --build --preset release
                     --target metrics-analyzer`)
Other service variables in the environment (e.g. REDIS_ADDR) are passed through;
THREADS, LOG_LEVEL, PORT and BIND_ADDR are set by the script.

With fewer than two usable CPUs, pinning is skipped with a warning. Run it on an
otherwise idle machine: a concurrent build skews every number.

Exit status: 0 when all runs completed cleanly (PASS or MISS alike); 1 when a run
was invalid (non-2xx, socket errors, crash, non-zero exit after SIGTERM) or a tool
failed; 2 on a usage error.
EOF
}

die() { echo "bench: $*" >&2; exit 2; }
fail() { echo "bench: error: $*" >&2; exit 1; }
warn() { echo "bench: warning: $*" >&2; }
log() { echo "bench: $*" >&2; }

quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --quick) quick=1 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-64}"
[ "$quick" -eq 0 ] || seconds=2
[[ "$seconds" =~ ^[1-9][0-9]{0,3}$ ]] || die "BENCH_SECONDS must be an integer 1..9999, got '$seconds'"
[[ "$connections" =~ ^[1-9][0-9]{0,4}$ ]] || die "BENCH_CONNECTIONS must be an integer 1..99999, got '$connections'"

for tool in wrk nginx curl taskset timeout awk; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
    fail "$tool not found (see scripts/setup.sh)"
done
nginx_cmd="$(command -v nginx || echo /usr/sbin/nginx)"
# Debian's interpreter first (docs/architecture.md §7); only the socket module is used.
if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; else python="$(command -v python3)" || fail "python3 not found"; fi
readonly nginx_cmd python

# --- the binary ---------------------------------------------------------------
if [ -n "${ANALYZER_BIN:-}" ]; then
  bin="$ANALYZER_BIN"
  [ -x "$bin" ] || fail "ANALYZER_BIN is not an executable file: $bin"
else
  bin="$repo_root/build/release/metrics-analyzer"
  if [ ! -x "$bin" ]; then
    log "$bin is missing; building it with the release preset"
    (cd "$repo_root" && cmake --preset release && cmake --build --preset release --target metrics-analyzer) ||
      fail "build failed"
    [ -x "$bin" ] || fail "build finished but $bin does not exist"
  fi
fi
readonly bin

# --- process bookkeeping --------------------------------------------------------
tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")"
readonly tmp_dir
nginx_pid=""
service_pid=""

alive() { # alive PID: running and not a zombie
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != "Z" ]
}

# stop_pid PID SIGNAL GRACE_SECONDS: signal one process we started, wait for it to
# exit (SIGKILL after the grace period, together with its direct children, which for
# nginx are its workers); sets stop_rc to its exit status.
stop_rc=0
stop_pid() {
  local pid="$1" signal="$2" grace="$3" deadline children
  stop_rc=0
  if alive "$pid"; then
    kill "-$signal" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.05 # poll interval
    done
    if alive "$pid"; then
      warn "PID $pid still running ${grace}s after SIG$signal; sending SIGKILL"
      children="$(pgrep -P "$pid" || true)"
      kill -KILL "$pid" 2>/dev/null || true
      for child in $children; do kill -KILL "$child" 2>/dev/null || true; done
    fi
  fi
  wait "$pid" 2>/dev/null || stop_rc=$?
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  [ -z "${redis_pid:-}" ] || stop_pid "$redis_pid" TERM 5
  [ -z "$nginx_pid" ] || stop_pid "$nginx_pid" TERM 5
  [ -z "$service_pid" ] || stop_pid "$service_pid" TERM 15
  rm -rf -- "$tmp_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$python" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# wait_http URL PID SECONDS: poll URL until it answers 2xx; fail if PID dies first.
wait_http() {
  local url="$1" pid="$2" deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
    alive "$pid" || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05 # poll interval
  done
}

rss_kib() { # rss_kib PID FIELD (VmRSS | VmHWM)
  awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# --- CPU pinning ----------------------------------------------------------------
server_pin=()
client_pin=()
pinning="server on CPU 1, wrk on CPU 0"
if [ "$(nproc)" -ge 2 ] && taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  server_pin=(taskset -c 1)
  client_pin=(taskset -c 0)
else
  pinning="none (fewer than two usable CPUs)"
  warn "CPUs 0 and 1 are not both usable ($(nproc) CPU(s)): running without pinning; server and wrk share CPUs"
fi

load1="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$load1" 'BEGIN { exit !(l > 1.0) }'; then
  warn "1-minute load average is $load1: other work on these CPUs will skew the numbers"
fi

# --- wrk runs and parsing -------------------------------------------------------
problems=()
declare -A rps p50 p99 raw

# run_wrk KEY URL [LUA_SCRIPT]
run_wrk() {
  local key="$1" url="$2" script="${3:-}" out="$tmp_dir/wrk-$1.txt" rc=0
  local args=(-t1 "-c$connections" "-d${seconds}s" --latency)
  [ -z "$script" ] || args+=(-s "$script")
  log "wrk ${args[*]} $url"
  timeout --foreground $((seconds + 30)) "${client_pin[@]}" wrk "${args[@]}" "$url" >"$out" 2>&1 || rc=$?
  raw[$key]="$(cat "$out")"
  [ "$rc" -eq 0 ] || fail "wrk exited with status $rc for $url:
$(cat "$out")"
  rps[$key]="$(awk '$1 == "Requests/sec:" { printf "%.0f", $2; exit }' "$out")"
  p50[$key]="$(wrk_percentile "$out" 50)"
  p99[$key]="$(wrk_percentile "$out" 99)"
  if [ -z "${rps[$key]}" ] || [ -z "${p50[$key]}" ] || [ -z "${p99[$key]}" ]; then
    fail "could not parse wrk output for $url:
$(cat "$out")"
  fi
  local non2xx errors
  non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF; exit }' "$out")"
  errors="$(awk '/Socket errors:/ { gsub(/,/, ""); print "connect " $4 ", read " $6 ", write " $8 ", timeout " $10; exit }' "$out")"
  [ -z "$non2xx" ] || problems+=("$key: $non2xx non-2xx/3xx responses during the wrk run ($url)")
  [ -z "$errors" ] || problems+=("$key: socket errors during the wrk run ($url): $errors")
}

# wrk_percentile FILE 50|99 -> milliseconds from the --latency distribution
wrk_percentile() {
  awk -v p="$2%" '
    /Latency Distribution/ { table = 1; next }
    table && $1 == p {
      v = $2; n = v; u = v
      sub(/[a-z]+$/, "", n); sub(/^[0-9.]+/, "", u)
      f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
      if (f > 0) printf "%.3f", n * f
      exit
    }' "$1"
}

# --- 1. nginx baseline ----------------------------------------------------------
nginx_port="$(free_port)"
nginx_dir="$tmp_dir/nginx"
mkdir -p "$nginx_dir"
cat >"$nginx_dir/nginx.conf" <<EOF
# Written by scripts/bench.sh: the nginx 'return 200' baseline of docs/architecture.md §6.
worker_processes 1;
daemon off;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections $((connections + 1024)); }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type text/plain;
  client_body_temp_path $nginx_dir/client_body;
  proxy_temp_path $nginx_dir/proxy;
  fastcgi_temp_path $nginx_dir/fastcgi;
  uwsgi_temp_path $nginx_dir/uwsgi;
  scgi_temp_path $nginx_dir/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200 "ok"; }
  }
}
EOF
nginx_version="$("$nginx_cmd" -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')"
log "starting nginx ${nginx_version} on 127.0.0.1:$nginx_port"
"${server_pin[@]}" "$nginx_cmd" -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -e "$nginx_dir/error.log" \
  >"$nginx_dir/stdout.log" 2>&1 &
nginx_pid=$!
wait_http "http://127.0.0.1:$nginx_port/" "$nginx_pid" 10 ||
  fail "nginx did not answer on 127.0.0.1:$nginx_port within 10s:
$(cat "$nginx_dir/stdout.log" "$nginx_dir/error.log" 2>/dev/null)"
run_wrk nginx "http://127.0.0.1:$nginx_port/"
stop_pid "$nginx_pid" TERM 5
nginx_pid=""

# --- 2. the service ---------------------------------------------------------------
svc_port="$(free_port)"
svc="http://127.0.0.1:$svc_port"
svc_log="$tmp_dir/service.log"
log "starting $bin on $svc (THREADS=1)"
THREADS=1 LOG_LEVEL=warn PORT="$svc_port" BIND_ADDR=127.0.0.1 \
  "${server_pin[@]}" "$bin" >"$svc_log" 2>&1 &
service_pid=$!
wait_http "$svc/ready" "$service_pid" 30 ||
  fail "service did not become ready on $svc/ready within 30s; its log:
$(tail -n 40 "$svc_log")"
idle_rss_kib="$(rss_kib "$service_pid" VmRSS)"

# check_route NAME EXPECTED_STATUS CURL_ARGS...: one functional request per route, so
# that a benchmark of error responses cannot pass unnoticed.
check_route() {
  local name="$1" expected="$2" status
  shift 2
  status="$(curl -sS -o "$tmp_dir/check.body" -w '%{http_code}' --max-time 5 "$@" 2>&1)" || status="curl failed: $status"
  if [ "$status" != "$expected" ]; then
    problems+=("functional check $name: expected $expected, got $status: $(head -c 300 "$tmp_dir/check.body" 2>/dev/null)")
  fi
}
check_route "POST /metrics" 202 -H 'Content-Type: application/json' \
  --data-binary "@$script_dir/payload.json" "$svc/metrics"
if ! grep -q '"accepted": *1' "$tmp_dir/check.body" 2>/dev/null; then
  problems+=("functional check POST /metrics: body lacks \"accepted\":1: $(head -c 300 "$tmp_dir/check.body")")
fi
check_route "GET /analyze" 200 "$svc/analyze"
check_route "GET /health" 200 "$svc/health"

for run in "post|$svc/metrics|$script_dir/bench/post_metrics.lua" "analyze|$svc/analyze|" "health|$svc/health|"; do
  IFS='|' read -r key url script <<<"$run"
  run_wrk "$key" "$url" "$script"
  alive "$service_pid" || fail "the service died during the $key run; its log:
$(tail -n 40 "$svc_log")"
done
peak_rss_kib="$(rss_kib "$service_pid" VmHWM)"

log "stopping the service with SIGTERM"
stop_pid "$service_pid" TERM 15
service_pid=""
[ "$stop_rc" -eq 0 ] || problems+=("the service exited with status $stop_rc after SIGTERM (expected 0); log tail: $(tail -n 5 "$svc_log" | tr '\n' ' ')")

# --- 3. the service with the Redis store ----------------------------------------
# Redis shares CPU 0 with wrk (the server keeps CPU 1 to itself); its CPU time over the
# run is reported so the cost can be read against it.
redis_cmd="$(command -v redis-server || true)"
if [ -z "$redis_cmd" ]; then
  problems+=("redis-server is not installed: the Redis column was not measured")
else
  redis_port="$(free_port)"
  redis_dir="$tmp_dir/redis"
  mkdir -p "$redis_dir"
  "${client_pin[@]}" "$redis_cmd" --port "$redis_port" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$redis_dir" >"$redis_dir/redis.log" 2>&1 &
  redis_pid=$!
  deadline=$((SECONDS + 10))
  until [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ]; do
    [ $SECONDS -lt $deadline ] || fail "redis-server did not answer PING within 10s"
    sleep 0.05  # poll interval, bounded by the deadline
  done
  svc_port="$(free_port)"
  svc="http://127.0.0.1:$svc_port"
  log "starting $bin on $svc (THREADS=1, REDIS_ADDR=127.0.0.1:$redis_port)"
  REDIS_ADDR="127.0.0.1:$redis_port" INSTANCE_ID=bench THREADS=1 LOG_LEVEL=warn \
    PORT="$svc_port" BIND_ADDR=127.0.0.1 "${server_pin[@]}" "$bin" >"$svc_log" 2>&1 &
  service_pid=$!
  wait_http "$svc/ready" "$service_pid" 30 ||
    fail "service (Redis store) did not become ready within 30s; its log:
$(tail -n 40 "$svc_log")"
  redis_cpu_before="$(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat")"
  run_wrk post_redis "$svc/metrics" "$script_dir/bench/post_metrics.lua"
  redis_cpu_ticks=$(( $(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat") - redis_cpu_before ))
  redis_cpu_pct="$(awk -v t="$redis_cpu_ticks" -v hz="$(getconf CLK_TCK)" -v s="$seconds" \
    'BEGIN { printf "%.0f", 100 * t / hz / s }')"
  alive "$service_pid" || fail "the service (Redis store) died during its run"
  storage="$(curl -sS --max-time 5 "$svc/analyze" | sed -n 's/.*"storage":\({[^}]*}\).*/\1/p')"
  stop_pid "$service_pid" TERM 15
  service_pid=""
  [ "$stop_rc" -eq 0 ] || problems+=("the service (Redis store) exited with $stop_rc after SIGTERM")
  written="$(redis-cli -p "$redis_port" hget metrics-analyzer:bench:state seq 2>/dev/null || true)"
  stop_pid "$redis_pid" TERM 5
  redis_pid=""
fi

# --- report ---------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { # verdict RATIO P99_MS
  awk -v r="$1" -v p="$2" 'BEGIN {
    if (r == "n/a") { print "MISS (no baseline)"; exit }
    miss = ""
    if (r + 0 < 0.75) miss = miss sprintf("ratio %.2f < 0.75", r)
    if (p + 0 > 2) miss = miss (miss == "" ? "" : ", ") sprintf("p99 %.3f ms > 2 ms", p)
    print (miss == "" ? "PASS" : "MISS (" miss ")")
  }'
}

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
report_dir="$repo_root/build/bench"
report="$report_dir/bench-$stamp.md"
idle_mib="$(mib "$idle_rss_kib")"
peak_mib="$(mib "$peak_rss_kib")"
idle_verdict="$(awk -v k="$idle_rss_kib" 'BEGIN { print (k <= 12 * 1024) ? "PASS" : "MISS" }')"

table() {
  local key label
  echo "| target | server | req/s | p50 ms | p99 ms | ratio to nginx | §6 target | result |"
  echo "|---|---|---:|---:|---:|---:|---|---|"
  echo "| nginx return 200 | nginx $nginx_version | ${rps[nginx]} | ${p50[nginx]} | ${p99[nginx]} | 1.00 | baseline | — |"
  for key in post analyze health; do
    case "$key" in
      post) label="service POST /metrics" ;;
      analyze) label="service GET /analyze" ;;
      health) label="service GET /health" ;;
    esac
    local r
    r="$(ratio "${rps[$key]}" "${rps[nginx]}")"
    echo "| $label | metrics-analyzer THREADS=1 | ${rps[$key]} | ${p50[$key]} | ${p99[$key]} | $r | ≥ 0.75 × nginx, p99 ≤ 2 ms | $(verdict "$r" "${p99[$key]}") |"
  done
  if [ -n "${rps[post_redis]:-}" ]; then
    local rr
    rr="$(ratio "${rps[post_redis]}" "${rps[post]}")"
    echo "| service POST /metrics, Redis store | metrics-analyzer THREADS=1 | ${rps[post_redis]} | ${p50[post_redis]} | ${p99[post_redis]} | $(ratio "${rps[post_redis]}" "${rps[nginx]}") | ≥ 0.90 × memory store ($rr) | $(awk -v r="$rr" 'BEGIN { print (r + 0 >= 0.90) ? "PASS" : "MISS" }') |"
  fi
  echo
  [ -z "${redis_cpu_pct:-}" ] || echo "Redis (on CPU 0 with wrk): ${redis_cpu_pct}% of a CPU during the Redis run; storage after it: ${storage:-?}; state seq in Redis after shutdown: ${written:-?}"
  echo "idle RSS: $idle_mib MiB (§6 target ≤ 12 MiB: $idle_verdict)"
  echo "peak RSS: $peak_mib MiB (after the runs, $connections connections; §6 target ≤ 64 MiB is for 10 000 connections, not measured here)"
}

summary="$(table)"
context="wrk -t1 -c$connections -d${seconds}s --latency, keep-alive; pinning: $pinning; $(nproc) CPU(s); load average before report: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$quick" -eq 0 ] || context="$context; QUICK MODE (2 s runs): numbers are not meaningful"

mkdir -p "$report_dir"
{
  echo "# metrics-analyzer benchmark $stamp"
  echo
  echo "- binary: \`$bin\`"
  echo "- $context"
  echo "- kernel: $(uname -sr); $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
  echo
  echo "$summary"
  if [ ${#problems[@]} -gt 0 ]; then
    echo
    echo "## Problems"
    for problem in "${problems[@]}"; do echo "- $problem"; done
  fi
  echo
  echo "## Raw wrk output"
  for key in nginx post analyze health post_redis; do
    [ -n "${raw[$key]:-}" ] || continue
    echo
    echo "### $key"
    echo
    echo '```'
    echo "${raw[$key]}"
    echo '```'
  done
} >"$report"

echo
echo "$context"
echo
echo "$summary"
echo
echo "report: $report"
if [ ${#problems[@]} -gt 0 ]; then
  echo
  echo "PROBLEMS (the numbers above may be invalid):"
  for problem in "${problems[@]}"; do echo "- $problem"; done
  exit 1
fi
