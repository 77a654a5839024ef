#!/usr/bin/env bash
# HTTP benchmark of the service against the performance goals: measures, in one run and
# on the same CPUs, nginx answering each route with a fixed body of the service's answer
# size (the baseline) and then metrics-analyzer, with wrk (1 thread, keep-alive) pinned
# to CPU 0, at 1, 64 and 1 000 connections each:
#
#   0. A short-lived metrics-analyzer instance (THREADS=1, CPU 1) gets the functional
#      check of each route (one sample, one 100-sample batch, GET /analyze, GET /health)
#      and 9 more batches; the lengths of its answers (/analyze after those 1 001
#      samples, when both metrics have a last anomaly) size nginx's bodies.
#   1. nginx (own config in a temp dir, worker_processes 1, pinned to CPU 1) on a free
#      loopback port, `default_type application/json`: POST /metrics -> `return 202`,
#      GET /analyze and GET /health -> `return 200`, each with a fixed JSON body as long
#      as the service's answer (single-sample 202, /analyze with a full window, /health);
#      wrk with the same scripts and paths as against the service at each connection
#      count; then nginx is stopped.
#   2. metrics-analyzer THREADS=1 (LOG_LEVEL=warn BIND_ADDR=127.0.0.1), pinned to CPU 1,
#      on a free loopback port: idle RSS once /ready answers, the functional checks, then
#      at each connection count wrk POST /metrics (varying valid single samples,
#      scripts/bench/post_metrics.lua), GET /analyze and GET /health, and at 64
#      connections wrk POST /metrics with 100-sample batches
#      (scripts/bench/post_batch.lua, reported as samples/s = req/s x 100); peak RSS
#      (VmHWM); then SIGTERM, which must end the service with exit status 0.
#   3. The same with THREADS=2, the server on CPUs 0-1: it shares CPU 0 with wrk, so
#      these rows are informational (their ratio is to the one-worker nginx above).
#   4. A fresh THREADS=1 instance (CPU 1, MAX_CONNECTIONS = 10 000 + 2 000) with
#      10 000 keep-alive connections opened by scripts/bench/hold_connections.py
#      (CPU 0): each sends POST /metrics?analysis=true with a 60-sample batch (202, about
#      10 KB), then GET /metrics (200, the Prometheus scrape), reading both answers, and
#      is then held open. VmRSS and VmHWM while they are held, a fresh GET /health
#      meanwhile (must be 200 within 2 s), VmRSS once the service has closed them and
#      5 s after the client's `closed N`; SIGTERM, exit status 0.
#   5. THREADS=1 with the Redis store (redis-server on CPU 0 beside wrk): wrk POST
#      /metrics at 64 connections, compared with the memory store (informational).
# `ulimit -n` is raised inside the script (and nginx's worker_connections set) for the
# 1 000-connection runs and the 10 000 held connections.
#
# The performance goals (THREADS=1 on CPU 1, wrk on CPU 0, 64 connections; ratios are
# to nginx's same route in the same run):
#   POST /metrics (1 sample)  >= 0.90 x nginx req/s and p99 <= 1.25 x nginx's p99
#   GET /analyze              >= 0.85 x nginx req/s
#   GET /health               >= 0.90 x nginx req/s
#   POST /metrics, batches of 100 >= 3 M samples/s
#   idle RSS <= 12 MiB; 10 000 connections held after traffic: VmRSS <= 64 MiB, and
#   5 s after they are closed <= that instance's idle RSS + 8 MiB.
# The 1- and 1 000-connection rows, THREADS=2 and the Redis store are informational.
#
# Prints a Markdown table with a row per (route, server, connections): req/s, samples/s
# for ingest, p50, p99, ratio to nginx's same route at the same connection count, p99
# ratio, goal and PASS/MISS/—; then a memory table (idle, held connections, after close,
# peak) and the total time. Writes the same report plus the raw wrk output (and, when
# ALLOC_REPORT names a file, its content as an "Allocation counts" section) to
# build/bench/bench-<UTC timestamp>.md.
# Takes about 5 minutes 40 s with BENCH_SECONDS=10 on an idle machine (30 wrk runs),
# about 1 minute 30 s with --quick; a busy machine stretches the runs (reported as
# warnings).
#
# Usage: scripts/bench.sh [--quick] [--help]
#   --quick   2-second wrk runs, to smoke-test the script (numbers are not meaningful)
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS ("1 64 1000"; must include 64),
#   BENCH_HOLD_CONNECTIONS (10000), ANALYZER_BIN (default
#   build/release/metrics-analyzer, built with the release preset if missing),
#   ALLOC_REPORT (a file included in the report as "Allocation counts").
#
# Exit status: 0 when every run completed cleanly (whether or not a goal was met),
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

