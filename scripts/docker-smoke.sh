#!/usr/bin/env bash
# Smoke test of the container image, end to end on a local Docker daemon:
#
#   1. build the image (scripts/build.sh) from a clean clone of HEAD (default), the
#      working tree (--worktree) or any checkout (--context DIR); fail if it is larger
#      than --max-size-mb (100 MB); check its config (user 10001, exec-form ENTRYPOINT,
#      EXPOSE 8080);
#   2. memory store: run it hardened (read-only root, no capabilities,
#      no-new-privileges) on a 127.0.0.1-only published port, poll /health and /ready
#      with deadlines, POST samples, check /analyze and /metrics, check the process
#      runs as uid 10001 and logs JSON, send SIGTERM and see /ready turn 503 during
#      SHUTDOWN_DELAY_MS and the container exit 0 within the grace period;
#   3. Redis store: a Redis container (image built FROM debian:bookworm-slim with
#      apt-get install redis-server: no registry needed) on a user-defined network,
#      password required; POST samples, stop the service (SIGTERM flushes), start a new
#      container with the same INSTANCE_ID and check /analyze shows the same counts and
#      windows, and that the next sample continues the sequence.
# Every container, network and tagged image it creates is removed on exit (trap); the
# build cache (untagged layers) is kept, so the next run is warm, unless --prune-cache. When no daemon answers, it runs
# the script DOCKER_LOCAL_HELPER names, if any (as root: it must start a local dockerd
# and create the debian base images, and stop that daemon when given --stop), and stops
# that daemon again on exit.
#
# Usage: scripts/docker-smoke.sh [--help] [--worktree | --context DIR] [--no-cache]
#                                [--network MODE] [--max-size-mb N] [--keep-daemon]
#                                [--prune-cache]
# Exit status: 0 all checks passed; 1 a check failed (the message says which);
#              2 usage error or missing tools.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/docker-smoke.sh [options]

Builds the metrics-analyzer image and checks it in Docker: size, user, signals,
the HTTP API on the memory store, and state restored from Redis across a
container restart. Cleans up everything it started (the build cache stays).

  --worktree        build from the working tree (uncommitted edits included)
  --context DIR     build from DIR (a checkout with CMakeLists.txt)
                    default: a clean `git clone` of this repository's HEAD
  --no-cache        rebuild every layer (a cold build; base images are kept)
  --network MODE    network for the RUN steps of the builds, e.g. host
  --max-size-mb N   fail when the image is larger than N MB (default 100)
  --keep-daemon     do not stop a dockerd this script had to start
  --prune-cache     also remove the cached layers this run created (the next run
                    is cold again)
  -h, --help        this text

Environment: DOCKER (client, default docker), SMOKE_TIMEOUT (seconds for each
readiness deadline, default 60).
Prints the image size and the time the build and the whole run took.
EOF
}

# --------------------------------------------------------------------- options
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
docker_cmd="${DOCKER:-docker}"
deadline_s="${SMOKE_TIMEOUT:-60}"
mode=clone
context=""
max_mb=100
keep_daemon=0
prune_cache=0
build_opts=()

die_usage() { echo "docker-smoke: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --worktree) mode=worktree; shift ;;
    --context) [ $# -ge 2 ] || die_usage "--context needs a directory"; mode=dir; context="$2"; shift 2 ;;
    --context=*) mode=dir; context="${1#*=}"; shift ;;
    --no-cache) build_opts+=(--no-cache); shift ;;
    --network) [ $# -ge 2 ] || die_usage "--network needs a mode"; build_opts+=(--network "$2"); shift 2 ;;
    --network=*) build_opts+=(--network "${1#*=}"); shift ;;
    --max-size-mb) [ $# -ge 2 ] || die_usage "--max-size-mb needs a number"; max_mb="$2"; shift 2 ;;
    --keep-daemon) keep_daemon=1; shift ;;
    --prune-cache) prune_cache=1; shift ;;
    *) die_usage "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$max_mb" =~ ^[0-9]+$ ]] || die_usage "--max-size-mb: not a number: $max_mb"
for tool in curl git; do command -v "$tool" >/dev/null 2>&1 || die_usage "$tool is required"; done
python=/usr/bin/python3
[ -x "$python" ] || python="$(command -v python3 || true)"
[ -n "$python" ] || die_usage "python3 is required (JSON checks)"

# ------------------------------------------------------------------- plumbing
run_start=$(date +%s)
id="$$-$RANDOM"
tmp="$(mktemp -d)"
image="metrics-analyzer-smoke:$id"
redis_image="metrics-analyzer-smoke-redis:$id"
net="ma-smoke-$id"
containers=()
networks=()
images=()
started_daemon=0
images_before=""
step="setup"

