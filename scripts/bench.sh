#!/usr/bin/env bash
# HTTP benchmark of docs/architecture.md §6: measures, in one run and on the same
# CPUs, nginx `return 200` (the baseline) and then metrics-analyzer, with wrk (1 thread,
# keep-alive) pinned to CPU 0, at 1, 64 and 1 000 connections each:
#
#   1. nginx (own config in a temp dir, worker_processes 1, pinned to CPU 1) on a free
#      loopback port: wrk GET / at each connection count; then nginx is stopped.
#   2. metrics-analyzer THREADS=1 (LOG_LEVEL=warn BIND_ADDR=127.0.0.1), pinned to CPU 1,
#      on a free loopback port: idle RSS once /ready answers, a functional check of each
#      route (including one 100-sample batch: 202 and "accepted":100), then at each
#      connection count wrk POST /metrics (varying valid single samples,
#      scripts/bench/post_metrics.lua), GET /analyze and GET /health, and at 64
#      connections wrk POST /metrics with 100-sample batches
#      (scripts/bench/post_batch.lua, reported as samples/s = req/s x 100); peak RSS
#      (VmHWM); then SIGTERM, which must end the service with exit status 0.
#   3. The same with THREADS=2, the server on CPUs 0-1: it shares CPU 0 with wrk, so
#      these rows carry no §6 target (their ratio is to the one-worker nginx above).
#   4. A fresh THREADS=1 instance (CPU 1, MAX_CONNECTIONS = 10 000 + 2 000) with
#      10 000 keep-alive connections held open by scripts/bench/hold_connections.py
#      (CPU 0; each sent one GET /health and read its response): VmRSS and VmHWM while
#      they are held, a fresh GET /health meanwhile (must be 200 within 2 s), VmRSS
#      after they are closed; SIGTERM, exit status 0.
#   5. THREADS=1 with the Redis store (redis-server on CPU 0 beside wrk): wrk POST
#      /metrics at 64 connections, compared with the memory store.
# `ulimit -n` is raised inside the script (and nginx's worker_connections set) for the
# 1 000-connection runs and the 10 000 held connections.
#
# Prints one Markdown table with a row per (target, server threads, connections):
# req/s, samples/s for ingest, p50, p99, ratio to nginx at the same connection count,
# the §6 target (only THREADS=1 at 64 connections carries one) and PASS/MISS/—; then the
# memory lines (idle, 10 000 connections, peak) and the total time. Writes the same
# report plus the raw wrk output to build/bench/bench-<UTC timestamp>.md.
# Takes about 4 minutes 15 s with BENCH_SECONDS=10 on an idle machine (24 wrk runs), under
# a minute with --quick; a busy machine stretches the runs (reported as warnings).
#
# Usage: scripts/bench.sh [--quick] [--help]
#   --quick   2-second wrk runs, to smoke-test the script (numbers are not meaningful)
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS ("1 64 1000"; must include 64),
#   BENCH_HOLD_CONNECTIONS (10000), ANALYZER_BIN (default
#   build/release/metrics-analyzer, built with the release preset if missing).
#
# Exit status: 0 when every run completed cleanly (whether or not a target was met),
# 1 when a run was invalid (non-2xx responses, socket errors, wrong functional-check
# status, a crash, a non-zero exit after SIGTERM, connections not held) or a tool
# failed, 2 on a usage error.
# Traffic goes to 127.0.0.1 only; the script stops only the processes it started.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
readonly script_dir repo_root