Benchmarks nginx and then metrics-analyzer with wrk (1 thread, keep-alive, pinned to
CPU 0) at 1, 64 and 1000 connections, against the performance goals:
  - nginx, one worker on CPU 1, answering each route with a fixed JSON body as long as
    the service's answer (measured on a short-lived instance at the start): POST
    /metrics -> 202, GET /analyze -> 200, GET /health -> 200; wrk uses the same scripts
    and paths as against the service
  - the service with THREADS=1 on CPU 1 and with THREADS=2 on CPUs 0-1 (sharing CPU 0
    with wrk): POST /metrics (single sample), GET /analyze, GET /health at each
    connection count, and POST /metrics with 100-sample batches at 64 connections
  - the service (THREADS=1) with 10000 keep-alive connections that each sent POST
    /metrics?analysis=true (60 samples) and GET /metrics and are then held open:
    VmRSS/VmHWM, a fresh request served meanwhile, VmRSS 5 s after they close
  - the service (THREADS=1) with the Redis store: POST /metrics at 64 connections
It prints a Markdown table (req/s, samples/s, p50 and p99 latency, ratio to nginx's
same route at the same connection count, p99 ratio, goal, PASS/MISS/—) and a memory
table. The goals apply to THREADS=1 at 64 connections:
  POST /metrics   >= 0.90 x nginx req/s and p99 <= 1.25 x nginx's p99
  GET /analyze    >= 0.85 x nginx req/s
  GET /health     >= 0.90 x nginx req/s
  batches of 100  >= 3 M samples/s
  idle RSS <= 12 MiB; 10000 connections held after traffic: VmRSS <= 64 MiB, and 5 s
  after they close <= that instance's idle RSS + 8 MiB
The other rows (1 and 1000 connections, THREADS=2, the Redis store) are informational.
The report, with the raw wrk output, is also written to
build/bench/bench-<UTC timestamp>.md. About 5 minutes 40 s with the default 10-second
runs on an idle machine, about 1 minute 30 s with --quick; runs stretched by a busy
machine are reported as warnings.

Options:
  --quick   2-second runs, for smoke-testing the script (numbers not meaningful)
  --help    this text

Environment:
  BENCH_SECONDS           duration of each wrk run in seconds (default 10; --quick: 2)
  BENCH_CONNECTIONS       wrk connection counts, space- or comma-separated (default
                          "1 64 1000"; must include 64, where the goals are defined)
  BENCH_HOLD_CONNECTIONS  connections held open for the memory check (default 10000,
                          where the 64 MiB goal is defined; the service then gets
                          MAX_CONNECTIONS = this + 2000)
  ANALYZER_BIN            service binary (default build/release/metrics-analyzer; when
                          that default is missing for more than 10 s it is built with
                          `cmake --preset release && cmake --build --preset release
                          --target metrics-analyzer`). It is copied once at the start,
                          so a rebuild during the run cannot mix two builds.
  ALLOC_REPORT            a readable file (e.g. the output of an allocation-count
                          benchmark) included in the report as the section
                          "Allocation counts"; read when the report is written
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
[ "$has64" -eq 1 ] || die "BENCH_CONNECTIONS must include 64 (the performance goals are defined at 64 connections)"
hold_n="${BENCH_HOLD_CONNECTIONS:-10000}"
[[ "$hold_n" =~ ^[1-9][0-9]{0,5}$ ]] || die "BENCH_HOLD_CONNECTIONS must be an integer 1..999999, got '$hold_n'"
hold_max_connections=$((hold_n + 2000))
hold_timeout=120 # seconds for hold_connections.py to open them all and finish their requests
hold_samples=60  # samples in each held connection's POST /metrics?analysis=true
alloc_report="${ALLOC_REPORT:-}"
if [ -n "$alloc_report" ] && { [ ! -f "$alloc_report" ] || [ ! -r "$alloc_report" ]; }; then
  die "ALLOC_REPORT is not a readable file: $alloc_report"
