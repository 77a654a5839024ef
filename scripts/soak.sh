#!/usr/bin/env bash
# Soak test: runs the service under a steady mixed load for SECONDS (ingest POSTs,
# GET /analyze, GET /metrics scrapes), restarts its Redis every ~SECONDS/4, samples the
# service's resident memory (VmRSS) and open fds every second, and judges whether they
# stay flat.
#
# Usage: scripts/soak.sh SECONDS [options]
#   SECONDS               length of the load phase, 10..3600 (required)
#   --binary PATH         the service binary (default build/release/metrics-analyzer);
#                         nothing is built
#   --redis | --no-redis  run with a private redis-server and restart it (default --redis)
#   --rate N              ingest requests per second, 1..20000 (default 800); each
#                         request is one sample or a batch of 5, alternately
#   --analyze-rate N      GET /analyze per second (default 20)
#   --scrape-rate N       GET /metrics per second besides the 1 Hz sampler (default 4)
#   --rss-slack-kib N     allowed RSS growth after the warm-up, KiB (default 4096)
#   --fd-slack N          allowed fd drift, descriptors (default 3)
#   --csv FILE            also write the per-second samples there
#
# Everything runs on 127.0.0.1: the service on a port it picks (PORT=0), redis-server on
# a free port. Both are started by this script, stopped by PID when it ends (trap), and
# killed with it if it dies (PR_SET_PDEATHSIG). The whole run is bounded by
# SECONDS + 180 s.
#
# Verdict (exit 1 when any fails):
#   - the service never crashed and exits 0 on SIGTERM at the end;
#   - no request failed: every POST a 202, every GET a 200, no connection error;
#   - RSS: after the warm-up (the first 20 % of the run), max(RSS) - RSS at the end of
#     the warm-up <= --rss-slack-kib;
#   - fds: after the warm-up, max(fds) - fds at the end of the warm-up <= --fd-slack,
#     and once the load stops the fd count returns to its idle baseline +- --fd-slack;
#   - with Redis: the write queue drains to 0 after the last restart, nothing dropped.
# Exit 2 on a usage error.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$script_dir/.." && pwd)"
readonly script_dir repo_dir
readonly max_seconds=3600

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die_usage() {
  echo "soak.sh: $*" >&2
  echo "run scripts/soak.sh --help for usage" >&2
  exit 2
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

seconds=""
binary="$repo_dir/build/release/metrics-analyzer"
use_redis=1
rate=800
analyze_rate=20
scrape_rate=4
rss_slack_kib=4096
fd_slack=3
csv=""

while (($#)); do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --binary) (($# >= 2)) || die_usage "--binary needs a path"; binary="$2"; shift 2 ;;
    --binary=*) binary="${1#*=}"; shift ;;
    --redis) use_redis=1; shift ;;
    --no-redis) use_redis=0; shift ;;
    --rate) (($# >= 2)) || die_usage "--rate needs a number"; rate="$2"; shift 2 ;;
    --analyze-rate) (($# >= 2)) || die_usage "--analyze-rate needs a number"; analyze_rate="$2"; shift 2 ;;
    --scrape-rate) (($# >= 2)) || die_usage "--scrape-rate needs a number"; scrape_rate="$2"; shift 2 ;;
    --rss-slack-kib) (($# >= 2)) || die_usage "--rss-slack-kib needs a number"; rss_slack_kib="$2"; shift 2 ;;
    --fd-slack) (($# >= 2)) || die_usage "--fd-slack needs a number"; fd_slack="$2"; shift 2 ;;
    --csv) (($# >= 2)) || die_usage "--csv needs a file"; csv="$2"; shift 2 ;;
    -*) die_usage "unknown option $1" ;;
    *)
      [[ -z "$seconds" ]] || die_usage "unexpected argument $1"
      seconds="$1"
      shift
      ;;
  esac
done

[[ -n "$seconds" ]] || die_usage "SECONDS is required"
if ! is_uint "$seconds" || ((seconds < 10 || seconds > max_seconds)); then
  die_usage "SECONDS must be 10..$max_seconds, got '$seconds'"
fi
if ! is_uint "$rate" || ((rate < 1 || rate > 20000)); then die_usage "--rate must be 1..20000"; fi
if ! is_uint "$analyze_rate" || ((analyze_rate > 1000)); then
  die_usage "--analyze-rate must be 0..1000"
fi
if ! is_uint "$scrape_rate" || ((scrape_rate > 100)); then die_usage "--scrape-rate must be 0..100"; fi
is_uint "$rss_slack_kib" || die_usage "--rss-slack-kib must be a number"
is_uint "$fd_slack" || die_usage "--fd-slack must be a number"
[[ -x "$binary" ]] || die_usage "no executable service binary at $binary (build it first, or pass --binary)"
if ((use_redis)) && ! command -v redis-server >/dev/null; then
  die_usage "redis-server not found (install redis-server, or pass --no-redis)"
fi
python=/usr/bin/python3
[[ -x "$python" ]] || python="$(command -v python3)" || die_usage "python3 not found"

work="$(mktemp -d /tmp/soak.XXXXXX)"
readonly work
: >"$work/pids"

# Stops whatever the driver started and is still running, by PID (each line of
# $work/pids: "PID NAME"; the name is checked against /proc/PID/cmdline so a recycled
# PID is never signalled).
# shellcheck disable=SC2317  # cleanup and finish run from the EXIT trap
cleanup() {
  local pid name
  while read -r pid name; do
    [[ -n "$pid" ]] || continue
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"; then
      kill -TERM "$pid" 2>/dev/null || true
      # Waits for it to end, at most 5 s; then SIGKILL.
      timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$work/pids"
}
# shellcheck disable=SC2317
finish() {
  local rc=$?
  cleanup
  if ((rc == 0)); then
    rm -rf "$work"
  else
    echo "soak.sh: logs kept in $work" >&2
  fi
  exit "$rc"
}
# On INT/TERM: stop the driver (it stops its children), then the EXIT trap cleans up.
driver=""
# shellcheck disable=SC2317
on_signal() {
  if [[ -n "$driver" ]]; then
    kill -TERM "$driver" 2>/dev/null || true
    timeout 20 tail --pid="$driver" -f /dev/null 2>/dev/null || kill -KILL "$driver" 2>/dev/null || true
  fi
  exit "$1"
}
trap finish EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

export SOAK_SECONDS="$seconds" SOAK_BINARY="$binary" SOAK_REDIS="$use_redis" \
  SOAK_RATE="$rate" SOAK_ANALYZE_RATE="$analyze_rate" SOAK_SCRAPE_RATE="$scrape_rate" \
  SOAK_RSS_SLACK_KIB="$rss_slack_kib" SOAK_FD_SLACK="$fd_slack" SOAK_WORK="$work" SOAK_CSV="$csv"

# The driver runs in the background so that a signal to this script interrupts `wait`.
timeout --kill-after=10 "$((seconds + 180))" "$python" - <<'PY' &
import http.client
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

SECONDS = int(os.environ["SOAK_SECONDS"])
BINARY = os.environ["SOAK_BINARY"]
USE_REDIS = os.environ["SOAK_REDIS"] == "1"
RATE = int(os.environ["SOAK_RATE"])
ANALYZE_RATE = int(os.environ["SOAK_ANALYZE_RATE"])
SCRAPE_RATE = int(os.environ["SOAK_SCRAPE_RATE"])
RSS_SLACK_KIB = int(os.environ["SOAK_RSS_SLACK_KIB"])
FD_SLACK = int(os.environ["SOAK_FD_SLACK"])
WORK = os.environ["SOAK_WORK"]
CSV = os.environ["SOAK_CSV"]
HOST = "127.0.0.1"

children = {}  # name -> Popen


def log(msg):
    print(msg, flush=True)


def register(pid, name):
    with open(os.path.join(WORK, "pids"), "a") as f:
        f.write(f"{pid} {name}\n")


def spawn(name, argv, env=None, logfile=None):
    out = open(logfile, "ab") if logfile else subprocess.DEVNULL
    # setpriv --pdeathsig: the child dies with this driver, whatever kills it.
    p = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--"] + argv, env=env,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         close_fds=True)
    register(p.pid, name)
    children[name] = p
    return p


def stop_child(p, sig=signal.SIGTERM, grace=10.0):
    if p.poll() is not None:
        return p.returncode
    p.send_signal(sig)
    try:
        return p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait(timeout=5)


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def until(cond, timeout, interval=0.02):
    """Polls cond() until it is true or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)  # polling interval, not a wait for an outcome


# --- redis -------------------------------------------------------------------------
redis_port = None
redis_proc = None


def redis_ping(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(port):
    argv = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", WORK, "--loglevel", "warning"]
    p = spawn("redis-server", argv, logfile=os.path.join(WORK, "redis.log"))
    if until(lambda: p.poll() is not None or redis_ping(port), 10) and p.poll() is None:
        return p
    stop_child(p, signal.SIGKILL)
    return None


# --- the service -------------------------------------------------------------------
def read_proc(pid):
    rss = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])  # KiB
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def get(port, path, timeout=5):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def parse_storage(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or 'backend="redis"' not in line and 'backend="memory"' not in line:
            continue
        name = line.split("{", 1)[0]
        if name.startswith("analyzer_storage_"):
            out[name[len("analyzer_storage_"):]] = float(line.rsplit(" ", 1)[1])
    return out


# --- load --------------------------------------------------------------------------
stop_load = threading.Event()
lock = threading.Lock()
counts = {"ingest": 0, "analyze": 0, "scrape": 0, "fail": 0}
failures = []  # first few failure descriptions
latest_storage = {}


def count(kind, ok, what=""):
    with lock:
        if ok:
            counts[kind] += 1
        else:
            counts["fail"] += 1
            if len(failures) < 20:
                failures.append(f"{kind}: {what}")


def paced_worker(kind, rate, port, make_request, check):
    """Sends make_request() `rate` times a second on a kept-alive connection."""
    if rate <= 0:
        return
    interval = 1.0 / rate
    conn = None
    next_at = time.monotonic()
    while not stop_load.is_set():
        now = time.monotonic()
        if next_at > now:
            time.sleep(next_at - now)  # pacing
        elif now - next_at > 1.0:
            next_at = now  # fell behind by a second: do not burst to catch up
        next_at += interval
        method, path, body = make_request()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            ok, what = check(r.status, data)
            count(kind, ok, what)
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:  # connection reset, timeout, refused: all failures
            count(kind, False, f"{type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


rng = random.Random(7)
rng_lock = threading.Lock()


def sample():
    with rng_lock:
        cpu = min(100.0, max(0.0, rng.gauss(45, 6) + (40 if rng.random() < 0.01 else 0)))
        rps = max(0.0, rng.gauss(1200, 80) + (3000 if rng.random() < 0.01 else 0))
    return {"cpu": round(cpu, 3), "rps": round(rps, 2)}


def make_ingest():
    state = {"batch": False}

    def make():
        state["batch"] = not state["batch"]
        body = [sample() for _ in range(5)] if state["batch"] else sample()
        return "POST", "/metrics", json.dumps(body)

    return make


def check_ingest(status, data):
    if status != 202:
        return False, f"status {status}: {data[:120]!r}"
    try:
        j = json.loads(data)
        return ("accepted" in j), f"body {data[:120]!r}"
    except ValueError:
        return False, f"unparsable 202 body {data[:120]!r}"


def check_analyze(status, data):
    if status != 200:
        return False, f"status {status}: {data[:120]!r}"
    try:
        j = json.loads(data)
        return ("samples_total" in j), "no samples_total"
    except ValueError:
        return False, "unparsable /analyze"


def check_scrape(status, data):
    if status != 200:
        return False, f"status {status}"
    return (b"analyzer_samples_accepted_total" in data), "scrape without analyzer_samples_accepted_total"


# --- main --------------------------------------------------------------------------
def main():
    global redis_port, redis_proc
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("SOAK_"):
            del env[k]
    env.update({"BIND_ADDR": HOST, "PORT": "0", "THREADS": "2", "LOG_LEVEL": "info",
                "INSTANCE_ID": f"soak-{os.getpid()}", "SHUTDOWN_TIMEOUT_MS": "10000"})
    if USE_REDIS:
        for _ in range(8):
            redis_port = free_port()
            redis_proc = start_redis(redis_port)
            if redis_proc:
                break
        if not redis_proc:
            log("FAIL: redis-server did not start")
            return 1
        env["REDIS_ADDR"] = f"{HOST}:{redis_port}"

    service_log = os.path.join(WORK, "service.log")
    svc = spawn("metrics-analyzer", [BINARY], env=env, logfile=service_log)
    port = None

    def listening():
        nonlocal port
        with open(service_log, errors="replace") as f:
            m = re.search(r"listening on [^ ]*:(\d+) ", f.read())
        if m:
            port = int(m.group(1))
        return port is not None or svc.poll() is not None

    if not until(listening, 30) or port is None:
        log(f"FAIL: the service did not start (see {service_log})")
        return 1

    def ready():
        try:
            return get(port, "/ready", 2)[0] == 200
        except OSError:
            return False

    if not until(ready, 30):
        log("FAIL: the service never turned ready")
        return 1
    pid = svc.pid
    idle_rss, idle_fds = read_proc(pid)
    log(f"soak: {SECONDS} s against {BINARY} (pid {pid}, port {port}), "
        f"redis {'127.0.0.1:%d' % redis_port if USE_REDIS else 'off'}; ingest {RATE} req/s "
        f"(1 or 5 samples), /analyze {ANALYZE_RATE}/s, /metrics {SCRAPE_RATE}/s + 1/s; "
        f"idle RSS {idle_rss} KiB, {idle_fds} fds")

    workers = []
    ingest_threads = max(1, min(8, math.ceil(RATE / 400)))
    for i in range(ingest_threads):
        workers.append(threading.Thread(target=paced_worker, daemon=True, args=(
            "ingest", RATE / ingest_threads, port, make_ingest(), check_ingest)))
    workers.append(threading.Thread(target=paced_worker, daemon=True, args=(
        "analyze", ANALYZE_RATE, port, lambda: ("GET", "/analyze", None), check_analyze)))
    workers.append(threading.Thread(target=paced_worker, daemon=True, args=(
        "scrape", SCRAPE_RATE, port, lambda: ("GET", "/metrics", None), check_scrape)))
    for w in workers:
        w.start()

    # The table, printed as the run goes: every second up to 60 s, then ~60 rows in all,
    # plus every row with an event or a failure.
    stride = max(1, math.ceil(SECONDS / 60))
    log(f"{'t(s)':>5} {'RSS(MiB)':>9} {'fds':>4} {'req/s':>6} {'ingest/s':>8} {'fail':>4} "
        f"{'pending':>8} {'redis':>5}  event")

    def print_row(r):
        pend = "-" if math.isnan(r["pending"]) else f"{r['pending']:.0f}"
        conn = "-" if math.isnan(r["connected"]) else ("up" if r["connected"] == 1 else "down")
        log(f"{r['t']:>5} {r['rss_kib'] / 1024:>9.2f} {r['fds']:>4} {r['req_s']:>6} "
            f"{r['ingest_s']:>8} {r['fail']:>4} {pend:>8} {conn:>5}  {r['event']}")

    # Redis restarts at SECONDS/4, /2, 3/4: down for a moment (a SIGTERM, then a SIGKILL,
    # then a SIGTERM), then back on the same port, empty.
    restart_at = [SECONDS * k / 4 for k in (1, 2, 3)] if USE_REDIS else []
    outage = min(2.0, max(0.5, SECONDS / 40))
    restarts = 0
    down_since = None
    rows = []
    crashed = False
    started = time.monotonic()
    last = dict(counts)
    tick = 0
    while True:
        tick += 1
        target = started + tick
        now = time.monotonic()
        if target > now:
            time.sleep(target - now)  # the 1 Hz sampling clock
        elapsed = time.monotonic() - started
        event = ""
        if svc.poll() is not None:
            crashed = True
            log(f"FAIL: the service exited with {svc.returncode} at t={elapsed:.0f}s")
            break
        if restart_at and down_since is None and elapsed >= restart_at[0]:
            restart_at.pop(0)
            sig = signal.SIGKILL if restarts % 2 == 1 else signal.SIGTERM
            stop_child(redis_proc, sig)
            down_since = time.monotonic()
            event = f"redis {signal.Signals(sig).name}"
        elif down_since is not None and time.monotonic() - down_since >= outage:
            redis_proc = None
            for _ in range(50):
                redis_proc = start_redis(redis_port)
                if redis_proc:
                    break
            if not redis_proc:
                log("FAIL: redis-server did not restart on its port")
                crashed = True
                break
            restarts += 1
            down_since = None
            event = "redis back"
        try:
            rss, fds = read_proc(pid)
        except OSError:
            crashed = True
            log(f"FAIL: /proc/{pid} vanished at t={elapsed:.0f}s")
            break
        storage = {}
        try:
            status, body = get(port, "/metrics", 5)
            if status == 200:
                storage = parse_storage(body.decode(errors="replace"))
            count("scrape", status == 200, f"sampler scrape status {status}")
        except OSError as e:
            count("scrape", False, f"sampler scrape: {e}")
        with lock:
            now_counts = dict(counts)
        delta = {k: now_counts[k] - last[k] for k in now_counts}
        last = now_counts
        rows.append({"t": tick, "rss_kib": rss, "fds": fds,
                     "req_s": delta["ingest"] + delta["analyze"] + delta["scrape"],
                     "ingest_s": delta["ingest"], "fail": delta["fail"],
                     "pending": storage.get("pending_writes", float("nan")),
                     "connected": storage.get("connected", float("nan")),
                     "dropped": storage.get("dropped_writes_total", float("nan")),
                     "event": event})
        if tick % stride == 0 or event or rows[-1]["fail"] or tick >= SECONDS:
            print_row(rows[-1])
        if tick >= SECONDS:
            break

    stop_load.set()
    for w in workers:
        w.join(timeout=15)

    verdict = []
    ok = not crashed
    if crashed:
        verdict.append("the service crashed or a restart failed")
    drained = True
    final_storage = {}
    if not crashed and USE_REDIS:
        if down_since is not None:  # the run ended during an outage: bring Redis back
            redis_proc = start_redis(redis_port)

        def drained_now():
            nonlocal final_storage
            try:
                status, body = get(port, "/metrics", 5)
                final_storage = parse_storage(body.decode(errors="replace"))
            except OSError:
                return False
            return final_storage.get("pending_writes") == 0 and final_storage.get("connected") == 1

        drained = until(drained_now, 30, 0.2)
    final_fds = None
    if not crashed:
        # The load's connections close asynchronously: poll for the idle fd count.
        def fds_idle():
            nonlocal final_fds
            final_fds = read_proc(pid)[1]
            return abs(final_fds - idle_fds) <= FD_SLACK

        until(fds_idle, 10, 0.1)

    # --- the table -----------------------------------------------------------------
    csv_text = "t,rss_kib,fds,req_s,ingest_s,fail,pending,connected,dropped,event\n" + "".join(
        f"{r['t']},{r['rss_kib']},{r['fds']},{r['req_s']},{r['ingest_s']},{r['fail']},"
        f"{r['pending']},{r['connected']},{r['dropped']},{r['event']}\n" for r in rows)
    with open(os.path.join(WORK, "soak.csv"), "w") as f:
        f.write(csv_text)
    if CSV:
        with open(CSV, "w") as f:
            f.write(csv_text)

    # --- the verdict ---------------------------------------------------------------
    with lock:
        total = dict(counts)
    if rows:
        warm = max(1, math.ceil(len(rows) * 0.2))
        base = rows[warm - 1]
        after = rows[warm - 1:]
        max_rss = max(r["rss_kib"] for r in after)
        max_fds = max(r["fds"] for r in after)
        growth = max_rss - base["rss_kib"]
        # the last quarter of the run, reported: a plateau there means growth has stopped
        last_quarter = rows[-max(1, len(rows) // 4):]
        lq_min = min(r["rss_kib"] for r in last_quarter)
        lq_max = max(r["rss_kib"] for r in last_quarter)
        rss_ok = growth <= RSS_SLACK_KIB
        fd_ok = max_fds - base["fds"] <= FD_SLACK
        log(f"RSS: idle {idle_rss} KiB, at warm-up end (t={base['t']}s) {base['rss_kib']} KiB, "
            f"max after {max_rss} KiB, growth {growth} KiB (limit {RSS_SLACK_KIB}); "
            f"last quarter {lq_min}..{lq_max} KiB -> {'flat' if rss_ok else 'GROWING'}")
        log(f"fds: idle {idle_fds}, at warm-up end {base['fds']}, max after {max_fds} "
            f"(limit +{FD_SLACK}), after the load {final_fds} -> "
            f"{'flat' if fd_ok and final_fds is not None and abs(final_fds - idle_fds) <= FD_SLACK else 'DRIFTING'}")
        if not rss_ok:
            ok = False
            verdict.append(f"RSS grew {growth} KiB after the warm-up")
        if not fd_ok:
            ok = False
            verdict.append(f"fds grew by {max_fds - base['fds']} after the warm-up")
        if final_fds is None or abs(final_fds - idle_fds) > FD_SLACK:
            ok = False
            verdict.append(f"fds after the load {final_fds}, idle baseline {idle_fds}")
        mean_rate = sum(r["req_s"] for r in rows) / len(rows)
        log(f"requests: {total['ingest']} ingest, {total['analyze']} analyze, {total['scrape']} "
            f"scrapes ({mean_rate:.0f} req/s), {total['fail']} failed")
    if total["fail"]:
        ok = False
        verdict.append(f"{total['fail']} failed requests: " + "; ".join(failures[:5]))
    if USE_REDIS and not crashed:
        log(f"redis: {restarts} restarts; at the end pending {final_storage.get('pending_writes')}, "
            f"connected {final_storage.get('connected')}, written {final_storage.get('written_total')}, "
            f"dropped {final_storage.get('dropped_writes_total')}, "
            f"reconnects {final_storage.get('reconnects_total')}")
        if not drained:
            ok = False
            verdict.append("the Redis queue did not drain after the last restart")
        if final_storage.get("dropped_writes_total", 0) != 0:
            ok = False
            verdict.append("samples dropped at REDIS_QUEUE_LIMIT")
    if not crashed:
        t0 = time.monotonic()
        code = stop_child(svc, signal.SIGTERM, 20)
        log(f"service: SIGTERM -> exit {code} in {time.monotonic() - t0:.2f} s")
        if code != 0:
            ok = False
            verdict.append(f"exit code {code} after SIGTERM")
    log(("PASS: " if ok else "FAIL: ") + ("RSS and fds flat, no failed request, clean exit"
                                          if ok else "; ".join(verdict)))
    return 0 if ok else 1


def on_term(signum, frame):
    raise SystemExit(128 + signum)  # runs the cleanup below


signal.signal(signal.SIGTERM, on_term)
rc = 1
try:
    rc = main()
finally:
    stop_load.set()
    for name, p in children.items():
        if p.poll() is None:
            stop_child(p, signal.SIGTERM, 10)
    if redis_proc is not None and redis_proc.poll() is None:
        stop_child(redis_proc, signal.SIGTERM, 10)
sys.exit(rc)
PY
driver=$!
set +e
wait "$driver"
rc=$?
set -e
driver=""
if ((rc == 124 || rc == 137)); then
  echo "soak.sh: the run exceeded its time bound ($((seconds + 180)) s)" >&2
  rc=1
fi
exit "$rc"