usage() {
  cat <<'EOF'
Usage: scripts/bench.sh [--quick] [--help]

Benchmarks nginx `return 200` and then metrics-analyzer with wrk (1 thread, keep-alive,
pinned to CPU 0) at 1, 64 and 1000 connections (docs/architecture.md §6):
  - nginx, one worker on CPU 1: GET /
  - the service with THREADS=1 on CPU 1 and with THREADS=2 on CPUs 0-1 (sharing CPU 0
    with wrk): POST /metrics (single sample), GET /analyze, GET /health at each
    connection count, and POST /metrics with 100-sample batches at 64 connections
  - the service (THREADS=1) holding 10000 open keep-alive connections: VmRSS/VmHWM,
    a fresh request served meanwhile, VmRSS after they close
  - the service (THREADS=1) with the Redis store: POST /metrics at 64 connections
It prints one Markdown table (req/s, samples/s, p50 and p99 latency, ratio to nginx at
the same connection count, §6 target, PASS/MISS/—) and the memory lines. The §6 targets
apply to THREADS=1 at 64 connections only: POST /metrics, GET /analyze, GET /health
each >= 0.75 x nginx req/s with p99 <= 2 ms; batches >= 2 M samples/s; idle RSS
<= 12 MiB; <= 64 MiB with 10000 connections; Redis store >= 0.90 x memory store. The
report, with the raw wrk output, is also written to build/bench/bench-<UTC timestamp>.md.
About 4 minutes 15 s with the default 10-second runs on an idle machine, under a
minute with --quick; runs stretched by a busy machine are reported as warnings.

Options:
  --quick   2-second runs, for smoke-testing the script (numbers not meaningful)
  --help    this text

Environment:
  BENCH_SECONDS           duration of each wrk run in seconds (default 10; --quick: 2)
  BENCH_CONNECTIONS       wrk connection counts, space- or comma-separated (default
                          "1 64 1000"; must include 64, where the targets are defined)
  BENCH_HOLD_CONNECTIONS  connections held open for the memory check (default 10000;
                          the service then gets MAX_CONNECTIONS = this + 2000)
  ANALYZER_BIN            service binary (default build/release/metrics-analyzer; when
                          that default is missing for more than 10 s it is built with
                          `cmake --preset release && cmake --build --preset release
                          --target metrics-analyzer`). It is copied once at the start,
                          so a rebuild during the run cannot mix two builds.
Other service variables in the environment (e.g. REDIS_ADDR) are passed through;
THREADS, LOG_LEVEL, PORT and BIND_ADDR are set by the script (and MAX_CONNECTIONS for
the held-connections instance). `ulimit -n` is raised as far as needed and allowed.

With fewer than two usable CPUs, pinning is skipped with a warning. Run it on an
otherwise idle machine: a concurrent build skews every number.

Exit status: 0 when all runs completed cleanly (PASS or MISS alike); 1 when a run
was invalid (non-2xx, socket errors, crash, non-zero exit after SIGTERM, connections
not held) or a tool failed; 2 on a usage error.
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
[ "$quick" -eq 0 ] || seconds=2
[[ "$seconds" =~ ^[1-9][0-9]{0,3}$ ]] || die "BENCH_SECONDS must be an integer 1..9999, got '$seconds'"
conn_list="${BENCH_CONNECTIONS:-1 64 1000}"
read -r -a conn_counts <<<"${conn_list//,/ }"
[ ${#conn_counts[@]} -gt 0 ] || die "BENCH_CONNECTIONS is empty"
max_conns=0
has64=0
seen=" "
for c in "${conn_counts[@]}"; do
  [[ "$c" =~ ^[1-9][0-9]{0,4}$ ]] || die "BENCH_CONNECTIONS must list integers 1..99999, got '$c'"
  [[ "$seen" != *" $c "* ]] || die "BENCH_CONNECTIONS lists $c twice"
  seen="$seen$c "
  [ "$c" -le "$max_conns" ] || max_conns="$c"
  [ "$c" -ne 64 ] || has64=1
done
[ "$has64" -eq 1 ] || die "BENCH_CONNECTIONS must include 64 (the §6 targets are defined at 64 connections)"
hold_n="${BENCH_HOLD_CONNECTIONS:-10000}"
[[ "$hold_n" =~ ^[1-9][0-9]{0,5}$ ]] || die "BENCH_HOLD_CONNECTIONS must be an integer 1..999999, got '$hold_n'"
hold_max_connections=$((hold_n + 2000))
hold_timeout=60 # seconds for hold_connections.py to open and answer them all
readonly seconds conn_counts max_conns hold_n hold_max_connections hold_timeout
bench_start=$SECONDS

for tool in wrk nginx curl taskset timeout awk mkfifo; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
    fail "$tool not found (see scripts/setup.sh)"
done
nginx_cmd="$(command -v nginx || echo /usr/sbin/nginx)"
# Debian's interpreter first (docs/architecture.md §7); only the standard library is used.
if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; else python="$(command -v python3)" || fail "python3 not found"; fi
readonly nginx_cmd python

# --- file descriptors -------------------------------------------------------------
# wrk and nginx need one per connection, the service MAX_CONNECTIONS of them while
# the connections are held, hold_connections.py one per held connection; plus slack.
want_nofile=$((hold_max_connections > max_conns + 1024 ? hold_max_connections + 1024 : max_conns + 2048))
nofile="$(ulimit -Sn)"
if [ "$nofile" != unlimited ] && [ "$nofile" -lt "$want_nofile" ]; then
  hard="$(ulimit -Hn)"
  if [ "$hard" = unlimited ] || [ "$hard" -ge "$want_nofile" ]; then
    ulimit -Sn "$want_nofile"
  elif ! ulimit -n "$want_nofile" 2>/dev/null; then # a higher hard limit needs root
    ulimit -Sn "$hard"
    warn "ulimit -n is capped at $hard (wanted $want_nofile)"
  fi
  nofile="$(ulimit -Sn)"
fi
nofile_ok() { [ "$nofile" = unlimited ] || [ "$nofile" -ge "$1" ]; }
nofile_ok $((max_conns + 64)) ||
  fail "ulimit -n is $nofile: too low for wrk and nginx with $max_conns connections; raise the hard limit"

# --- the binary ---------------------------------------------------------------
if [ -n "${ANALYZER_BIN:-}" ]; then
  bin_src="$ANALYZER_BIN"
  [ -x "$bin_src" ] || fail "ANALYZER_BIN is not an executable file: $bin_src"
else
  bin_src="$repo_root/build/release/metrics-analyzer"
  # Someone may be relinking it right now: give that a moment before building.
  deadline=$((SECONDS + 10))
  while [ ! -x "$bin_src" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
  if [ ! -x "$bin_src" ]; then
    log "$bin_src is missing; building it with the release preset"
    (cd "$repo_root" && cmake --preset release && cmake --build --preset release --target metrics-analyzer) ||
      fail "build failed"
    [ -x "$bin_src" ] || fail "build finished but $bin_src does not exist"
  fi
fi

# --- process bookkeeping --------------------------------------------------------
tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")"
readonly tmp_dir
nginx_pid=""
service_pid=""
redis_pid=""
hold_pid=""
hold_fd=""

alive() { # alive PID: running and not a zombie
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != "Z" ]
}

# stop_pid PID SIGNAL GRACE_SECONDS: signal one process we started, wait for it to
# exit (SIGKILL after the grace period, together with its direct children, which for
# nginx are its workers and for `timeout` the command it runs); sets stop_rc to its
# exit status.
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
  if [ -n "$hold_fd" ]; then exec {hold_fd}>&-; fi # EOF on its stdin: it closes them
  [ -z "$hold_pid" ] || stop_pid "$hold_pid" TERM 5
  [ -z "$redis_pid" ] || stop_pid "$redis_pid" TERM 5
  [ -z "$nginx_pid" ] || stop_pid "$nginx_pid" TERM 5
  [ -z "$service_pid" ] || stop_pid "$service_pid" TERM 15
  rm -rf -- "$tmp_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One copy for the whole run: others may rebuild build/release while it runs.
bin="$tmp_dir/metrics-analyzer"
cp -- "$bin_src" "$bin" || fail "could not copy $bin_src"
bin_sum="$(sha256sum "$bin" | cut -c1-12)"
readonly bin bin_src bin_sum

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
# CPU lists for taskset; empty = not pinned.
server1_cpus=1   # nginx, THREADS=1
server2_cpus=0,1 # THREADS=2: both CPUs, so it shares CPU 0 with wrk
client_pin=()
pinning="nginx and THREADS=1 on CPU 1, THREADS=2 on CPUs 0-1 (sharing CPU 0 with wrk), wrk on CPU 0"
if [ "$(nproc)" -ge 2 ] && taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  client_pin=(taskset -c 0)
else
  server1_cpus=""
  server2_cpus=""
  pinning="none (fewer than two usable CPUs)"
  warn "CPUs 0 and 1 are not both usable ($(nproc) CPU(s)): running without pinning; server and wrk share CPUs"
fi
readonly server1_cpus server2_cpus pinning
pin_args() { # pin_args CPUS -> "taskset -c CPUS" or nothing, one word per line
  [ -z "$1" ] || printf '%s\n' taskset -c "$1"
}

problems=()
warnings=() # do not invalidate the run (exit status stays 0), but are reported
load1="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$load1" 'BEGIN { exit !(l > 1.0) }'; then
  warn "1-minute load average is $load1: other work on these CPUs will skew the numbers"
  warnings+=("the 1-minute load average was $load1 at the start: other work on these CPUs skews the numbers")
fi
runs_total=$(( ${#conn_counts[@]} * 7 + 3 ))
log "$runs_total wrk runs of ${seconds}s each plus startup and the held-connections check: about $(( runs_total * seconds + 20 ))s"

# --- wrk runs and parsing -------------------------------------------------------
run_keys=()
declare -A rps p50 p99 raw

# run_wrk KEY URL CONNECTIONS [LUA_SCRIPT]
run_wrk() {
  local key="$1" url="$2" conns="$3" script="${4:-}" out="$tmp_dir/wrk-$1.txt" rc=0
  local args=(-t1 "-c$conns" "-d${seconds}s" --latency)
  [ -z "$script" ] || args+=(-s "$script")
  log "wrk ${args[*]} $url"
  timeout --foreground $((seconds + 30)) "${client_pin[@]}" wrk "${args[@]}" "$url" >"$out" 2>&1 || rc=$?
  raw[$key]="wrk ${args[*]} $url"$'\n'"$(cat "$out")"
  run_keys+=("$key")
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
  [ "${rps[$key]}" != 0 ] || problems+=("$key: no request completed during the wrk run ($url)")
  [ -z "$non2xx" ] || problems+=("$key: $non2xx non-2xx/3xx responses during the wrk run ($url)")
  [ -z "$errors" ] || problems+=("$key: socket errors during the wrk run ($url): $errors")
  # wrk ends a run late when it gets no CPU for a while: a sign of a busy machine.
  local took
  took="$(awk '$2 == "requests" && $3 == "in" { v = $4; sub(/,$/, "", v)
    f = (v ~ /ms$/) ? 0.001 : (v ~ /m$/) ? 60 : 1; sub(/[a-z]+$/, "", v); printf "%.2f", v * f; exit }' "$out")"
  if [ -n "$took" ] && awk -v t="$took" -v s="$seconds" 'BEGIN { exit !(t > 1.25 * s + 0.5) }'; then
    warnings+=("$key: the ${seconds}s wrk run took ${took}s (wrk or the server was starved of CPU: the machine is busy)")
    warn "${warnings[-1]}"
  fi
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
# backlog=4096 matches the service's listen backlog (SOMAXCONN), so that the burst of
# 1 000 connects at the start of a run meets the same queue on both.
cat >"$nginx_dir/nginx.conf" <<EOF
# Written by scripts/bench.sh: the nginx 'return 200' baseline of docs/architecture.md §6.
worker_processes 1;
daemon off;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections $((max_conns + 1024)); }
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
    listen 127.0.0.1:$nginx_port backlog=4096;
    location / { return 200 "ok"; }
  }
}
EOF
nginx_version="$("$nginx_cmd" -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')"
log "starting nginx ${nginx_version} on 127.0.0.1:$nginx_port"
mapfile -t pin < <(pin_args "$server1_cpus")
"${pin[@]}" "$nginx_cmd" -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -e "$nginx_dir/error.log" \
  >"$nginx_dir/stdout.log" 2>&1 &
nginx_pid=$!
wait_http "http://127.0.0.1:$nginx_port/" "$nginx_pid" 10 ||
  fail "nginx did not answer on 127.0.0.1:$nginx_port within 10s:
$(cat "$nginx_dir/stdout.log" "$nginx_dir/error.log" 2>/dev/null)"
for c in "${conn_counts[@]}"; do
  run_wrk "nginx_c$c" "http://127.0.0.1:$nginx_port/" "$c"
done
stop_pid "$nginx_pid" TERM 5
nginx_pid=""

# --- the service: start, check, stop ------------------------------------------------
svc=""
svc_port=""
svc_log=""

# start_service NAME THREADS CPUS [VAR=VALUE ...]: start the binary on a free loopback
# port (pinned to CPUS unless empty, with the extra environment) and wait for /ready.
start_service() {
  local name="$1" threads="$2" cpus="$3"
  local -a pin
  shift 3
  mapfile -t pin < <(pin_args "$cpus")
  svc_port="$(free_port)"
  svc="http://127.0.0.1:$svc_port"
  svc_log="$tmp_dir/service-$name.log"
  log "starting the service ($name) on $svc: THREADS=$threads${cpus:+, taskset -c $cpus}${*:+, $*}"
  "${pin[@]}" env THREADS="$threads" LOG_LEVEL=warn PORT="$svc_port" BIND_ADDR=127.0.0.1 "$@" \
    "$bin" >"$svc_log" 2>&1 &
  service_pid=$!
  wait_http "$svc/ready" "$service_pid" 30 ||
    fail "service ($name) did not become ready on $svc/ready within 30s; its log:
$(tail -n 40 "$svc_log")"
}

# stop_service NAME: SIGTERM, which must end it with exit status 0.
stop_service() {
  log "stopping the service ($1) with SIGTERM"
  stop_pid "$service_pid" TERM 15
  service_pid=""
  [ "$stop_rc" -eq 0 ] || problems+=("the service ($1) exited with status $stop_rc after SIGTERM (expected 0); log tail: $(tail -n 5 "$svc_log" | tr '\n' ' ')")
}

# service_alive NAME RUN: fail with its log if the service died.
service_alive() {
  alive "$service_pid" || fail "the service ($1) died during $2; its log:
$(tail -n 40 "$svc_log")"
}

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

# The first body of scripts/bench/post_batch.lua: 100 samples, same value pattern.
batch_body="$tmp_dir/batch.json"
awk 'BEGIN {
  printf "["
  for (i = 0; i < 100; i++)
    printf "%s{\"timestamp\": %d, \"cpu\": %.1f, \"rps\": %d}", (i ? ", " : ""),
      1700000000 + i, 20 + ((i * 7) % 600) / 10, 1000 + (i * 13) % 501
  printf "]"
}' >"$batch_body"

check_routes() { # check_routes NAME
  check_route "POST /metrics ($1)" 202 -H 'Content-Type: application/json' \
    --data-binary "@$script_dir/payload.json" "$svc/metrics"
  if ! grep -q '"accepted": *1[^0-9]' "$tmp_dir/check.body" 2>/dev/null; then
    problems+=("functional check POST /metrics ($1): body lacks \"accepted\":1: $(head -c 300 "$tmp_dir/check.body")")
  fi
  check_route "POST /metrics batch of 100 ($1)" 202 -H 'Content-Type: application/json' \
    --data-binary "@$batch_body" "$svc/metrics"
  if ! grep -q '"accepted": *100[^0-9]' "$tmp_dir/check.body" 2>/dev/null; then
    problems+=("functional check POST /metrics batch ($1): body lacks \"accepted\":100: $(head -c 300 "$tmp_dir/check.body")")
  fi
  check_route "GET /analyze ($1)" 200 "$svc/analyze"
  check_route "GET /health ($1)" 200 "$svc/health"
}

# --- 2. and 3. the service with THREADS=1 and THREADS=2 ------------------------------
declare -A peak_rss_kib
idle_rss_kib=""
for threads in 1 2; do
  if [ "$threads" -eq 1 ]; then cpus="$server1_cpus"; else cpus="$server2_cpus"; fi
  start_service "t$threads" "$threads" "$cpus"
  [ "$threads" -ne 1 ] || idle_rss_kib="$(rss_kib "$service_pid" VmRSS)"
  check_routes "THREADS=$threads"
  for c in "${conn_counts[@]}"; do
    for run in "post|$svc/metrics|$script_dir/bench/post_metrics.lua" "analyze|$svc/analyze|" "health|$svc/health|"; do
      IFS='|' read -r route url script <<<"$run"
      run_wrk "${route}_t${threads}_c$c" "$url" "$c" "$script"
      service_alive "t$threads" "the ${route} run with $c connections"
    done
  done
  run_wrk "batch_t${threads}_c64" "$svc/metrics" 64 "$script_dir/bench/post_batch.lua"
  service_alive "t$threads" "the batch run"
  peak_rss_kib[$threads]="$(rss_kib "$service_pid" VmHWM)"
  stop_service "t$threads"
done

# --- 4. memory with many open keep-alive connections -------------------------------
hold_rss_kib=""
hold_hwm_kib=""
hold_after_kib=""
hold_idle_kib=""
fresh_desc=""
if ! nofile_ok $((hold_max_connections + 64)); then
  problems+=("ulimit -n is $nofile, below the $((hold_max_connections + 64)) needed to hold $hold_n connections: the memory check was not measured")
else
  start_service hold 1 "$server1_cpus" MAX_CONNECTIONS="$hold_max_connections"
  hold_idle_kib="$(rss_kib "$service_pid" VmRSS)"
  # The client's stdin is a FIFO held open here: closing it (or this script exiting)
  # tells it to close its connections and exit; `timeout` bounds it in any case.
  mkfifo "$tmp_dir/hold.ctl"
  log "opening $hold_n keep-alive connections (scripts/bench/hold_connections.py)"
  timeout $((hold_timeout + 120)) "${client_pin[@]}" "$python" "$script_dir/bench/hold_connections.py" \
    --port "$svc_port" -n "$hold_n" --timeout "$hold_timeout" \
    <"$tmp_dir/hold.ctl" >"$tmp_dir/hold.out" 2>"$tmp_dir/hold.err" &
  hold_pid=$!
  exec {hold_fd}>"$tmp_dir/hold.ctl"
  deadline=$((SECONDS + hold_timeout + 10))
  until grep -q '^ready ' "$tmp_dir/hold.out" 2>/dev/null; do
    if ! alive "$hold_pid" || [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.1 # poll interval, bounded by the deadline
  done
  if grep -q '^ready ' "$tmp_dir/hold.out" 2>/dev/null; then
    service_alive hold "the held connections"
    hold_rss_kib="$(rss_kib "$service_pid" VmRSS)"
    hold_hwm_kib="$(rss_kib "$service_pid" VmHWM)"
    # A fresh connection and request while they are held must still be served promptly.
    fresh="$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 2 "$svc/health" 2>&1)" ||
      fresh="failed: $fresh"
    if [[ "$fresh" =~ ^([0-9]{3})\ ([0-9.]+)$ ]]; then
      fresh_desc="${BASH_REMATCH[1]} in $(awk -v t="${BASH_REMATCH[2]}" 'BEGIN { printf "%.1f", t * 1000 }') ms"
    else
      fresh_desc="$fresh"
    fi
    [[ "$fresh" == "200 "* ]] ||
      problems+=("GET /health while $hold_n connections were held: expected 200 within 2 s, got: $fresh")
  else
    problems+=("hold_connections.py did not report ready for $hold_n connections: $(tr '\n' ' ' <"$tmp_dir/hold.err" | head -c 400)")
  fi
  exec {hold_fd}>&-
  hold_fd=""
  deadline=$((SECONDS + 10))
  while alive "$hold_pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  stop_pid "$hold_pid" TERM 5 # normally already gone: this reaps it
  hold_pid=""
  if [ -n "$hold_rss_kib" ] && [ "$stop_rc" -ne 0 ]; then
    problems+=("hold_connections.py exited with status $stop_rc: $(tr '\n' ' ' <"$tmp_dir/hold.err" | head -c 400)")
  fi
  # Wait until the service has closed its side (its open descriptors drop back).
  deadline=$((SECONDS + 10))
  while [ "$(find "/proc/$service_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -gt 200 ] &&
    [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.1 # poll interval, bounded by the deadline
  done
  service_alive hold "closing the held connections"
  hold_after_kib="$(rss_kib "$service_pid" VmRSS)"
  stop_service hold
fi

# --- 5. the service with the Redis store ----------------------------------------
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
  start_service redis 1 "$server1_cpus" REDIS_ADDR="127.0.0.1:$redis_port" INSTANCE_ID=bench
  redis_cpu_before="$(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat")"
  run_wrk post_redis "$svc/metrics" 64 "$script_dir/bench/post_metrics.lua"
  redis_cpu_ticks=$(( $(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat") - redis_cpu_before ))
  redis_cpu_pct="$(awk -v t="$redis_cpu_ticks" -v hz="$(getconf CLK_TCK)" -v s="$seconds" \
    'BEGIN { printf "%.0f", 100 * t / hz / s }')"
  service_alive redis "its run"
  storage="$(curl -sS --max-time 5 "$svc/analyze" | sed -n 's/.*"storage":\({[^}]*}\).*/\1/p')"
  stop_service "Redis store"
  written="$(redis-cli -p "$redis_port" hget metrics-analyzer:bench:g1:state seq 2>/dev/null || true)"
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
under() { # under KIB LIMIT_MIB -> PASS | MISS
  awk -v k="$1" -v m="$2" 'BEGIN { print (k <= m * 1024) ? "PASS" : "MISS" }'
}

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
report_dir="$repo_root/build/bench"
report="$report_dir/bench-$stamp.md"

server_label() { # server_label THREADS
  if [ "$1" -eq 1 ]; then
    echo "THREADS=1${server1_cpus:+, CPU $server1_cpus}"
  else
    echo "THREADS=2${server2_cpus:+, CPUs 0-1 (shares CPU 0 with wrk)}"
  fi
}

table() {
  local key route label threads c r target result samples
  echo "| target | server | conns | req/s | samples/s | p50 ms | p99 ms | ratio to nginx | §6 target | result |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|---|"
  for c in "${conn_counts[@]}"; do
    key="nginx_c$c"
    echo "| nginx return 200 | nginx $nginx_version, 1 worker${server1_cpus:+, CPU $server1_cpus} | $c | ${rps[$key]} | — | ${p50[$key]} | ${p99[$key]} | 1.00 | baseline | — |"
  done
  for route in post batch analyze health; do
    case "$route" in
      post) label="POST /metrics (1 sample)" ;;
      batch) label="POST /metrics (batch of 100)" ;;
      analyze) label="GET /analyze" ;;
      health) label="GET /health" ;;
    esac
    for threads in 1 2; do
      for c in "${conn_counts[@]}"; do
        key="${route}_t${threads}_c$c"
        [ -n "${rps[$key]:-}" ] || continue
        r="$(ratio "${rps[$key]}" "${rps[nginx_c$c]}")"
        samples="—"
        target="no target"
        result="—"
        case "$route" in
          post) samples="${rps[$key]}" ;;
          batch) samples=$(( ${rps[$key]} * 100 )); r="—" ;;
        esac
        if [ "$threads" -eq 1 ] && [ "$c" -eq 64 ]; then
          if [ "$route" = batch ]; then
            target="≥ 2 M samples/s"
            result="$(awk -v s="$samples" 'BEGIN { print (s >= 2000000) ? "PASS" : sprintf("MISS (%.2f M < 2 M)", s / 1e6) }')"
          else
            target="≥ 0.75 × nginx, p99 ≤ 2 ms"
            result="$(verdict "$r" "${p99[$key]}")"
          fi
        fi
        echo "| $label | $(server_label "$threads") | $c | ${rps[$key]} | $samples | ${p50[$key]} | ${p99[$key]} | $r | $target | $result |"
      done
    done
  done
  if [ -n "${rps[post_redis]:-}" ]; then
    local rr
    rr="$(ratio "${rps[post_redis]}" "${rps[post_t1_c64]}")"
    echo "| POST /metrics (1 sample), Redis store | $(server_label 1); Redis on CPU 0 | 64 | ${rps[post_redis]} | ${rps[post_redis]} | ${p50[post_redis]} | ${p99[post_redis]} | $(ratio "${rps[post_redis]}" "${rps[nginx_c64]}") | ≥ 0.90 × memory store ($rr) | $(awk -v r="$rr" 'BEGIN { print (r + 0 >= 0.90) ? "PASS" : "MISS" }') |"
  fi
  echo
  echo "Ratios compare runs at the same connection count; THREADS=2 rows are against the same one-worker nginx on CPU 1 and, sharing CPU 0 with wrk, carry no target. The batch row's samples/s is req/s × 100."
  [ -z "${redis_cpu_pct:-}" ] || echo "Redis (on CPU 0 with wrk): ${redis_cpu_pct}% of a CPU during the Redis run; storage after it: ${storage:-?}; state seq in Redis after shutdown: ${written:-?}"
  echo
  echo "- idle RSS (THREADS=1, once /ready answers): $(mib "$idle_rss_kib") MiB (§6 target ≤ 12 MiB: $(under "$idle_rss_kib" 12))"
  if [ -n "$hold_rss_kib" ]; then
    echo "- $hold_n open keep-alive connections (fresh THREADS=1 instance, MAX_CONNECTIONS=$hold_max_connections, $(mib "$hold_idle_kib") MiB before): VmRSS $(mib "$hold_rss_kib") MiB, VmHWM $(mib "$hold_hwm_kib") MiB (§6 target ≤ 64 MiB for 10 000, on VmRSS: $(under "$hold_rss_kib" 64)); a fresh GET /health meanwhile: $fresh_desc; VmRSS after they closed: $(mib "$hold_after_kib") MiB"
  else
    echo "- $hold_n open keep-alive connections: not measured (see Problems)"
  fi
  echo "- peak RSS (VmHWM after the wrk runs, up to $max_conns connections): THREADS=1 $(mib "${peak_rss_kib[1]}") MiB, THREADS=2 $(mib "${peak_rss_kib[2]}") MiB"
}