fi
readonly seconds conn_counts max_conns hold_n hold_max_connections hold_timeout hold_samples alloc_report
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
runs_total=$(( ${#conn_counts[@]} * 9 + 3 ))
log "$runs_total wrk runs of ${seconds}s each plus startup and the held-connections check: about $(( runs_total * seconds + 35 ))s"

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
# that a benchmark of error responses cannot pass unnoticed. The body is left in
# $tmp_dir/check.body and its length in check_bytes.
check_bytes=0
check_route() {
  local name="$1" expected="$2" status
  shift 2
  status="$(curl -sS -o "$tmp_dir/check.body" -w '%{http_code}' --max-time 5 "$@" 2>&1)" || status="curl failed: $status"
  check_bytes="$(wc -c <"$tmp_dir/check.body" 2>/dev/null || echo 0)"
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

# check_routes NAME: the functional checks, in this order: one sample, a batch of 100
# (which fills the window past its warm-up, so that /analyze then reports full
# statistics and the last anomalies), GET /analyze, GET /health. The lengths of the
# answers go to answer_bytes[post|analyze|health].
declare -A answer_bytes
check_routes() {
  check_route "POST /metrics ($1)" 202 -H 'Content-Type: application/json' \
    --data-binary "@$script_dir/payload.json" "$svc/metrics"
  answer_bytes[post]="$check_bytes"
  if ! grep -q '"accepted": *1[^0-9]' "$tmp_dir/check.body" 2>/dev/null; then
    problems+=("functional check POST /metrics ($1): body lacks \"accepted\":1: $(head -c 300 "$tmp_dir/check.body")")
  fi
  check_route "POST /metrics batch of 100 ($1)" 202 -H 'Content-Type: application/json' \
    --data-binary "@$batch_body" "$svc/metrics"
  if ! grep -q '"accepted": *100[^0-9]' "$tmp_dir/check.body" 2>/dev/null; then
    problems+=("functional check POST /metrics batch ($1): body lacks \"accepted\":100: $(head -c 300 "$tmp_dir/check.body")")
  fi
  check_route "GET /analyze ($1)" 200 "$svc/analyze"
  answer_bytes[analyze]="$check_bytes"
  check_route "GET /health ($1)" 200 "$svc/health"
  answer_bytes[health]="$check_bytes"
}

# --- 0. the service's answer lengths, for nginx's bodies -------------------------------
# After the checks, 9 more batches (1 001 samples in all) so that both metrics have a
# last anomaly and /analyze has the length it has after the wrk runs.
start_service sizing 1 "$server1_cpus"
check_routes "sizing instance"
for _ in 1 2 3 4 5 6 7 8 9; do
  check_route "POST /metrics batch of 100 (sizing instance)" 202 -H 'Content-Type: application/json' \
    --data-binary "@$batch_body" "$svc/metrics"
done
check_route "GET /analyze (sizing instance, after 1 001 samples)" 200 "$svc/analyze"
answer_bytes[analyze]="$check_bytes"
stop_service sizing
declare -A nginx_bytes
for route in post analyze health; do nginx_bytes[$route]="${answer_bytes[$route]}"; done
log "answer lengths: POST /metrics ${nginx_bytes[post]} B, GET /analyze ${nginx_bytes[analyze]} B, GET /health ${nginx_bytes[health]} B"

# --- 1. nginx baseline ----------------------------------------------------------
# json_body BYTES: a JSON object of exactly BYTES bytes (at least 2), with no character
# nginx would treat specially inside a single-quoted string ($, ', \).
json_body() {
  awk -v n="$1" 'BEGIN {
    if (n < 10) { s = "{}"; while (length(s) < n) s = s " "; printf "%s", s; exit }
    pad = ""; while (length(pad) < n - 10) pad = pad "x"
    printf "{\"pad\":\"%s\"}", pad
  }'
}
for route in post analyze health; do
  [[ "${nginx_bytes[$route]}" =~ ^([2-9]|[1-9][0-9]+)$ ]] ||
    fail "could not measure the service's answer length for $route (got '${nginx_bytes[$route]}'): see the functional checks"
done

nginx_port="$(free_port)"
nginx_dir="$tmp_dir/nginx"
mkdir -p "$nginx_dir"
# backlog=4096 matches the service's listen backlog (SOMAXCONN), so that the burst of
# 1 000 connects at the start of a run meets the same queue on both. `return` discards
# a request body, so POST with keep-alive works.
cat >"$nginx_dir/nginx.conf" <<EOF
# Written by scripts/bench.sh: the nginx baseline of the performance goals, each route
# answered with a fixed body as long as the service's answer.
worker_processes 1;
daemon off;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections $((max_conns + 1024)); }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  client_body_temp_path $nginx_dir/client_body;
  proxy_temp_path $nginx_dir/proxy;
  fastcgi_temp_path $nginx_dir/fastcgi;
  uwsgi_temp_path $nginx_dir/uwsgi;
  scgi_temp_path $nginx_dir/scgi;
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    location = /metrics { return 202 '$(json_body "${nginx_bytes[post]}")'; }
    location = /analyze { return 200 '$(json_body "${nginx_bytes[analyze]}")'; }
    location = /health { return 200 '$(json_body "${nginx_bytes[health]}")'; }
    location / { return 404; }
  }
}
EOF
nginx_version="$("$nginx_cmd" -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')"
log "starting nginx ${nginx_version} on 127.0.0.1:$nginx_port"
mapfile -t pin < <(pin_args "$server1_cpus")
"${pin[@]}" "$nginx_cmd" -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -e "$nginx_dir/error.log" \
  >"$nginx_dir/stdout.log" 2>&1 &