log() { printf '[docker-smoke] %s\n' "$*"; }
fail() {
  printf '[docker-smoke] FAIL (%s): %s\n' "$step" "$*" >&2
  for c in "${containers[@]}"; do
    if "$docker_cmd" container inspect "$c" >/dev/null 2>&1; then
      echo "---- last log lines of $c:" >&2
      "$docker_cmd" logs --tail 15 "$c" 2>&1 | sed 's/^/  /' >&2 || true
    fi
  done
  exit 1
}
cleanup() {
  local rc=$?
  set +e
  for c in "${containers[@]}"; do "$docker_cmd" rm -f "$c" >/dev/null 2>&1; done
  for n in "${networks[@]}"; do "$docker_cmd" network rm "$n" >/dev/null 2>&1; done
  # --no-prune: untag only; the layers stay as build cache for the next (warm) run.
  for i in "${images[@]}"; do "$docker_cmd" rmi --no-prune "$i" >/dev/null 2>&1; done
  if [ "$prune_cache" -eq 1 ] && [ -n "$images_before" ]; then
    # Layers that did not exist when the run started, newest first (children first).
    "$docker_cmd" images -aq --no-trunc | grep -vxF -f "$images_before" \
      | xargs -r "$docker_cmd" rmi >/dev/null 2>&1
  fi
  rm -rf "$tmp"
  if [ "$started_daemon" -eq 1 ] && [ "$keep_daemon" -eq 0 ]; then
    log "stopping the dockerd this run started"
    as_root "$docker_local" --stop >/dev/null 2>&1
  fi
  if [ "$rc" -eq 0 ]; then log "cleaned up"; else log "cleaned up after failure (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# A machine without a running daemon or registry access names its helper (.ci/run does).
docker_local="${DOCKER_LOCAL_HELPER:-}"

# JSON field of stdin by a Python expression over d, e.g. jget 'd["metrics"]["cpu"]'.
jget() { "$python" -c 'import json, sys; d = json.load(sys.stdin); v = eval(sys.argv[1], {"d": d}); print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1"; }
# curl with a bounded time; sets the globals body and http_status (no subshell).
body=""
http_status=""
http() {  # http METHOD URL [DATA]
  local out="$tmp/body"
  rm -f "$out"
  if [ $# -ge 3 ]; then
    http_status=$(curl -sS -m 10 -o "$out" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' --data-binary "$3" "$2") || http_status=000
  else
    http_status=$(curl -sS -m 10 -o "$out" -w '%{http_code}' -X "$1" "$2") || http_status=000
  fi
  body="$(cat "$out" 2>/dev/null || true)"
}
# Poll until URL answers the expected status, within the deadline (no fixed sleeps).
wait_status() {  # wait_status URL STATUS CONTAINER
  local url="$1" want="$2" c="$3" end=$(( $(date +%s) + deadline_s )) got
  while :; do
    got=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url" || true)
    [ "$got" = "$want" ] && return 0
    [ "$("$docker_cmd" inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || fail "container $c exited while waiting for $url"
    [ "$(date +%s)" -lt "$end" ] || fail "$url did not answer $want within ${deadline_s}s (last: $got)"
    sleep 0.1
  done
}
host_port() { "$docker_cmd" port "$1" 8080/tcp | grep -m1 '^127\.0\.0\.1:' | sed 's/.*://'; }
# Samples as a JSON array: N values around a base, the last one a spike.
samples() {  # samples N FIRST_TS
  "$python" -c 'import json, sys
n, t = int(sys.argv[1]), int(sys.argv[2])
out = [{"timestamp": t + i, "cpu": 40 + (i % 7) * 1.5, "rps": 1000 + (i % 5) * 20} for i in range(n - 1)]
out.append({"timestamp": t + n - 1, "cpu": 99.5, "rps": 9000})
print(json.dumps(out))' "$1" "$2"
}
# Stop a container with SIGTERM and require exit code 0 within the grace period.
stop_expect_zero() {  # stop_expect_zero CONTAINER GRACE_S
  local c="$1" grace="$2" t0 code
  t0=$(date +%s.%N)
  "$docker_cmd" kill -s TERM "$c" >/dev/null || fail "docker kill -s TERM $c failed"
  code=$(timeout "$grace" "$docker_cmd" wait "$c") || fail "$c did not exit within ${grace}s of SIGTERM"
  [ "$code" = 0 ] || fail "$c exited with $code after SIGTERM, expected 0"
  log "  SIGTERM -> exit 0 in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"
}

# ------------------------------------------------------------------ 0. daemon
step="docker daemon"
if ! command -v "$docker_cmd" >/dev/null 2>&1 || ! "$docker_cmd" info >/dev/null 2>&1; then
  if [ -z "$docker_local" ] || [ ! -x "$docker_local" ]; then
    fail "no Docker daemon answers (start one, or set DOCKER_LOCAL_HELPER to a script that does)"
  fi
  log "no Docker daemon answers: running $docker_local"
  as_root "$docker_local" || fail "$docker_local failed"
  started_daemon=1
  command -v "$docker_cmd" >/dev/null 2>&1 || docker_cmd=/usr/bin/docker
fi
if ! "$docker_cmd" image inspect debian:bookworm debian:bookworm-slim >/dev/null 2>&1; then
  if [ -z "$docker_local" ] || [ ! -x "$docker_local" ]; then
    fail "images debian:bookworm and debian:bookworm-slim are missing (pull them, or set DOCKER_LOCAL_HELPER)"
  fi
  log "base images missing: running $docker_local"
  as_root "$docker_local" || fail "$docker_local failed"
fi
images_before="$tmp/images-before"
"$docker_cmd" images -aq --no-trunc | sort -u >"$images_before"

# ------------------------------------------------------------------- 1. build
step="build"
case "$mode" in
  worktree) context="$repo"; log "context: the working tree $repo" ;;
  dir) [ -f "$context/CMakeLists.txt" ] || fail "--context $context has no CMakeLists.txt"; log "context: $context" ;;
  clone)
    context="$tmp/src"
    git clone -q "$repo" "$context" || fail "git clone $repo failed"
    log "context: clean clone of HEAD $(git -C "$context" rev-parse --short=12 HEAD)"
    # A HEAD that predates docker/ still builds with this checkout's Dockerfile
    # (build.sh falls back to it) and .dockerignore.
    if [ ! -f "$context/.dockerignore" ] && [ -f "$repo/.dockerignore" ]; then
      cp "$repo/.dockerignore" "$context/.dockerignore"
      log "  (HEAD has no .dockerignore: using the working tree's)"
    fi
    [ -f "$context/docker/Dockerfile" ] || log "  (HEAD has no docker/Dockerfile: using the working tree's)"
    ;;
esac
images+=("$image")
build_start=$(date +%s)
DOCKER="$docker_cmd" "$repo/scripts/build.sh" --context "$context" --no-version-tag "${build_opts[@]}" "$image" \
  >"$tmp/build.log" 2>&1 || { tail -n 30 "$tmp/build.log" >&2; fail "image build failed (log above)"; }
build_s=$(( $(date +%s) - build_start ))
log "built $image in ${build_s}s"

step="image checks"
size=$("$docker_cmd" image inspect -f '{{.Size}}' "$image")
size_mb=$(awk -v s="$size" 'BEGIN{printf "%.1f", s/1000000}')
log "image size: ${size_mb} MB (limit ${max_mb} MB)"
awk -v s="$size" -v m="$max_mb" 'BEGIN{exit !(s <= m*1000000)}' || fail "image is ${size_mb} MB, over the ${max_mb} MB limit"
user=$("$docker_cmd" image inspect -f '{{.Config.User}}' "$image")
[ "$user" = "10001:10001" ] || [ "$user" = "10001" ] || fail "image user is '$user', expected 10001"
entrypoint=$("$docker_cmd" image inspect -f '{{json .Config.Entrypoint}}' "$image")
[ "$entrypoint" = '["/usr/local/bin/metrics-analyzer"]' ] || fail "ENTRYPOINT is $entrypoint, expected the exec form [\"/usr/local/bin/metrics-analyzer\"]"
"$docker_cmd" image inspect -f '{{json .Config.ExposedPorts}}' "$image" | grep -q '"8080/tcp"' || fail "image does not EXPOSE 8080"
version_out=$("$docker_cmd" run --rm "$image" --version) || fail "--version failed"
log "  user $user, entrypoint $entrypoint, EXPOSE 8080, $version_out"

# ------------------------------------------------------- 2. memory store run
step="memory store"
mem="ma-smoke-mem-$id"
containers+=("$mem")
"$docker_cmd" run -d --name "$mem" -p 127.0.0.1::8080 \
  --read-only --cap-drop ALL --security-opt no-new-privileges \
  -e LOG_FORMAT=json -e SHUTDOWN_DELAY_MS=1500 -e SHUTDOWN_TIMEOUT_MS=5000 \
  "$image" >/dev/null || fail "docker run failed"
port=$(host_port "$mem")
[ -n "$port" ] || fail "no 127.0.0.1 port published for 8080"
base="http://127.0.0.1:$port"
"$docker_cmd" port "$mem" 8080/tcp | grep -qv '^127\.0\.0\.1:' && fail "8080 is published beyond loopback"
t_ready=$(date +%s.%N)
wait_status "$base/health" 200 "$mem"
wait_status "$base/ready" 200 "$mem"
log "  ready on $base in $(awk -v a="$t_ready" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"

http POST "$base/metrics" "$(samples 60 1700000000)"
[ "$http_status" = 202 ] || fail "POST /metrics: $http_status $body"
[ "$(jget 'd["accepted"]' <<<"$body")" = 60 ] || fail "POST /metrics accepted: $body"
http POST "$base/metrics" '{"cpu": 150, "rps": 1}'
[ "$http_status" = 400 ] || fail "out-of-range sample answered $http_status, expected 400"
http GET "$base/analyze"
[ "$http_status" = 200 ] || fail "GET /analyze: $http_status"
checks='d["samples_total"] == 60 and d["window_size"] == 50 and d["metrics"]["cpu"]["data_points"] == 50 and d["metrics"]["cpu"]["last"] == 99.5 and d["metrics"]["cpu"]["anomaly"] is True and d["metrics"]["rps"]["anomalies_total"] >= 1 and d["storage"]["backend"] == "memory"'
[ "$(jget "$checks" <<<"$body")" = true ] || fail "/analyze content unexpected: $body"
http GET "$base/metrics"
[ "$http_status" = 200 ] || fail "GET /metrics: $http_status"
grep -q '^analyzer_samples_accepted_total 60$' <<<"$body" || fail "/metrics lacks analyzer_samples_accepted_total 60"
grep -q '^http_requests_total{.*route="/metrics".*status="202".*} 1$' <<<"$body" \
  || grep -q '^http_requests_total{method="POST",route="/metrics",status="202"} 1$' <<<"$body" \
  || fail "/metrics lacks the POST /metrics 202 counter"
grep -q '^analyzer_build_info{' <<<"$body" || fail "/metrics lacks analyzer_build_info"
grep -q '^analyzer_anomalies_total{metric="cpu"} [1-9]' <<<"$body" || fail "/metrics lacks the cpu anomaly count"
log "  POST /metrics, /analyze (60 samples, window 50, spike flagged), /metrics: ok"

uid=$("$docker_cmd" exec "$mem" id -u) || fail "docker exec id -u failed"
[ "$uid" = 10001 ] || fail "exec user is uid $uid, expected 10001"
pid1_uid=$("$docker_cmd" top "$mem" -o pid,uid,comm | awk '$3 ~ /metrics-analyz/ {print $2}')
[ "$pid1_uid" = 10001 ] || fail "the server process runs as uid '$pid1_uid' (docker top), expected 10001"
"$docker_cmd" exec "$mem" sh -c 'touch /probe' 2>/dev/null && fail "root filesystem is writable despite --read-only"
"$docker_cmd" logs "$mem" 2>&1 | head -n 5 | "$python" -c 'import json, sys
lines = [l for l in sys.stdin if l.strip()]
assert lines, "no log lines"
for l in lines: json.loads(l)' || fail "LOG_FORMAT=json logs are not one JSON object per line"
log "  runs as uid 10001 (docker top and exec), read-only root, JSON logs: ok"

# SIGTERM: /ready 503 during SHUTDOWN_DELAY_MS while /health still serves, then exit 0.
"$docker_cmd" kill -s TERM "$mem" >/dev/null
t_term=$(date +%s.%N)
wait_status "$base/ready" 503 "$mem"
[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$base/health")" = 200 ] || fail "/health stopped answering during SHUTDOWN_DELAY_MS"
code=$(timeout 15 "$docker_cmd" wait "$mem") || fail "container did not exit within 15 s of SIGTERM (delay 1.5 s + timeout 5 s)"
[ "$code" = 0 ] || fail "exit code $code after SIGTERM, expected 0"
log "  SIGTERM: /ready 503 while /health 200, exit 0 after $(awk -v a="$t_term" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"

# ---------------------------------------------------------- 3. Redis store run
step="redis image"
images+=("$redis_image")
cat >"$tmp/Dockerfile.redis" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
ENTRYPOINT ["redis-server"]
EOF
redis_build=(build -q -t "$redis_image" -f "$tmp/Dockerfile.redis")
for o in "${build_opts[@]}"; do redis_build+=("$o"); done
"$docker_cmd" "${redis_build[@]}" "$tmp" >"$tmp/redis-build.log" 2>&1 \
  || { tail -n 20 "$tmp/redis-build.log" >&2; fail "building the Redis image failed"; }

step="redis store"
"$docker_cmd" network create "$net" >/dev/null || fail "docker network create failed"
networks+=("$net")
password="smoke-$RANDOM$RANDOM"
redis_c="ma-smoke-redis-$id"
containers+=("$redis_c")
"$docker_cmd" run -d --name "$redis_c" --network "$net" --network-alias redis "$redis_image" \
  --requirepass "$password" --appendonly yes --dir /data --save "" >/dev/null || fail "starting Redis failed"
end=$(( $(date +%s) + deadline_s ))
until [ "$("$docker_cmd" exec -e REDISCLI_AUTH="$password" "$redis_c" redis-cli ping 2>/dev/null)" = PONG ]; do
  [ "$(date +%s)" -lt "$end" ] || fail "Redis did not answer PING within ${deadline_s}s"
  sleep 0.1
done
[ "$("$docker_cmd" exec "$redis_c" redis-cli ping 2>/dev/null)" != PONG ] || fail "Redis answers without the password"

svc_env=(-e LOG_FORMAT=json -e REDIS_ADDR=redis:6379 -e REDIS_PASSWORD="$password" -e INSTANCE_ID=smoke -e SHUTDOWN_TIMEOUT_MS=5000)
start_service() {  # start_service NAME -> sets base
  containers+=("$1")
  "$docker_cmd" run -d --name "$1" --network "$net" -p 127.0.0.1::8080 \
    --read-only --cap-drop ALL --security-opt no-new-privileges "${svc_env[@]}" "$image" >/dev/null \
    || fail "docker run $1 failed"
  base="http://127.0.0.1:$(host_port "$1")"
  wait_status "$base/health" 200 "$1"
  wait_status "$base/ready" 200 "$1"
}
svc_a="ma-smoke-a-$id"
start_service "$svc_a"
http POST "$base/metrics" "$(samples 70 1700001000)"
[ "$http_status" = 202 ] || fail "POST /metrics: $http_status $body"
# Wait until everything is written (pending_writes 0), then remember /analyze.
end=$(( $(date +%s) + deadline_s ))
while :; do
  http GET "$base/analyze"
  before="$body"
  [ "$(jget 'd["storage"]["backend"] == "redis" and d["storage"]["connected"] and d["storage"]["pending_writes"] == 0 and d["samples_total"] == 70' <<<"$before")" = true ] && break
  [ "$(date +%s)" -lt "$end" ] || fail "writes to Redis did not complete within ${deadline_s}s: $before"
  sleep 0.1
done
stop_expect_zero "$svc_a" 20
history_len=$("$docker_cmd" exec -e REDISCLI_AUTH="$password" "$redis_c" redis-cli zcard metrics-analyzer:smoke:g1:samples)
state_seq=$("$docker_cmd" exec -e REDISCLI_AUTH="$password" "$redis_c" redis-cli hget metrics-analyzer:smoke:g1:state seq)
{ [ "$history_len" = 70 ] && [ "$state_seq" = 70 ]; } || fail "Redis holds history $history_len / seq $state_seq, expected 70 / 70"
log "  70 samples persisted: metrics-analyzer:smoke:g1:samples has 70 entries, state seq 70"

svc_b="ma-smoke-b-$id"
start_service "$svc_b"
http GET "$base/analyze"
after="$body"
same=$("$python" -c 'import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for d in (a, b):
    d.pop("timestamp", None); d.pop("storage", None)
print("true" if a == b else "differs:\n  before %s\n  after  %s" % (json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)))' "$before" "$after")
[ "$same" = true ] || fail "/analyze after the restart $same"
http POST "$base/metrics?analysis=true" '{"timestamp": 1700002000, "cpu": 41, "rps": 1010}'
{ [ "$http_status" = 202 ] && [ "$(jget 'd["results"][0]["seq"]' <<<"$body")" = 71 ]; } || fail "the next sample after the restore is not seq 71: $http_status $body"
log "  new container, same INSTANCE_ID: /analyze identical (counts, windows, anomalies), next seq 71"
stop_expect_zero "$svc_b" 20

step="done"
total_s=$(( $(date +%s) - run_start ))
log "PASSED: image ${size_mb} MB, build ${build_s}s, whole run ${total_s}s"