summary="$(table)"
conn_list="$(IFS=,; echo "${conn_counts[*]}")"
context="wrk -t1 -c{$conn_list} -d${seconds}s --latency, keep-alive; pinning: $pinning; $(nproc) CPU(s); ulimit -n $nofile; load average before report: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$quick" -eq 0 ] || context="$context; QUICK MODE (2 s runs): numbers are not meaningful"
total="total time: $((SECONDS - bench_start)) s (${#run_keys[@]} wrk runs of ${seconds} s)"

mkdir -p "$report_dir"
{
  echo "# metrics-analyzer benchmark $stamp"
  echo
  echo "- binary: \`$bin_src\` (sha256 $bin_sum…, copied at the start)"
  echo "- $context"
  echo "- kernel: $(uname -sr); $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
  echo "- $total"
  echo
  echo "$summary"
  if [ ${#problems[@]} -gt 0 ]; then
    echo
    echo "## Problems"
    for problem in "${problems[@]}"; do echo "- $problem"; done
  fi
  if [ ${#warnings[@]} -gt 0 ]; then
    echo
    echo "## Warnings"
    for warning in "${warnings[@]}"; do echo "- $warning"; done
  fi
  echo
  echo "## Raw wrk output"
  for key in "${run_keys[@]}"; do
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
[ ${#warnings[@]} -eq 0 ] || echo "warnings: ${#warnings[@]} (see the report; the numbers are suspect)"
echo "$total"
if [ ${#problems[@]} -gt 0 ]; then
  echo
  echo "PROBLEMS (the numbers above may be invalid):"
  for problem in "${problems[@]}"; do echo "- $problem"; done
  exit 1
fi