nginx_pid=$!
nginx="http://127.0.0.1:$nginx_port"
wait_http "$nginx/health" "$nginx_pid" 10 ||
  fail "nginx did not answer on $nginx/health within 10s:
$(cat "$nginx_dir/stdout.log" "$nginx_dir/error.log" 2>/dev/null)"
# Its answers: the status and length the service gives, as JSON.
for check in "post|202|$nginx/metrics" "analyze|200|$nginx/analyze" "health|200|$nginx/health"; do
  IFS='|' read -r route expected url <<<"$check"
  args=()
  [ "$route" != post ] || args=(-H 'Content-Type: application/json' --data-binary "@$script_dir/payload.json")
  got="$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{content_type}' --max-time 5 "${args[@]}" "$url" 2>&1)" ||
    got="curl failed: $got"
  [ "$got" = "$expected ${nginx_bytes[$route]} application/json" ] ||
    problems+=("nginx check $url: expected '$expected ${nginx_bytes[$route]} application/json' (status, length, type), got '$got'")
done
for c in "${conn_counts[@]}"; do
  for run in "post|$nginx/metrics|$script_dir/bench/post_metrics.lua" "analyze|$nginx/analyze|" "health|$nginx/health|"; do
    IFS='|' read -r route url script <<<"$run"
    run_wrk "nginx_${route}_c$c" "$url" "$c" "$script"
  done
done
stop_pid "$nginx_pid" TERM 5
nginx_pid=""

# --- 2. and 3. the service with THREADS=1 and THREADS=2 ------------------------------
declare -A peak_rss_kib
idle_rss_kib=""
analyze_bytes_after="" # length of /analyze after the THREADS=1 runs
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
  if [ "$threads" -eq 1 ]; then
    analyze_bytes_after="$(curl -sS -o /dev/null -w '%{size_download}' --max-time 5 "$svc/analyze" 2>/dev/null || true)"
  fi
  stop_service "t$threads"
done

# --- 4. memory with many open keep-alive connections after traffic -------------------
hold_rss_kib=""
hold_hwm_kib=""
hold_closed_kib=""
hold_after_kib=""
hold_idle_kib=""
hold_ready=""
fresh_desc=""
if ! nofile_ok $((hold_max_connections + 64)); then
  problems+=("ulimit -n is $nofile, below the $((hold_max_connections + 64)) needed to hold $hold_n connections: the memory check was not measured")
else
  start_service hold 1 "$server1_cpus" MAX_CONNECTIONS="$hold_max_connections"
  hold_idle_kib="$(rss_kib "$service_pid" VmRSS)"
  # The client's stdin is a FIFO held open here: closing it (or this script exiting)
  # tells it to close its connections and exit; `timeout` bounds it in any case.
  mkfifo "$tmp_dir/hold.ctl"
  log "opening $hold_n keep-alive connections, each POST /metrics?analysis=true ($hold_samples samples) then GET /metrics (scripts/bench/hold_connections.py)"
  timeout $((hold_timeout + 120)) "${client_pin[@]}" "$python" "$script_dir/bench/hold_connections.py" \
    --port "$svc_port" -n "$hold_n" --timeout "$hold_timeout" \
    --sequence 'POST /metrics?analysis=true 202, GET /metrics 200' --samples "$hold_samples" \
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
    hold_ready="$(sed -n 's/^ready [0-9]* //p' "$tmp_dir/hold.out" | head -n 1)"
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
  # The 5-second mark starts at its `closed N` line (it prints it once all are closed),
  # or, should it exit without one, when it is gone.
  deadline=$((SECONDS + 10))
  until grep -q '^closed ' "$tmp_dir/hold.out" 2>/dev/null; do
    if ! alive "$hold_pid" || [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.05 # poll interval, bounded by the deadline
  done
  closed_at="$EPOCHREALTIME"
  stop_pid "$hold_pid" TERM 5 # normally exiting or gone: this reaps it
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
  hold_closed_kib="$(rss_kib "$service_pid" VmRSS)"
  # The measurement point: 5 s after `closed N`.
  wait_s="$(awk -v t0="$closed_at" -v now="$EPOCHREALTIME" 'BEGIN { w = t0 + 5 - now; printf "%.2f", (w > 0 ? w : 0) }')"
  sleep "$wait_s"
  service_alive hold "the 5 s after the held connections closed"
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
# verdict RATIO MIN_RATIO [P99_RATIO MAX_P99_RATIO] -> PASS | MISS (why)
verdict() {
  awk -v r="$1" -v min="$2" -v p="${3:-}" -v pmax="${4:-}" 'BEGIN {
    if (r == "n/a" || p == "n/a") { print "MISS (no baseline)"; exit }
    miss = ""
    if (r + 0 < min + 0) miss = sprintf("ratio %.2f < %.2f", r, min)
    if (pmax != "" && p + 0 > pmax + 0)
      miss = miss (miss == "" ? "" : ", ") sprintf("p99 ratio %.2f > %.2f", p, pmax)
    print (miss == "" ? "PASS" : "MISS (" miss ")")
  }'
}
under() { # under KIB LIMIT_KIB -> PASS | MISS (X MiB > Y MiB)
  awk -v k="$1" -v l="$2" 'BEGIN {
    if (k <= l) print "PASS"; else printf "MISS (%.1f MiB > %.1f MiB)\n", k / 1024, l / 1024
  }'
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
nginx_label="nginx $nginx_version, 1 worker${server1_cpus:+, CPU $server1_cpus}"

table() {
  local key nkey route label nlabel threads c r pr goal result samples
  echo "| route | server | conns | req/s | samples/s | p50 ms | p99 ms | ratio to nginx | p99 ratio | goal | result |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
  for route in post analyze health batch; do
    case "$route" in
      post) label="POST /metrics (1 sample)"; nlabel="return 202, ${nginx_bytes[post]} B" ;;
      analyze) label="GET /analyze"; nlabel="return 200, ${nginx_bytes[analyze]} B" ;;
      health) label="GET /health"; nlabel="return 200, ${nginx_bytes[health]} B" ;;
      batch) label="POST /metrics (batch of 100)"; nlabel="" ;;
    esac
    if [ -n "$nlabel" ]; then
      for c in "${conn_counts[@]}"; do
        key="nginx_${route}_c$c"
        samples="—"
        [ "$route" != post ] || samples="${rps[$key]}"
        echo "| $label | $nginx_label: $nlabel | $c | ${rps[$key]} | $samples | ${p50[$key]} | ${p99[$key]} | 1.00 | 1.00 | baseline | — |"
      done
    fi
    for threads in 1 2; do
      for c in "${conn_counts[@]}"; do
        key="${route}_t${threads}_c$c"
        [ -n "${rps[$key]:-}" ] || continue
        nkey="nginx_${route}_c$c"
        samples="—"
        goal="informational"
        result="—"
        if [ "$route" = batch ]; then
          r="—"
          pr="—"
          samples=$(( ${rps[$key]} * 100 ))
        else
          r="$(ratio "${rps[$key]}" "${rps[$nkey]}")"
          pr="$(ratio "${p99[$key]}" "${p99[$nkey]}")"
          [ "$route" != post ] || samples="${rps[$key]}"
        fi
        if [ "$threads" -eq 1 ] && [ "$c" -eq 64 ]; then
          case "$route" in
            post)
              goal="≥ 0.90 × nginx, p99 ≤ 1.25 × nginx's"
              result="$(verdict "$r" 0.90 "$pr" 1.25)" ;;
            analyze)
              goal="≥ 0.85 × nginx"
              result="$(verdict "$r" 0.85)" ;;
            health)
              goal="≥ 0.90 × nginx"
              result="$(verdict "$r" 0.90)" ;;
            batch)
              goal="≥ 3 M samples/s"
              result="$(awk -v s="$samples" 'BEGIN { print (s >= 3000000) ? "PASS" : sprintf("MISS (%.2f M < 3 M)", s / 1e6) }')" ;;
          esac
        fi
        echo "| $label | $(server_label "$threads") | $c | ${rps[$key]} | $samples | ${p50[$key]} | ${p99[$key]} | $r | $pr | $goal | $result |"
      done
    done
  done
  if [ -n "${rps[post_redis]:-}" ]; then
    echo "| POST /metrics (1 sample), Redis store | $(server_label 1); Redis on CPU 0 | 64 | ${rps[post_redis]} | ${rps[post_redis]} | ${p50[post_redis]} | ${p99[post_redis]} | $(ratio "${rps[post_redis]}" "${rps[nginx_post_c64]}") | $(ratio "${p99[post_redis]}" "${p99[nginx_post_c64]}") | informational: $(ratio "${rps[post_redis]}" "${rps[post_t1_c64]}") × memory store | — |"
  fi
  echo
  echo "Ratios compare a route with nginx's same route at the same connection count (p99 ratio: the service's p99 / nginx's). nginx answers each route with a fixed JSON body as long as the service's answer, measured at the start on a fresh instance (/analyze after 1 001 samples): POST /metrics ${nginx_bytes[post]} B, GET /analyze ${nginx_bytes[analyze]} B (the service's after the THREADS=1 runs: ${analyze_bytes_after:-?} B), GET /health ${nginx_bytes[health]} B. THREADS=2 rows are against the same one-worker nginx on CPU 1 and, sharing CPU 0 with wrk, are informational. The batch row's samples/s is req/s × 100."
  [ -z "${redis_cpu_pct:-}" ] || echo "Redis (on CPU 0 with wrk): ${redis_cpu_pct}% of a CPU during the Redis run; storage after it: ${storage:-?}; state seq in Redis after shutdown: ${written:-?}"
  echo
  echo "| memory | VmRSS MiB | goal | result |"
  echo "|---|---:|---|---|"
  echo "| idle (THREADS=1, once /ready answers) | $(mib "$idle_rss_kib") | ≤ 12 MiB | $(under "$idle_rss_kib" $((12 * 1024))) |"
  if [ -n "$hold_rss_kib" ]; then
    local hold_goal="≤ 64 MiB" hold_result
    hold_result="$(under "$hold_rss_kib" $((64 * 1024)))"
    if [ "$hold_n" -ne 10000 ]; then
      hold_goal="≤ 64 MiB for 10 000 connections"
      hold_result="— (not 10 000 connections)"
    fi
    echo "| $hold_n keep-alive connections held, each after POST /metrics?analysis=true ($hold_samples samples) and GET /metrics (fresh THREADS=1 instance, MAX_CONNECTIONS=$hold_max_connections, idle $(mib "$hold_idle_kib") MiB) | $(mib "$hold_rss_kib") | $hold_goal | $hold_result |"
    echo "| … VmHWM while they are held | $(mib "$hold_hwm_kib") | — | — |"
    echo "| … once the service has closed them | $(mib "$hold_closed_kib") | — | — |"
    echo "| … 5 s after they were closed | $(mib "$hold_after_kib") | ≤ idle + 8 MiB ($(mib $((hold_idle_kib + 8 * 1024))) MiB) | $(under "$hold_after_kib" $((hold_idle_kib + 8 * 1024))) |"
  else
    echo "| $hold_n keep-alive connections held | not measured (see Problems) | ≤ 64 MiB | — |"
  fi
  echo "| peak (VmHWM after the wrk runs, up to $max_conns connections), THREADS=1 | $(mib "${peak_rss_kib[1]}") | — | — |"
  echo "| peak (VmHWM after the wrk runs, up to $max_conns connections), THREADS=2 | $(mib "${peak_rss_kib[2]}") | — | — |"
  if [ -n "$hold_rss_kib" ]; then
    echo
    echo "Held connections: hold_connections.py $hold_ready; a fresh GET /health while they were held: $fresh_desc."
  fi
}

summary="$(table)"
# The allocation counts come from elsewhere (ALLOC_REPORT): included as they are.
alloc_section=""
if [ -n "$alloc_report" ]; then
  if [ -r "$alloc_report" ]; then
    alloc_section="## Allocation counts"$'\n\n'"From \`$alloc_report\`:"$'\n\n'"$(cat -- "$alloc_report")"
  else
    warnings+=("ALLOC_REPORT $alloc_report was no longer readable when the report was written")
  fi
fi
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
  if [ -n "$alloc_section" ]; then
    echo
    echo "$alloc_section"
  fi
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
if [ -n "$alloc_section" ]; then
  echo
  echo "$alloc_section"
fi
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
